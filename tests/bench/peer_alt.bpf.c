// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Standalone experiment: what the per-peer count of a SYN costs under
 * different table designs, on the same key (struct sw_peer_key from the ABI
 * header) and the same frame (Ethernet + IPv6 + TCP SYN). Nothing here is
 * used by synwatch; tests/bench/xdp_bench.cc runs each program through
 * BPF_PROG_TEST_RUN and subtracts alt_key_only (key building and the source
 * advance) to get the cost of the table operation alone.
 *
 * When "advance" is set, every program finishes by incrementing source
 * bytes 4..7 (the /64 a peer key keeps), so each repeat is a new peer.
 */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "synwatch.h"

#define PEERS 65536
#define SKETCH_SLOTS 65536 /* power of two */
#define ADMIT_AFTER 2	   /* a peer is admitted on its second SYN */
#define SRC6_OFF 22	   /* Ethernet (14) + offset of saddr in ipv6hdr (8) */

__u32 advance = 1;
__u64 failures;

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PEERS);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} lru_percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PEERS);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} lru_percpu_nocommon SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PEERS);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} lru_shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PEERS);
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} lru_shared_nocommon SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, PEERS);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} hash_noevict SEC(".maps");

/* Doorkeeper in front of the LRU (as in TinyLFU): an array of key
 * fingerprints indexed by a hash of the key. A peer enters the LRU on a SYN
 * that finds its own fingerprint (its second SYN, unless another source took
 * the slot in between) and starts at 2; a spoofed source, seen once, only
 * overwrites a slot. Shared, not per CPU: a peer's SYNs may land on
 * different CPUs, and a racy overwrite only delays an admission. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, PEERS);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} admitted SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SKETCH_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} sketch SEC(".maps");

/* Builds the key of the frame's source /64; returns 0, or -1 when the frame
 * is shorter than the harness frame. */
static __always_inline int peer_key(struct xdp_md *ctx, struct sw_peer_key *key)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u8 *src = data + SRC6_OFF;

	if ((void *)(src + 16) > data_end)
		return -1;
	__builtin_memcpy(key->addr, src, 8);
	key->ifindex = ctx->ingress_ifindex;
	key->family = SW_FAMILY_IPV6;
	key->prefix_len = 64;
	key->outcome = SW_OUTCOME_UNMATCHED;
	key->action = SW_ACTION_PASS;
	return 0;
}

static __always_inline int finish(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	__u32 *word = data + SRC6_OFF + 4;

	if (advance && (void *)(word + 1) <= data_end)
		*word = bpf_htonl(bpf_ntohl(*word) + 1);
	return XDP_PASS;
}

/* synwatch's count_peer(): lookup, insert on a miss, retry on a race. */
static __always_inline void count_lookup_insert(void *map, const struct sw_peer_key *key,
						int atomic)
{
	__u64 one = 1;
	__u64 *cnt;
	long err;

	cnt = bpf_map_lookup_elem(map, key);
	if (cnt) {
		if (atomic)
			__sync_fetch_and_add(cnt, 1);
		else
			*cnt += 1;
		return;
	}
	err = bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
	if (err == -EEXIST) {
		cnt = bpf_map_lookup_elem(map, key);
		if (cnt) {
			__sync_fetch_and_add(cnt, 1);
			return;
		}
	}
	if (err)
		failures++;
}

SEC("xdp")
int alt_key_only(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	/* Keep the key alive so the work above is not optimised away. */
	asm volatile("" : : "r"(&key) : "memory");
	return finish(ctx);
}

SEC("xdp")
int alt_lookup_only(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};
	__u64 *cnt;

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	cnt = bpf_map_lookup_elem(&lru_percpu, &key);
	if (cnt)
		*cnt += 1;
	return finish(ctx);
}

SEC("xdp")
int alt_lru_percpu(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	count_lookup_insert(&lru_percpu, &key, 0);
	return finish(ctx);
}

SEC("xdp")
int alt_lru_percpu_nocommon(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	count_lookup_insert(&lru_percpu_nocommon, &key, 0);
	return finish(ctx);
}

SEC("xdp")
int alt_lru_shared(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	count_lookup_insert(&lru_shared, &key, 1);
	return finish(ctx);
}

SEC("xdp")
int alt_lru_shared_nocommon(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	count_lookup_insert(&lru_shared_nocommon, &key, 1);
	return finish(ctx);
}

SEC("xdp")
int alt_hash_noevict(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	count_lookup_insert(&hash_noevict, &key, 0);
	return finish(ctx);
}

static __always_inline __u32 key_hash(const struct sw_peer_key *key)
{
	const __u32 *w = (const __u32 *)key;
	/* Multiply-xorshift over the words that vary (ifindex and the /64);
	 * enough to spread sources over the slots, cheaper than jhash. */
	__u32 h = w[0] * 0x9e3779b1U;

	h ^= w[2] * 0x85ebca77U;
	h ^= w[3] * 0xc2b2ae3dU;
	h ^= h >> 15;
	h *= 0x27d4eb2fU;
	h ^= h >> 13;
	return h | 1; /* 0 marks a free slot */
}

SEC("xdp")
int alt_admit(struct xdp_md *ctx)
{
	struct sw_peer_key key = {};
	__u64 start = ADMIT_AFTER;
	__u32 h, slot, *fp;
	__u64 *cnt;

	if (peer_key(ctx, &key) < 0)
		return XDP_ABORTED;
	cnt = bpf_map_lookup_elem(&admitted, &key);
	if (cnt) {
		*cnt += 1;
		return finish(ctx);
	}
	h = key_hash(&key);
	slot = h & (SKETCH_SLOTS - 1);
	fp = bpf_map_lookup_elem(&sketch, &slot);
	if (!fp)
		return finish(ctx);
	if (*fp != h) {
		*fp = h;
		return finish(ctx);
	}
	*fp = 0;
	if (bpf_map_update_elem(&admitted, &key, &start, BPF_NOEXIST))
		failures++;
	return finish(ctx);
}

/* The rule lookup alone: synwatch's LPM trie (same definition, same entries
 * written by user space), on the source of an IPv4 or IPv6 frame. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SW_RULES_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sw_rule_key);
	__type(value, struct sw_rule_value);
} rules SEC(".maps");

SEC("xdp")
int alt_rule_lookup(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct sw_rule_key key = {};

	if (data + 14 + 40 > data_end)
		return XDP_ABORTED;
	if (*(__u16 *)(data + 12) == bpf_htons(ETH_P_IP)) {
		key.prefixlen = 32 + 32;
		key.family = SW_FAMILY_IPV4;
		__builtin_memcpy(key.addr, data + 14 + 12, 4);
	} else {
		key.prefixlen = 32 + 128;
		key.family = SW_FAMILY_IPV6;
		__builtin_memcpy(key.addr, data + SRC6_OFF, 16);
	}
	return bpf_map_lookup_elem(&rules, &key) ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
