// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The bound of any XDP drop in the veth flood: a program that drops every
 * frame and looks at none. The flood sends only SYNs from the denied range,
 * so this does the drop configurations' job at no cost of its own. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int xdp_drop_all(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
