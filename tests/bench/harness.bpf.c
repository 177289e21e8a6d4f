// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark harness: BPF_PROG_TEST_RUN repeats one frame, so to measure "a
 * new peer every packet" these programs change the frame in place (the
 * kernel does not restore it between repeats) and then tail-call the program
 * under test (slot 0 of "target"): synwatch's xdp_synwatch, or the floor to
 * measure what the harness itself costs.
 *
 * Offsets are fixed by the frames tests/bench/xdp_bench.cc builds: Ethernet
 * (14) + IPv6, whose source bytes 4..7 (the /64 bits a peer key keeps) sit at
 * frame offset 26; Ethernet + IPv4 (20) + TCP, whose destination port sits at
 * frame offset 36.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define SRC6_WORD_OFF 26
#define DPORT4_OFF 36

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} target SEC(".maps");

/* Next /64: big-endian increment of source bytes 4..7, so sources stay in
 * 2001:db8::/32 and count up from where user space started them. */
SEC("xdp")
int xdp_next_src6(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 *word = data + SRC6_WORD_OFF;

	if ((void *)(word + 1) > data_end)
		return XDP_ABORTED;
	*word = bpf_htonl(bpf_ntohl(*word) + 1);
	bpf_tail_call(ctx, &target, 0);
	return XDP_ABORTED;
}

/* Next destination port (a port scan from one IPv4 source). */
SEC("xdp")
int xdp_next_dport4(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u16 *port = data + DPORT4_OFF;

	if ((void *)(port + 1) > data_end)
		return XDP_ABORTED;
	*port = bpf_htons(bpf_ntohs(*port) + 1);
	bpf_tail_call(ctx, &target, 0);
	return XDP_ABORTED;
}

/* The same frame every time, through the same tail call: what the tail call
 * alone costs on top of the program under test. */
SEC("xdp")
int xdp_same(struct xdp_md *ctx)
{
	bpf_tail_call(ctx, &target, 0);
	return XDP_ABORTED;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
