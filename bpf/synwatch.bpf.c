// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_synwatch: classifies every frame, decides and counts TCP connection
 * attempts (SYN set, ACK clear). Everything that is not a SYN passes after
 * one per-CPU counter increment, so established traffic is never cut and
 * pays almost nothing.
 */
#include <linux/bpf.h>
#include <linux/errno.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "synwatch.h"
#include "parsing.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_IF_STATS_ENTRIES);
	__type(key, __u32);
	__type(value, struct sw_if_stats);
} if_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SW_RULES_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sw_rule_key);
	__type(value, struct sw_rule_value);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, SW_DEFAULT_PEER_ENTRIES);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} peers SEC(".maps");

/* Where a SYN came from; saddr points into the packet (already bounds
 * checked), read only once the packet is known to be a SYN. */
struct syn_source {
	const void *saddr;
	__u8 family;
};

static __always_inline int classify_tcp(struct hdr_cursor *nh, void *data_end, const void *saddr,
					__u8 family, struct syn_source *src)
{
	struct tcphdr *tcph;

	if (parse_tcphdr(nh, data_end, &tcph) < 0)
		return SW_CLASS_MALFORMED;
	/* ECE, CWR, PSH, ... do not make a SYN any less of a new connection. */
	if (!tcph->syn || tcph->ack)
		return SW_CLASS_TCP_OTHER;
	/* Only a SYN needs its source; other classes leave src untouched. */
	src->saddr = saddr;
	src->family = family;
	return SW_CLASS_SYN;
}

static __always_inline int classify(void *data, void *data_end, struct syn_source *src)
{
	struct hdr_cursor nh = {.pos = data};
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	int proto;

	proto = parse_ethhdr(&nh, data_end);
	if (proto < 0)
		return SW_CLASS_MALFORMED;

	if (proto == bpf_htons(ETH_P_IP)) {
		proto = parse_iphdr(&nh, data_end, &iph);
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		if (proto != IPPROTO_TCP || ip_is_later_fragment(iph))
			return SW_CLASS_OTHER_IP;
		return classify_tcp(&nh, data_end, &iph->saddr, SW_FAMILY_IPV4, src);
	}

	if (proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ip6hdr(&nh, data_end, &ip6h);
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		proto = skip_ip6hdrext(&nh, data_end, proto);
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		/* A later fragment comes back as IPPROTO_FRAGMENT. */
		if (proto != IPPROTO_TCP)
			return SW_CLASS_OTHER_IP;
		return classify_tcp(&nh, data_end, &ip6h->saddr, SW_FAMILY_IPV6, src);
	}

	return SW_CLASS_NON_IP;
}

/* Same probe sequence as PlaceIfindex() in exporter/abi.h. */
static __always_inline __u32 if_slot(const struct sw_config *cfg, __u32 ifindex)
{
	__u32 slot;
	int i;

#pragma unroll
	for (i = 0; i < SW_IF_PROBES; i++) {
		slot = (ifindex + i) & (SW_IF_SLOTS - 1);
		if (cfg->if_slots[slot] == ifindex)
			return slot;
	}
	return SW_IF_UNKNOWN;
}

/* Network-order mask for the 32-bit word that holds address bits
 * [word_bit, word_bit + 32) of a prefix of plen bits. */
static __always_inline __u32 word_mask(__u32 plen, __u32 word_bit)
{
	if (plen >= word_bit + 32)
		return ~0U;
	if (plen <= word_bit)
		return 0;
	return bpf_htonl(~0U << (32 - (plen - word_bit)));
}

static __always_inline void count_peer(struct sw_if_stats *stats, const struct sw_peer_key *key)
{
	__u64 one = 1;
	__u64 *cnt;
	long err;

	cnt = bpf_map_lookup_elem(&peers, key);
	if (cnt) {
		*cnt += 1;
		return;
	}
	err = bpf_map_update_elem(&peers, key, &one, BPF_NOEXIST);
	if (!err)
		return;
	if (err == -EEXIST) {
		/* Another CPU inserted the peer between our lookup and update. */
		cnt = bpf_map_lookup_elem(&peers, key);
		if (cnt) {
			*cnt += 1;
			return;
		}
	}
	stats->peer_insert_failures++;
}

static __always_inline int handle_syn(struct xdp_md *ctx, const struct sw_config *cfg,
				      struct sw_if_stats *stats, const struct syn_source *src)
{
	__u32 gen = cfg->gen & 1;
	const struct sw_params *params = &cfg->params[gen];
	struct sw_rule_key rkey = {};
	struct sw_peer_key pkey = {};
	struct sw_rule_value *rule;
	__u32 addr[4] = {};
	__u32 plen;
	__u8 outcome, action;
	int i;

	rkey.gen = gen;
	rkey.family = src->family;
	if (src->family == SW_FAMILY_IPV4) {
		__builtin_memcpy(addr, src->saddr, 4);
		rkey.prefixlen = 32 + 32;
		plen = params->ipv4_prefix_len;
		if (plen > 32)
			plen = 32;
	} else {
		__builtin_memcpy(addr, src->saddr, 16);
		rkey.prefixlen = 32 + 128;
		plen = params->ipv6_prefix_len;
		if (plen > 128)
			plen = 128;
	}
	__builtin_memcpy(rkey.addr, addr, sizeof(addr));

	/*
	 * User space folded allow over deny, so the longest match decides.
	 * Anything but "allowed" in a rule value reads as "denied": the
	 * outcome indexes the counters and must stay in range.
	 */
	rule = bpf_map_lookup_elem(&rules, &rkey);
	if (rule && rule->outcome == SW_OUTCOME_ALLOWED)
		outcome = SW_OUTCOME_ALLOWED;
	else if (rule)
		outcome = SW_OUTCOME_DENIED;
	else
		outcome = SW_OUTCOME_UNMATCHED;
	/*
	 * Port-scan blocking goes here: a source that no static rule matched
	 * and that sits in the block table becomes SW_OUTCOME_BLOCKED
	 * (DESIGN.md order: allowed, denied, blocked, unmatched).
	 */

	if (outcome == SW_OUTCOME_DENIED || outcome == SW_OUTCOME_BLOCKED)
		action = SW_ACTION_DROP;
	else if (outcome == SW_OUTCOME_UNMATCHED && params->default_drop)
		action = SW_ACTION_DROP;
	else
		action = SW_ACTION_PASS;
	/* Dry run keeps the outcome: it says what would have happened. */
	if (params->dry_run)
		action = SW_ACTION_PASS;

	stats->syn[outcome][action]++;

#pragma unroll
	for (i = 0; i < 4; i++)
		addr[i] &= word_mask(plen, i * 32);
	pkey.ifindex = ctx->ingress_ifindex;
	pkey.family = src->family;
	pkey.prefix_len = plen;
	pkey.outcome = outcome;
	pkey.action = action;
	__builtin_memcpy(pkey.addr, addr, sizeof(addr));
	count_peer(stats, &pkey);

	return action == SW_ACTION_DROP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_synwatch(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct syn_source src;
	struct sw_if_stats *stats;
	struct sw_config *cfg;
	__u32 key = 0, slot;
	int cls;

	cls = classify(data, data_end, &src);

	cfg = bpf_map_lookup_elem(&config, &key);
	if (!cfg)
		return XDP_PASS;
	slot = if_slot(cfg, ctx->ingress_ifindex);
	stats = bpf_map_lookup_elem(&if_stats, &slot);
	if (!stats)
		return XDP_PASS;
	stats->classes[cls]++;

	if (cls != SW_CLASS_SYN)
		return XDP_PASS;
	return handle_syn(ctx, cfg, stats, &src);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
