// SPDX-License-Identifier: Apache-2.0
// spdlog set-up (text or JSON lines on stderr, for journald) and libbpf's
// own messages routed into it one level down.
#pragma once

#include "config.h"

namespace synwatch {

void SetUpLogging(LogFormat format, LogLevel level);
void SetLogLevel(LogLevel level);

}  // namespace synwatch
