// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The frame source of the benchmark's flood (tools/frame_flood.cc): run by
 * BPF_PROG_RUN in live-frames mode, it stamps the next source of the pool on
 * an IPv6 SYN, fixes the TCP checksum and redirects the frame out of the
 * client's veth. The server's veth receives it as an XDP frame, the way a NIC
 * driver hands a page to a native XDP program: no socket buffer exists until
 * after the program has run. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* Set by the loader. */
const volatile __u32 out_ifindex;
const volatile __u32 pool_size = 1;
const volatile __u32 first_source; /* source bytes 4..7, host order */
/* One's complement sum (folded to 16 bits) of the TCP checksum's inputs
 * with source bytes 4..7 and the checksum field zero. */
const volatile __u32 partial_sum;

__u32 next_index;

/* Offsets in an untagged Ethernet + IPv6 + TCP frame. */
#define SOURCE_WORD_OFF (14 + 8 + 4)
#define TCP_CHECK_OFF (14 + 40 + 16)
#define FRAME_MIN (14 + 40 + 20)

SEC("xdp")
int frame_source(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 index = next_index;
	__u32 word, sum;

	if (data + FRAME_MIN > data_end)
		return XDP_ABORTED;
	next_index = index + 1 < pool_size ? index + 1 : 0;
	word = first_source + index;
	*(__be32 *)(data + SOURCE_WORD_OFF) = bpf_htonl(word);
	sum = partial_sum + (word >> 16) + (word & 0xffff);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	*(__be16 *)(data + TCP_CHECK_OFF) = bpf_htons((__u16)~sum);
	return bpf_redirect(out_ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
