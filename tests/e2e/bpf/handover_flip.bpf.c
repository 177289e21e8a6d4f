// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Test only (e2e/dispatcher_test.sh, through handover_chain): an XDP program
 * for a dispatcher chain between two synwatch programs that moves synwatch's
 * "active" word from flip_from to flip_to on every packet it sees, as the
 * store of a hand-over would if it fell while the packet was between them.
 * "active" is synwatch's pinned map, shared by fd; "flips" counts the moves.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} active SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} flips SEC(".maps");

const volatile __u64 flip_from = 0;
const volatile __u64 flip_to = 0;

SEC("xdp")
int xdp_handover_flip(struct xdp_md *ctx)
{
	__u64 *word, *n;
	__u32 key = 0;

	word = bpf_map_lookup_elem(&active, &key);
	if (!word || *word != flip_from)
		return XDP_PASS;
	*word = flip_to;
	n = bpf_map_lookup_elem(&flips, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
