/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SYNWATCH_BPF_PARSING_H_
#define SYNWATCH_BPF_PARSING_H_
#endif
