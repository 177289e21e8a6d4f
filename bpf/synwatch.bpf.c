// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xdp_synwatch: classifies every frame, decides and counts TCP connection
 * attempts (SYN set, ACK clear). Everything that is not a SYN passes after
 * one per-CPU counter increment, so established traffic is never cut and
 * pays almost nothing.
 *
 * A SYN that no static rule matched is checked against the dynamic block
 * table; with port-scan detection on, its destination port is tracked per
 * peer, and a peer with more than max_ports distinct ports in the window
 * goes into the block table and is reported through the "events" ring
 * buffer. With the connection log on, every SYN is reported there too,
 * within a per-CPU rate limit.
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

/*
 * The program of the synwatch that is in charge, by its token
 * (sw_gate_token), for the dispatcher attach mode: there an upgrade attaches
 * the new program beside the old one, stores its token here, then detaches
 * the old one, and only the program whose token is stored counts and acts.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} active SEC(".maps");

/*
 * Nonzero only while user space hands "active" over to another token: the
 * token it is putting in charge (BpfProgram::Activate). Meanwhile the first
 * synwatch program of a packet's chain notes its read of "active" in
 * "handover_note" (struct sw_handover_note, this CPU's entry), so the next
 * one decides on the same read, not a later one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} handover SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_handover_note);
} handover_note SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SW_RULES_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sw_rule_key);
	__type(value, struct sw_rule_value);
} rules SEC(".maps");

/* Fleet decisions (struct sw_decision), written by the CrowdSec bouncer in
 * user space, both sized from crowdsec.max_decisions before load: ranges
 * in "decisions", single addresses in "decision_hosts" (see
 * sw_decision_host). */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SW_DEFAULT_DECISION_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sw_decision_key);
	__type(value, struct sw_decision);
} decisions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SW_DEFAULT_DECISION_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sw_decision_host);
	__type(value, struct sw_decision);
} decision_hosts SEC(".maps");

/* Per slot of "verdicts": raised by user space after each write to the
 * decisions of an address hashing to the slot (all slots for a range), so
 * that the answers cached there stop holding (sw_verdict.dec). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} decision_epochs SEC(".maps");

/* Banned SYNs by the origin of the decision (struct sw_origin_syns). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_ORIGIN_SLOTS);
	__type(key, __u32);
	__type(value, struct sw_origin_syns);
} origin_syns SEC(".maps");

/* The label of each origin slot (struct sw_origin_name): user space's
 * alone, here so that it is pinned and carried over with the counters. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_ORIGIN_SLOTS);
	__type(key, __u32);
	__type(value, struct sw_origin_name);
} origin_names SEC(".maps");

/* Per-CPU: filled on a miss by the CPU that missed, so no line bounces. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, struct sw_verdict);
} verdicts SEC(".maps");

/* The verdicts of whole blocks, apart from the sources' so that a flood's
 * sources, each taking a slot in "verdicts", never evict the block entries
 * that keep the flood off the trie. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SW_VERDICT_SLOTS);
	__type(key, __u32);
	__type(value, struct sw_verdict);
} verdict_blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, SW_DEFAULT_PEER_ENTRIES);
	__type(key, struct sw_peer_key);
	__type(value, __u64);
} peers SEC(".maps");

/*
 * Doorkeeper of "peers" (as in TinyLFU), used only under flood admission
 * (bpf/synwatch.h): 64-bit fingerprints of peer keys, one per slot, indexed
 * by the fingerprint's top bits. Shared, not per-CPU: RSS spreads one peer's
 * connections over CPUs.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_PEER_ADMIT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} peer_admit SEC(".maps");

/* This CPU's rate of new peers and its flood admission (struct sw_flood). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sw_flood);
} flood SEC(".maps");

/* Shared, not per-CPU: a scanner's SYNs land on every CPU that RSS picks,
 * and only one table sees all of its ports. Slots change by cmpxchg. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SW_DEFAULT_SCAN_TRACK_ENTRIES);
	__type(key, struct sw_scan_key);
	__type(value, struct sw_scan_state);
} scan_track SEC(".maps");

/* Doorkeeper of "scan_track", as peer_admit is of "peers": a peer's first
 * port waits here, and only a second port costs an LRU insert. A flood of
 * spoofed sources, one SYN each, then neither pays for inserts nor evicts
 * the peers that are really being tracked. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_SCAN_ADMIT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} scan_admit SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SW_DEFAULT_BLOCK_ENTRIES);
	__type(key, struct sw_scan_key);
	__type(value, struct sw_block);
} blocked SEC(".maps");

/* Which peers might be blocked (SW_BLOCK_HINT_BITS in bpf/synwatch.h): a
 * tracked SYN whose slot has passed skips the lookup of "blocked", which
 * otherwise misses for every peer that is not a scanner. Shared: a block is
 * written on one CPU and holds on all. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SW_BLOCK_HINT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} block_hint SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SW_RINGBUF_BYTES);
} events SEC(".maps");

/* Token bucket of the connection log, one per CPU so that a SYN flood
 * spread over all CPUs never bounces a shared cache line. credit is in
 * event-nanoseconds: an event costs NSEC_PER_SEC, each nanosecond earns
 * connections_per_second. */
struct conn_bucket {
	__u64 credit;
	__u64 last_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct conn_bucket);
} conn_rate SEC(".maps");

/* Per-CPU room for what does not fit the 512-byte stack: the value a new
 * tracking entry is created from (only slots[0] and [1] are ever written,
 * the rest stay zero), and a detection's snapshot and port list. Its count goes
 * through here too: read back from a map, it is one unknown value to the
 * verifier rather than one path per possible count. */
struct scan_scratch {
	struct sw_scan_state init;
	__u64 snap[SW_SCAN_SLOTS];
	__u16 ports[SW_SCAN_SLOTS + 3];
	__u32 nports;
};

_Static_assert(sizeof(((struct scan_scratch *)0)->ports) == sizeof(((struct sw_event *)0)->ports),
	       "scan_scratch.ports is copied into sw_event.ports");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scan_scratch);
} scan_scratch SEC(".maps");

#define NSEC_PER_MSEC 1000000ULL
#define NSEC_PER_SEC 1000000000ULL

/* A detection claims its snapshot by clearing the lowest fresh slot; a
 * slot that another CPU merely refreshed meanwhile is retried this often
 * before the detection goes ahead regardless (a duplicate report beats a
 * lost one). */
#define SCAN_LEADER_TRIES 4

#ifndef READ_ONCE
#define READ_ONCE(x) (*(const volatile typeof(x) *)&(x))
#endif

/*
 * What a frame that is judged by its source is (handle_syn()). Kinds below
 * ATTEMPT_PROBE are connection attempts: counted as SYNs, in peer series and
 * the connection log.
 */
enum attempt_kind {
	ATTEMPT_SYN = 0,     /* a SYN, its TCP header whole */
	ATTEMPT_SPLIT_FIRST, /* first fragment of a split TCP header, ports visible */
	ATTEMPT_PROBE,	     /* none of SYN, ACK, RST: a NULL, FIN or Xmas probe */
	ATTEMPT_SPLIT_LATER, /* a fragment inside a TCP header, no ports visible */
};

/* What classify() returns for a frame to judge (src says which kind); a
 * class otherwise. */
#define CLASS_JUDGE SW_CLASS_COUNT

/* A judged frame's addresses and ports, copied out of the packet once it is
 * known to be judged, so that later code needs no packet bounds.
 *
 * Written 64 bits at a time: the verdict hash and the copies read them so,
 * and a load that spans several smaller stores is not forwarded from them
 * but waits for them to reach the cache (about 12 ns a SYN here, when
 * IPv4 addresses were written as 32-bit words and the peer key byte by
 * byte; tests/bench/README.md). */
struct syn_source {
	union {
		__u32 saddr[4]; /* network byte order; IPv4 in saddr[0], rest zero */
		__u64 saddr64[2];
	};
	union {
		__u32 daddr[4]; /* likewise */
		__u64 daddr64[2];
	};
	__u16 sport; /* host byte order; 0 when not visible */
	__u16 dport; /* host byte order; 0 when not visible */
	__u8 family;
	__u8 kind; /* enum attempt_kind */
};

/* The 64 bits whose bytes in memory are those of first, then second. */
static __always_inline __u64 u32_pair(__u32 first, __u32 second)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u64)second << 32 | first;
#else
	return (__u64)first << 32 | second;
#endif
}

/* family is a constant in each caller, so its branch folds away. */
static __always_inline void fill_source(struct syn_source *src, const __u32 *saddr,
					const __u32 *daddr, __u8 family, __u8 kind)
{
	__builtin_memset(src, 0, sizeof(*src));
	if (family == SW_FAMILY_IPV4) {
		src->saddr64[0] = u32_pair(saddr[0], 0);
		src->saddr64[1] = 0;
		src->daddr64[0] = u32_pair(daddr[0], 0);
		src->daddr64[1] = 0;
	} else {
		src->saddr64[0] = u32_pair(saddr[0], saddr[1]);
		src->saddr64[1] = u32_pair(saddr[2], saddr[3]);
		src->daddr64[0] = u32_pair(daddr[0], daddr[1]);
		src->daddr64[1] = u32_pair(daddr[2], daddr[3]);
	}
	src->family = family;
	src->kind = kind;
}

#define TCP_FLAGS_BYTE 13 /* CWR ECE URG ACK PSH RST SYN FIN */
#define TCP_F_SYN 0x02
#define TCP_F_RST 0x04
#define TCP_F_ACK 0x10

static __always_inline int classify_tcp(struct hdr_cursor *nh, void *data_end, const __u32 *saddr,
					const __u32 *daddr, __u8 family, struct syn_source *src)
{
	struct tcphdr *tcph;
	__u8 flags, kind;

	if (parse_tcphdr(nh, data_end, &tcph) < 0)
		return SW_CLASS_MALFORMED;
	flags = ((__u8 *)tcph)[TCP_FLAGS_BYTE];
	/* Every segment of a connection after the SYN carries ACK (RFC 9293),
	 * so this is nearly every packet. ECE, CWR, PSH, ... do not make a SYN
	 * any less of a new connection. */
	if (flags & TCP_F_ACK)
		return SW_CLASS_TCP_OTHER;
	if (flags & TCP_F_SYN)
		kind = ATTEMPT_SYN;
	else if (flags & TCP_F_RST) /* a reset without ACK is legitimate */
		return SW_CLASS_TCP_OTHER;
	else
		kind = ATTEMPT_PROBE;
	fill_source(src, saddr, daddr, family, kind);
	src->sport = bpf_ntohs(tcph->source);
	src->dport = bpf_ntohs(tcph->dest);
	return CLASS_JUDGE;
}

/* Longest TCP header (data offset 15): a fragment that starts this far into
 * the transport header or further holds no TCP flags. */
#define TCP_MAX_HDR 60

/*
 * A TCP fragment, offset bytes into the transport header (0: the first),
 * which holds tcp_bytes of it by its IP length (first fragments only: the
 * frame can be padded). A first fragment with the whole TCP header is
 * judged as any segment: returns -1 for the caller to classify it so. One
 * that cuts the header short, and a later one that starts inside a header,
 * split it, which no real stack does (RFC 1858, RFC 7112): the kernel would
 * reassemble whatever they hide, so they are judged by their source. A first
 * one whose ports are visible counts as a connection attempt.
 */
static __always_inline int classify_split(struct hdr_cursor *nh, void *data_end, const __u32 *saddr,
					  const __u32 *daddr, __u8 family, __u32 offset,
					  int tcp_bytes, struct syn_source *src)
{
	struct tcphdr *tcph = nh->pos;
	__be16 *ports = nh->pos;

	if (offset) {
		if (offset >= TCP_MAX_HDR)
			return SW_CLASS_OTHER_IP;
		fill_source(src, saddr, daddr, family, ATTEMPT_SPLIT_LATER);
		return CLASS_JUDGE;
	}
	/* A frame shorter than its IP length is dropped by the kernel. */
	if (tcp_bytes > 0xffff || nh->pos + tcp_bytes > data_end)
		return SW_CLASS_MALFORMED;
	if ((void *)(tcph + 1) <= data_end && tcp_bytes >= (int)sizeof(*tcph) &&
	    tcp_bytes >= tcph->doff * 4)
		return -1;
	if (tcp_bytes < 4 || (void *)(ports + 2) > data_end) {
		/* Not even the ports (the kernel discards such a first IPv4
		 * fragment; it is judged all the same). */
		fill_source(src, saddr, daddr, family, ATTEMPT_SPLIT_LATER);
		return CLASS_JUDGE;
	}
	fill_source(src, saddr, daddr, family, ATTEMPT_SPLIT_FIRST);
	src->sport = bpf_ntohs(ports[0]);
	src->dport = bpf_ntohs(ports[1]);
	return CLASS_JUDGE;
}

/* Furthest header a walk may leave the cursor on: the verifier tracks packet
 * offsets up to 64 KiB, the headers after it included. Only a frame longer
 * than a linear native XDP frame reaches it. */
#define WALK_OFF_MAX 0x7fff

/* No fragment: the fragment offset argument of classify_any()'s tail. */
#define NOT_FRAGMENT 0xffffffff

/*
 * The IP packet at l3_off (EtherType proto, network order) of any frame:
 * IPv4 options and fragments, IPv6 extension headers and fragments.
 *
 * A global function, as classify_any() is: the verifier checks it once, on
 * its own, with l3_off an unknown number, rather than once per number of
 * VLAN tags and again for each path of the decision after it (that took
 * the program past the verifier's million instructions). Each family's
 * branch only finds the TCP header and one tail classifies it, for the same
 * reason.
 */
__noinline int classify_l3(struct xdp_md *ctx, struct syn_source *src, __u32 l3_off, int proto)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh;
	struct hdr_walk walk = {.ctx = ctx}, *w = &walk;
	const __u32 *saddr, *daddr;
	struct ipv6hdr *ip6h;
	struct iphdr *iph;
	__u32 offset = NOT_FRAGMENT;
	int len = 0, r;
	__u8 family;

	if (!src || l3_off > WALK_OFF_MAX)
		return SW_CLASS_MALFORMED;
	nh.pos = data + l3_off;

	if (proto == bpf_htons(ETH_P_IP)) {
		proto = parse_iphdr(&nh, data_end, &iph);
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		if (proto != IPPROTO_TCP)
			return SW_CLASS_OTHER_IP;
		saddr = &iph->saddr;
		daddr = &iph->daddr;
		family = SW_FAMILY_IPV4;
		if (iph->frag_off & bpf_htons(IP_FRAG_MF | IP_FRAG_OFFSET_MASK)) {
			offset = (bpf_ntohs(iph->frag_off) & IP_FRAG_OFFSET_MASK) * 8;
			len = (int)bpf_ntohs(iph->tot_len) - iph->ihl * 4;
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		proto = parse_ip6hdr(&nh, data_end, &ip6h);
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		saddr = ip6h->saddr.in6_u.u6_addr32;
		daddr = ip6h->daddr.in6_u.u6_addr32;
		family = SW_FAMILY_IPV6;
		if (ipv6_is_ext(proto)) {
			/* Extension headers, walked by offset: a fragment
			 * needs them as numbers, and one walk checked once by
			 * the verifier replaces an unrolled one that multiplied
			 * its paths. classify() sends only such frames here. */
			w->off = l3_off + sizeof(*ip6h);
			w->frag = 0;
			w->next = ip6h->nexthdr;
			proto = ip6_ext_walk(w);
			if (proto < 0)
				return SW_CLASS_MALFORMED;
			if (w->off > WALK_OFF_MAX) {
				/* Beyond what a packet pointer reaches: the
				 * source is visible, so judge by it. */
				fill_source(src, saddr, daddr, family, ATTEMPT_SPLIT_LATER);
				return CLASS_JUDGE;
			}
			nh.pos = data + w->off;
			/* The last header ran past the frame. */
			if (nh.pos > data_end)
				return SW_CLASS_MALFORMED;
			if (proto == IPPROTO_FRAGMENT) {
				/* A later fragment; w->next is the first header
				 * of its fragmentable part, which may precede
				 * TCP. */
				if (w->next != IPPROTO_TCP && !ipv6_is_ext(w->next))
					return SW_CLASS_OTHER_IP;
				proto = IPPROTO_TCP;
				offset = w->frag & IP6_FRAG_OFFSET_MASK;
			} else if (w->frag & 1) {
				/* A first fragment. One with offset 0 and no
				 * more (RFC 6946, atomic) is a whole packet. */
				offset = 0;
				len = (int)bpf_ntohs(ip6h->payload_len) -
				      (int)(w->off - l3_off - sizeof(*ip6h));
			}
		}
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		if (proto != IPPROTO_TCP)
			return SW_CLASS_OTHER_IP;
	} else {
		return SW_CLASS_NON_IP;
	}

	if (offset != NOT_FRAGMENT) {
		if (len < 0)
			return SW_CLASS_MALFORMED;
		r = classify_split(&nh, data_end, saddr, daddr, family, offset, len, src);
		if (r >= 0)
			return r;
	}
	return classify_tcp(&nh, data_end, saddr, daddr, family, src);
}

/*
 * Any frame: VLAN tags (any number: Linux strips them all), then
 * classify_l3(). Only frames that are not plain take it (classify()). A
 * global function, so the verifier checks it once and the decision after it
 * once for all its outcomes. src must be zeroed by the caller (a global
 * function's memory argument must be initialised).
 */
__noinline int classify_any(struct xdp_md *ctx, struct syn_source *src)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	struct hdr_cursor nh = {.pos = data};
	struct hdr_walk walk = {.ctx = ctx};
	__u32 l3_off;
	int proto;

	proto = parse_ethhdr(&nh, data_end, &l3_off);
	if (proto < 0)
		return SW_CLASS_MALFORMED;
	if (proto_is_vlan(proto)) {
		/* More tags than the inline walk takes. */
		walk.off = l3_off;
		walk.proto = proto;
		proto = vlan_walk(&walk);
		if (proto < 0)
			return SW_CLASS_MALFORMED;
		l3_off = walk.off;
	}
	if (proto != bpf_htons(ETH_P_IP) && proto != bpf_htons(ETH_P_IPV6))
		return SW_CLASS_NON_IP;
	return classify_l3(ctx, src, l3_off, proto);
}

static __always_inline int classify_slow(struct xdp_md *ctx, struct syn_source *src)
{
	__builtin_memset(src, 0, sizeof(*src));
	return classify_any(ctx, src);
}

/*
 * The IP packet at l3, EtherType h_proto, if it is plain: IPv4 without
 * options, or IPv6 with TCP or a final protocol right after its fixed
 * header. The caller has checked that an IPv4 header fits. Returns a class,
 * CLASS_JUDGE with src filled in, or -1 for any other packet.
 */
static __always_inline int classify_plain(void *l3, void *data_end, __be16 h_proto,
					  struct syn_source *src)
{
	struct ipv6hdr *ip6h = l3;
	struct iphdr *iph = l3;
	struct hdr_cursor nh;

	/* Version 4 and IHL 5 in one byte, as in parse_iphdr(). */
	if (h_proto == bpf_htons(ETH_P_IP) && *(__u8 *)iph == 0x45) {
		if (iph->protocol != IPPROTO_TCP)
			return SW_CLASS_OTHER_IP;
		if (iph->frag_off & bpf_htons(IP_FRAG_MF | IP_FRAG_OFFSET_MASK))
			return -1;
		nh.pos = iph + 1;
		return classify_tcp(&nh, data_end, &iph->saddr, &iph->daddr, SW_FAMILY_IPV4, src);
	}
	if (h_proto == bpf_htons(ETH_P_IPV6) && (void *)(ip6h + 1) <= data_end &&
	    ip6h->version == 6) {
		if (ip6h->nexthdr == IPPROTO_TCP) {
			nh.pos = ip6h + 1;
			return classify_tcp(&nh, data_end, ip6h->saddr.in6_u.u6_addr32,
					    ip6h->daddr.in6_u.u6_addr32, SW_FAMILY_IPV6, src);
		}
		if (!ipv6_is_ext(ip6h->nexthdr))
			return SW_CLASS_OTHER_IP;
	}
	return -1;
}

/*
 * Nearly every frame is a plain IP packet (classify_plain()), untagged or
 * behind one or two VLAN tags. For those, one bounds check covers the
 * Ethernet, tags and IPv4 headers, and the VLAN and extension-header walks
 * are skipped (a non-SYN packet costs about a nanosecond less, a SYN in a
 * VLAN about 8; see tests/bench/README.md). Every other frame, a TCP
 * fragment, and one too short for the check, takes classify_any(), which
 * decides every class alike (and walks any number of tags, as Linux strips
 * them all). Returns a class, or CLASS_JUDGE with src filled in.
 */
static __always_inline int classify(struct xdp_md *ctx, void *data, void *data_end,
				    struct syn_source *src)
{
	struct ethhdr *eth = data;
	struct vlan_hdr *vlh = (void *)(eth + 1);
	void *l3 = eth + 1;
	__be16 h_proto;
	int r;

	if (l3 + sizeof(struct iphdr) > data_end)
		return classify_slow(ctx, src);
	/* As in parse_ethhdr(): one 16-bit load, struct ethhdr is packed. */
	h_proto = ((__be16 *)eth)[6];
	if (!proto_is_vlan(h_proto)) {
		r = classify_plain(l3, data_end, h_proto, src);
		return r < 0 ? classify_slow(ctx, src) : r;
	}
	/* A tag; the IPv4 header check above covers it. */
	h_proto = vlh->h_vlan_encapsulated_proto;
	l3 = vlh + 1;
	if (proto_is_vlan(h_proto)) {
		vlh = l3;
		if ((void *)(vlh + 1) > data_end)
			return classify_slow(ctx, src);
		h_proto = vlh->h_vlan_encapsulated_proto;
		l3 = vlh + 1;
	}
	if (proto_is_vlan(h_proto) || l3 + sizeof(struct iphdr) > data_end)
		return classify_slow(ctx, src);
	r = classify_plain(l3, data_end, h_proto, src);
	return r < 0 ? classify_slow(ctx, src) : r;
}

/* Same probe sequence as PlaceIfindex() in exporter/base/abi.h. */
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

/*
 * The interface slot of this copy of the program. User space loads one copy
 * per interface with the interface's slot set here (read-only data, so the
 * verifier drops the branch that is not taken), and a packet counts under it
 * without a config lookup or an ifindex probe: that was about 1 ns of a
 * non-SYN packet's 7 (tests/bench/README.md). SW_IF_UNKNOWN: the slot is
 * looked up by ingress ifindex, in the copy that BPF_PROG_TEST_RUN and the
 * tests drive.
 */
const volatile __u32 sw_if_slot = SW_IF_UNKNOWN;

/*
 * Non-zero in a program attached through libxdp's dispatcher: it counts and
 * acts only while the active map holds this token, else it passes the packet
 * on down the chain untouched. Zero (direct attach, test runs): always in
 * charge, and the verifier drops the check.
 */
const volatile __u64 sw_gate_token = 0;

/*
 * The token in charge of this packet, for a program with sw_gate_token set.
 * Two synwatch programs share the chain during a hand-over; both must decide
 * on one read of "active", else a packet between them when the word changes
 * is counted by both or by neither. So while "handover" is set, the first of
 * them notes what it read in this CPU's "handover_note", and the next one
 * takes the token from the note (and clears it) instead of reading "active":
 * XDP runs a packet through the whole chain on one CPU, one packet after the
 * other. A note is this packet's when it was written under this hand-over's
 * token, by another program, for the same interface and receive queue; a
 * program that finds none is the first (or the only one) and writes one. The
 * first program clears its note when it ends the chain (forget_note()).
 */
static __always_inline __u64 token_in_charge(struct xdp_md *ctx)
{
	struct sw_handover_note *note;
	__u64 *word, *target, token;
	__u32 key = 0;

	word = bpf_map_lookup_elem(&active, &key);
	if (!word)
		return 0;
	token = *word;
	target = bpf_map_lookup_elem(&handover, &key);
	if (!target || !*target)
		return token;
	note = bpf_map_lookup_elem(&handover_note, &key);
	if (!note)
		return token;
	if (note->target == *target && note->writer != sw_gate_token &&
	    note->ifindex == ctx->ingress_ifindex && note->rx_queue == ctx->rx_queue_index) {
		note->target = 0;
		return note->token;
	}
	note->target = *target;
	note->writer = sw_gate_token;
	note->token = token;
	note->ifindex = ctx->ingress_ifindex;
	note->rx_queue = ctx->rx_queue_index;
	return token;
}

/* A packet that ends here (dropped) meets no later program: its note, if
 * this program wrote one, must not be taken for the next packet's. Returns
 * verdict; nothing at all without sw_gate_token. */
static __always_inline int forget_note(int verdict)
{
	struct sw_handover_note *note;
	__u32 key = 0;

	if (!sw_gate_token || verdict == XDP_PASS)
		return verdict;
	note = bpf_map_lookup_elem(&handover_note, &key);
	if (note)
		note->target = 0;
	return verdict;
}

static __always_inline __u32 ingress_slot(struct xdp_md *ctx)
{
	struct sw_config *cfg;
	__u32 key = 0;

	if (sw_if_slot != SW_IF_UNKNOWN)
		return sw_if_slot;
	cfg = bpf_map_lookup_elem(&config, &key);
	if (!cfg)
		return SW_IF_UNKNOWN;
	return if_slot(cfg, ctx->ingress_ifindex);
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

/* Network-order mask of address bits [bit, bit + 64) of a prefix of plen
 * bits, as the 64 bits that hold them in memory. */
static __always_inline __u64 addr_mask64(__u32 plen, __u32 bit)
{
	if (plen >= bit + 64)
		return ~0ULL;
	if (plen <= bit)
		return 0;
	return bpf_cpu_to_be64(~0ULL << (64 - (plen - bit)));
}

/* The 32 bits whose bytes in memory are b0, b1, b2, b3. */
static __always_inline __u32 u8_quad(__u8 b0, __u8 b1, __u8 b2, __u8 b3)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (__u32)b3 << 24 | (__u32)b2 << 16 | (__u32)b1 << 8 | b0;
#else
	return (__u32)b0 << 24 | (__u32)b1 << 16 | (__u32)b2 << 8 | b3;
#endif
}

/* All 64 bits are compared: another key that lands in the slot passes for
 * the stored one about once in 2^47. Never 0 (a free slot). The six words are
 * multiplied independently, as in sw_scan_fingerprint(), and the fold is one
 * round longer, so that the low bits are mixed too. */
static __always_inline __u64 peer_fingerprint(const struct sw_peer_key *key)
{
	const __u32 *w = (const __u32 *)key;
	__u64 h = sw_word_products(w[0], w[1], w[2], w[3], w[4]) ^ (w[5] * 0xe7037ed1a0b428dbULL);

	_Static_assert(sizeof(*key) == 6 * sizeof(__u32), "a peer key is six words");
	h = sw_fold(h);
	h ^= h >> 29;
	return h | 1;
}

/*
 * Notes a new peer on this CPU; 1 while flood admission holds here. A
 * window over the limit starts admission, or keeps it SW_FLOOD_HOLD_NS
 * longer; it ends by itself once the new peers fall back under the limit.
 */
static __always_inline int flood_admission(const struct sw_params *params)
{
	__u64 limit = params->flood_new_peers, d, n, now, stale, was, over;
	struct sw_flood *f;
	__u32 zero = 0;

	if (!limit)
		return 0;
	f = bpf_map_lookup_elem(&flood, &zero);
	if (!f)
		return 0;
	now = bpf_ktime_get_coarse_ns();
	/*
	 * Without branches: every branch here would multiply the paths the
	 * verifier walks through the rest of handle_syn(). Each flag is the
	 * sign of a difference of values far below 2^63: 1 or 0.
	 */
	d = now - f->window_ns;
	stale = (SW_FLOOD_WINDOW_NS - 1 - d) >> 63; /* a new window begins */
	f->window_ns += d * stale;
	n = f->new_peers * (1 - stale) + 1;
	f->new_peers = n;
	was = (now - f->until_ns) >> 63; /* admission held before this peer */
	over = (limit - n) >> 63;	 /* this window is over the limit */
	f->periods += over & ~was;
	f->until_ns += (now + SW_FLOOD_HOLD_NS - f->until_ns) * over;
	return was | over;
}

/*
 * bpf_map_update_elem()'s result as an int, the way its callers compare it
 * with -EEXIST. Linux 6.1 hands the hash map's int result back without
 * sign-extending it to the helper's 64 bits, so there -EEXIST arrives as
 * 4294967279 and "err == -EEXIST" is false: on that kernel the kernel
 * matrix saw an insert that another CPU had just made counted as a failed
 * one (6 of 300 scanners undetected with two CPUs at once) rather than
 * taken as the race it is. The low 32 bits are the error on every kernel.
 */
static __always_inline int map_update(void *map, const void *key, const void *value, __u64 flags)
{
	return (int)bpf_map_update_elem(map, key, value, flags);
}

/* A SYN in the totals that no peer series counts (see sw_if_stats). */
static __always_inline void count_no_peer(struct sw_if_stats *stats, const struct sw_peer_key *key)
{
	__u8 outcome = key->outcome;

	/* Read back from memory: bounded again for the verifier. */
	if (outcome < SW_OUTCOME_COUNT)
		stats->syn_no_peer[outcome][key->action & 1]++;
}

/*
 * Counts a SYN for a peer that handle_syn() did not find in the table, or
 * (keep_out) one of a denied source that has no cached verdict on this CPU
 * and was not looked up. Such a source stays out of the table while flood
 * admission holds; anything else is looked up (keep_out) and, not found,
 * inserted with a count of 1, so its series counts every SYN from the
 * first, unless flood admission holds on this CPU: then its first SYN only
 * leaves a fingerprint in the doorkeeper, and the SYN that finds it there
 * inserts the peer. A SYN that no series takes is counted in syn_no_peer,
 * so the series and that counter add up to the totals until an eviction.
 *
 * A global function: the verifier checks it once, on its own, rather than
 * once for every path through handle_syn() (three times the instructions
 * when it was inlined). Its pointer arguments may be NULL as far as the
 * verifier knows, and the key is copied to the stack: Linux 6.1 takes no
 * other memory as a map key.
 */
__noinline int sw_count_peer(struct sw_if_stats *stats, const struct sw_params *params,
			     const struct sw_peer_key *peer, int keep_out)
{
	struct sw_peer_key key;
	/* One stack slot for the array key and the new count. */
	union {
		__u32 slot;
		__u64 count;
	} arg;
	__u64 fp = 0, *slot_fp = 0, *cnt;
	int noted = 0;
	long err;

	if (!stats || !params || !peer)
		return 0;
	__builtin_memcpy(&key, peer, sizeof(key));
	if (keep_out) {
		if (flood_admission(params)) {
			count_no_peer(stats, &key);
			return 0;
		}
		noted = 1;
		cnt = bpf_map_lookup_elem(&peers, &key);
		if (cnt) {
			*cnt += 1;
			return 0;
		}
	}
	if (!noted && flood_admission(params)) {
		fp = peer_fingerprint(&key);
		arg.slot = fp >> (64 - SW_PEER_ADMIT_BITS);
		slot_fp = bpf_map_lookup_elem(&peer_admit, &arg.slot);
		if (!slot_fp) {
			count_no_peer(stats, &key);
			return 0;
		}
		if (READ_ONCE(*slot_fp) != fp) {
			*slot_fp = fp;
			count_no_peer(stats, &key);
			return 0;
		}
	}
	arg.count = 1;
	err = map_update(&peers, &key, &arg.count, BPF_NOEXIST);
	if (!err) {
		stats->peer_inserts++;
		/* Cleared only once the entry exists, so that a SYN of the peer
		 * on another CPU either finds the entry or the fingerprint.
		 * Cleared at all so that after an eviction the peer waits at
		 * the door again rather than entering on one SYN. */
		if (slot_fp)
			__sync_val_compare_and_swap(slot_fp, fp, 0);
		return 0;
	}
	if (err == -EEXIST) {
		/* Another CPU inserted the peer between our lookup and update. */
		cnt = bpf_map_lookup_elem(&peers, &key);
		if (cnt) {
			*cnt += 1;
			return 0;
		}
	}
	stats->peer_insert_failures++;
	count_no_peer(stats, &key);
	return 0;
}

/* --- Port scans ------------------------------------------------------- */

/* The port field of a slot is port + 1 in 16 bits, so port 65535 wraps to
 * 0; compare and decode modulo 2^16 (a used slot is never 0 as a whole:
 * its milliseconds since boot are not). */
static __always_inline __u16 slot_tag(__u64 slot)
{
	return slot >> 48;
}

static __always_inline __u16 slot_port(__u64 slot)
{
	return SW_SLOT_PORT(slot);
}

/* Fresh: seen within the window. A free slot (0) is never fresh, and a
 * slot that a CPU with a later clock just wrote is. */
static __always_inline int slot_fresh(__u64 slot, __u64 cutoff_ms)
{
	return SW_SLOT_MS(slot) > cutoff_ms;
}

/* slot_fresh() as 0 or 1 without a branch: both sides are below 2^48, so
 * the difference is negative exactly when the slot is fresh. */
static __always_inline __u32 slot_fresh_bit(__u64 slot, __u64 cutoff_ms)
{
	__u64 d = cutoff_ms - SW_SLOT_MS(slot);

	/* Or clang turns the shift back into a compare and a branch. */
	barrier_var(d);
	return d >> 63;
}

static __always_inline __u64 scan_fingerprint(const struct sw_scan_key *key)
{
	const __u32 *w = (const __u32 *)key;

	_Static_assert(sizeof(*key) == 5 * sizeof(__u32), "a scan key is five words");
	return sw_scan_fingerprint(w[0], w[1], w[2], w[3], w[4]);
}

/* A peer for scan tracking and blocking: its key, and the top half of the
 * key's fingerprint, worked out once per SYN for the hint and the door. */
struct scan_peer {
	struct sw_scan_key key;
	__u32 fp_hi;
};

/* The end of the peer's block, or 0 when it is not blocked. Also fills in
 * sp->fp_hi, whose room holds the hint's slot for the lookup (the key of an
 * array lookup must be on the stack). */
static __always_inline __u64 peer_blocked(struct scan_peer *sp, __u64 now)
{
	__u64 fp = scan_fingerprint(&sp->key);
	struct sw_block *b;
	__u64 *hint, expires;
	int passed;

	sp->fp_hi = SW_BLOCK_HINT_SLOT(fp);
	hint = bpf_map_lookup_elem(&block_hint, &sp->fp_hi);
	passed = hint && now >= READ_ONCE(*hint);
	sp->fp_hi = fp >> 32;
	if (passed)
		return 0;
	b = bpf_map_lookup_elem(&blocked, &sp->key);
	if (!b)
		return 0;
	/* An expired entry just stops blocking; the next detection rewrites it
	 * and the LRU reclaims it, so nothing in user space has to expire it. */
	expires = READ_ONCE(b->expires_ns);
	return now < expires ? expires : 0;
}

/* A hint is raised with compare-and-exchange, retried this often when
 * another CPU raised it in between. Only detections of peers in the same
 * slot write it, so four lost in a row do not happen in practice; if they
 * did, the block would hold only once a later detection raised the hint. */
#define HINT_TRIES 4

/* Before the block is written, so that a CPU that finds the block finds the
 * hint raised too. *slot is room on the stack for the key. */
static __always_inline void raise_block_hint(const struct sw_scan_key *key, __u32 *slot,
					     __u64 expires_ns)
{
	__u64 old, *hint;
	int t;

	*slot = SW_BLOCK_HINT_SLOT(scan_fingerprint(key));
	hint = bpf_map_lookup_elem(&block_hint, slot);
	if (!hint)
		return;
#pragma unroll
	for (t = 0; t < HINT_TRIES; t++) {
		old = READ_ONCE(*hint);
		if (old >= expires_ns || __sync_val_compare_and_swap(hint, old, expires_ns) == old)
			return;
	}
}

/* Whatever the outcome, a record that cannot be reserved is counted, never
 * waited for. */
static __always_inline struct sw_event *reserve_event(struct sw_if_stats *stats)
{
	struct sw_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		stats->events_ring_full++;
	return e;
}

static __always_inline void fill_event(struct sw_event *e, struct xdp_md *ctx,
				       const struct syn_source *src, __u8 type, __u8 outcome,
				       __u8 action)
{
	e->type = type;
	e->family = src->family;
	e->outcome = outcome;
	e->action = action;
	e->ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(e->src, src->saddr, sizeof(e->src));
	__builtin_memcpy(e->dst, src->daddr, sizeof(e->dst));
	e->sport = src->sport;
	e->dport = src->dport;
	e->nports = 0;
	e->pad = 0;
	e->block_ns = 0;
}

/* 1 when a < b, both below 2^63, without a branch (see slot_fresh_bit). */
static __always_inline __u64 less_bit(__u64 a, __u64 b)
{
	__u64 d = a - b;

	barrier_var(d);
	return d >> 63;
}

struct distinct_round {
	struct scan_scratch *sc;
	__u64 cutoff_ms;
	__u64 next; /* smallest port this round may take */
};

/*
 * One round of distinct_ports(): the smallest fresh port at or above next
 * goes into sc->ports[index]. The slot loop has no branch, so the verifier
 * walks it as one path.
 */
static long distinct_round(__u64 index, void *data)
{
	struct distinct_round *d = data;
	struct scan_scratch *sc = d->sc;
	const __u64 none = 0x10000;
	__u64 best = none, p, ok;
	int i;

	for (i = 0; i < SW_SCAN_SLOTS; i++) {
		p = slot_port(sc->snap[i]);
		/* Fresh, at or above next, below best: the new best. */
		ok = slot_fresh_bit(sc->snap[i], d->cutoff_ms) & (less_bit(p, d->next) ^ 1) &
		     less_bit(p, best);
		barrier_var(ok);
		best -= ok * (best - p);
	}
	if (best == none || index >= SW_SCAN_SLOTS)
		return 1;
	sc->ports[index] = best;
	sc->nports = index + 1;
	d->next = best + 1;
	return 0;
}

/*
 * One slot of the search for a free or stale slot. A callback of bpf_loop()
 * rather than a plain loop: clang closes that loop with a fall-through into
 * its header, which Linux before 6.4 (Debian 12's 6.1) rejects as a
 * "back-edge" whatever the capabilities (tests/bpf/cfg_check.py).
 */
struct claim_ctx {
	struct sw_scan_state *st;
	__u64 cutoff_ms;
	__u64 mine;
};

static long claim_free_slot(__u32 i, void *data)
{
	struct claim_ctx *c = data;
	__u64 v;

	if (i >= SW_SCAN_SLOTS)
		return 1;
	v = READ_ONCE(c->st->slots[i]);
	if (slot_fresh(v, c->cutoff_ms))
		return 0;
	return __sync_val_compare_and_swap(&c->st->slots[i], v, c->mine) == v;
}

/*
 * Distinct fresh ports of the snapshot into sc->ports, ascending, and their
 * count into sc->nports: each round takes the smallest port above the
 * previous one, so a port that racing CPUs claimed in two slots is listed
 * (and counted) once. Quadratic, but it only runs once a peer already looks
 * like a scan, and it stops after the last port. bpf_loop() has the verifier
 * check one round instead of every one of 65 x 65 slot visits.
 */
static __always_inline void distinct_ports(struct scan_scratch *sc, __u64 cutoff_ms)
{
	struct distinct_round d = {.sc = sc, .cutoff_ms = cutoff_ms};

	__builtin_memset(sc->ports, 0, sizeof(sc->ports));
	sc->nports = 0;
	bpf_loop(SW_SCAN_SLOTS, distinct_round, &d, 0);
}

/*
 * Among CPUs that detect the same scan at once, the one that clears the
 * lowest fresh slot of its snapshot reports it. A slot that was refreshed
 * (same port, later time) since the snapshot is retried; one that was
 * cleared or now holds another port means another CPU won.
 */
static __always_inline int claim_detection(struct sw_scan_state *st, const __u64 *snap,
					   __u64 cutoff_ms)
{
	__u64 want, old;
	int i, t;

	/* Decided inside the loop: an index carried out of it would be a
	 * precise scalar, and the verifier would walk every value of it. */
	for (i = 0; i < SW_SCAN_SLOTS; i++) {
		want = snap[i];
		if (!slot_fresh(want, cutoff_ms))
			continue;
		for (t = 0; t < SCAN_LEADER_TRIES; t++) {
			old = __sync_val_compare_and_swap(&st->slots[i], want, 0);
			if (old == want)
				return 1;
			if (!slot_fresh(old, cutoff_ms) || slot_tag(old) != slot_tag(want))
				return 0;
			want = old;
		}
		return 1;
	}
	return 0;
}

/* Empties the slots of the detected set so that the next detection needs a
 * full set of its own; a slot claimed since the snapshot keeps its port. */
static __always_inline void clear_detected(struct sw_scan_state *st, const __u64 *snap,
					   __u64 cutoff_ms)
{
	__u64 old;
	int i;

	for (i = 0; i < SW_SCAN_SLOTS; i++) {
		if (!slot_fresh(snap[i], cutoff_ms))
			continue;
		old = __sync_val_compare_and_swap(&st->slots[i], snap[i], 0);
		/* Refreshed meanwhile: still the same port of the same set. */
		if (old != snap[i] && slot_tag(old) == slot_tag(snap[i]))
			__sync_val_compare_and_swap(&st->slots[i], old, 0);
	}
}

/* The tracking window of params at now_ms: slots last seen at or before
 * the cutoff are stale. */
static __always_inline __u64 scan_cutoff_ms(const struct sw_params *params, __u64 now_ms)
{
	/* Rounded up, so that a sub-millisecond window still holds a port. */
	__u64 window_ms = (params->scan_window_ns + NSEC_PER_MSEC - 1) / NSEC_PER_MSEC;

	return now_ms > window_ms ? now_ms - window_ms : 0;
}

static __always_inline __u32 scan_max_ports(const struct sw_params *params)
{
	__u32 max_ports = params->scan_max_ports;

	return max_ports > SW_SCAN_MAX_PORTS ? SW_SCAN_MAX_PORTS : max_ports;
}

/*
 * Slow path: track_port() found more fresh slots than max_ports. Called by
 * handle_syn() rather than from inside track_port(), and it looks up what it
 * needs again (a few instructions each, once per detection), so that its
 * frame and its loops' are not on the stack on top of track_port()'s: the
 * deepest call chain stays within the 512 bytes of Linux 6.1.
 */
static __noinline void detect_scan(struct xdp_md *ctx, const struct sw_scan_key *key,
				   const struct syn_source *src, __u64 now)
{
	const struct sw_params *params;
	struct sw_if_stats *stats;
	struct sw_scan_state *st;
	struct sw_config *cfg;
	struct scan_scratch *sc;
	struct sw_block blk;
	struct sw_event *e;
	__u32 zero = 0, n, hint_slot;
	__u64 block_ns, cutoff_ms;
	int i;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !key || !src)
		return;
	params = &cfg->params[cfg->gen & 1];
	cutoff_ms = scan_cutoff_ms(params, now / NSEC_PER_MSEC);
	hint_slot = ingress_slot(ctx);
	stats = bpf_map_lookup_elem(&if_stats, &hint_slot);
	st = bpf_map_lookup_elem(&scan_track, key);
	sc = bpf_map_lookup_elem(&scan_scratch, &zero);
	if (!stats || !st || !sc)
		return;
	/* One consistent view: the slots keep changing under other CPUs. */
	for (i = 0; i < SW_SCAN_SLOTS; i++)
		sc->snap[i] = READ_ONCE(st->slots[i]);
	distinct_ports(sc, cutoff_ms);
	n = READ_ONCE(sc->nports);
	if (n <= scan_max_ports(params))
		return; /* only duplicates made it look like more */
	if (!claim_detection(st, sc->snap, cutoff_ms))
		return;
	clear_detected(st, sc->snap, cutoff_ms);

	stats->port_scans++;
	block_ns = params->block_ns;
	if (block_ns) {
		blk.expires_ns = now + block_ns;
		blk.detected_ns = now;
		raise_block_hint(key, &hint_slot, blk.expires_ns);
		if (!bpf_map_update_elem(&blocked, key, &blk, BPF_ANY))
			stats->block_inserts++;
	}

	e = reserve_event(stats);
	if (!e)
		return;
	/* The action is what the peer's next SYNs get. */
	fill_event(e, ctx, src, SW_EVENT_SCAN, SW_OUTCOME_UNMATCHED,
		   block_ns && !params->dry_run ? SW_ACTION_DROP : SW_ACTION_PASS);
	e->nports = n;
	e->block_ns = block_ns;
	__builtin_memcpy(e->ports, sc->ports, sizeof(e->ports));
	bpf_ringbuf_submit(e, 0);
}

/* --- The door of scan_track ---------------------------------------------- */

#define DOOR_CHECK_MASK 0x0000ffff00000000ULL

_Static_assert(SW_SCAN_ADMIT_BITS <= 16,
	       "a door's index (top bits of the fingerprint) and check (bits 32-47) are apart");

/* What the door holds for the peer of fingerprint fp waiting with the port
 * and time of the tracking slot mine (layout: SW_SCAN_ADMIT_BITS in
 * bpf/synwatch.h). */
static __always_inline __u64 door_value(__u64 fp, __u64 mine)
{
	__u64 check = ((fp >> 32) & 0xffff) | 1;

	return (__u64)slot_tag(mine) << 48 | check << 32 | (__u32)mine;
}

/* The waiting port as a tracking slot, its time restored to 48 bits from
 * the 32 the door keeps, relative to the slot mine: within 2^31 ms (24
 * days) either way, which is how long a port can wait. */
static __always_inline __u64 door_slot(__u64 v, __u64 mine)
{
	__s32 age = (__u32)mine - (__u32)v;
	__u64 ms = SW_SLOT_MS(mine) - (__s64)age;

	return SW_SLOT(slot_port(v), ms);
}

/*
 * A tracking entry for a peer that just brought its second port: created
 * with the waiting one in slot 0 and this SYN's in slot 1. 0 when created;
 * -EEXIST when another CPU created it first (the caller then claims a slot
 * as usual); any other error is counted.
 */
static __always_inline long new_tracking(struct sw_if_stats *stats, const struct sw_scan_key *key,
					 __u64 first, __u64 second)
{
	struct scan_scratch *scratch;
	__u32 zero = 0;
	long err;

	scratch = bpf_map_lookup_elem(&scan_scratch, &zero);
	if (!scratch)
		return -ENOMEM;
	scratch->init.slots[0] = first;
	scratch->init.slots[1] = second;
	err = map_update(&scan_track, key, &scratch->init, BPF_NOEXIST);
	if (!err)
		stats->scan_track_inserts++;
	else if (err != -EEXIST)
		stats->scan_track_failures++;
	return err;
}

enum door_result {
	DOOR_WAIT,     /* the SYN's port waits (or is refreshed): nothing more to do */
	DOOR_ADMITTED, /* the peer's entry was created with two ports */
	DOOR_RACED,    /* another CPU created the entry: add the port as usual */
};

/* Each write to the door is a compare-and-exchange, retried this often
 * when another CPU changed the slot in between. */
#define DOOR_TRIES 3

/* What an admission leaves behind: the peer's check bits, no port, no time.
 * A SYN of the peer that still finds it looks at scan_track again: it was
 * admitted while this SYN was on its way, or its entry was evicted since. */
static __always_inline int door_admitted(__u64 v)
{
	return !(v & ~DOOR_CHECK_MASK);
}

/*
 * 1 when the peer's only port waits at the door, fresh, and this SYN is to
 * that port too. Most clients keep to one port and wait
 * at the door for good: their SYNs stop here, without a lookup of
 * "scan_track" that would miss. The port is refreshed once per millisecond,
 * as in track_port(). *idx is room on the stack for the door's key.
 */
static __always_inline int door_waiting(__u64 fp, __u64 mine, __u64 cutoff_ms, __u32 *idx)
{
	__u64 v, *door;

	*idx = fp >> (64 - SW_SCAN_ADMIT_BITS);
	door = bpf_map_lookup_elem(&scan_admit, idx);
	if (!door)
		return 0;
	v = READ_ONCE(*door);
	if (((v ^ door_value(fp, mine)) & DOOR_CHECK_MASK) || door_admitted(v) ||
	    slot_tag(v) != slot_tag(mine) || !slot_fresh(door_slot(v, mine), cutoff_ms))
		return 0;
	if ((__u32)v != (__u32)mine)
		__sync_val_compare_and_swap(door, v, door_value(fp, mine));
	return 1;
}

/*
 * The door of "scan_track" for a peer that has no entry. The peer's own port
 * fresh there and another one now admit it with both; anything else leaves
 * this SYN's port waiting (or refreshed). One port is never a scan:
 * max_ports is 1 at least. Of two CPUs that bring a new peer's first ports
 * at once, one waits and the other, retrying, admits the peer with both.
 */
static __always_inline int pass_door(struct sw_if_stats *stats, const struct sw_scan_key *key,
				     __u64 fp, __u64 mine, __u64 cutoff_ms, __u32 *idx)
{
	__u64 want, v, *door;
	long err;
	int t;

	*idx = fp >> (64 - SW_SCAN_ADMIT_BITS);
	door = bpf_map_lookup_elem(&scan_admit, idx);
	if (!door)
		return DOOR_WAIT;
	want = door_value(fp, mine);
#pragma unroll
	for (t = 0; t < DOOR_TRIES; t++) {
		v = READ_ONCE(*door);
		if (((v ^ want) & DOOR_CHECK_MASK) ||
		    (!door_admitted(v) && !slot_fresh(door_slot(v, mine), cutoff_ms))) {
			/* Free, another peer's, or stale: this port waits. */
			if (__sync_val_compare_and_swap(door, v, want) == v)
				return DOOR_WAIT;
			continue;
		}
		if (door_admitted(v)) {
			if (bpf_map_lookup_elem(&scan_track, key))
				return DOOR_RACED;
			if (__sync_val_compare_and_swap(door, v, want) == v)
				return DOOR_WAIT;
			continue;
		}
		if (slot_tag(v) == slot_tag(mine)) {
			/* Once per millisecond, as in track_port(); a lost race
			 * leaves a value as fresh. */
			if ((__u32)v != (__u32)mine)
				__sync_val_compare_and_swap(door, v, want);
			return DOOR_WAIT;
		}
		err = new_tracking(stats, key, door_slot(v, mine), mine);
		if (err == -EEXIST)
			return DOOR_RACED;
		if (err)
			return DOOR_WAIT;
			/* Only once the entry exists, so that a SYN of the peer on
			 * another CPU finds the one or the other; retried while the
			 * peer still waits there (another CPU refreshed its port), or
			 * its SYNs to that port would stop at the door (door_waiting). */
#pragma unroll
		for (t = 0; t < DOOR_TRIES; t++) {
			v = READ_ONCE(*door);
			if (((v ^ want) & DOOR_CHECK_MASK) || door_admitted(v) ||
			    __sync_val_compare_and_swap(door, v, v & DOOR_CHECK_MASK) == v)
				break;
		}
		return DOOR_ADMITTED;
	}
	return DOOR_WAIT;
}

enum track_result {
	TRACK_DONE,    /* recorded: nothing more to do */
	TRACK_WAITING, /* the peer's only port waits at the door, fresh, and was this SYN's */
	TRACK_SCAN,    /* more fresh ports than max_ports: detect_scan() next */
};

/*
 * Records the destination port of an unmatched SYN and tells when the
 * peer's distinct fresh ports exceed max_ports. A peer's first port
 * waits at the door (scan_admit), and its second creates its entry. In the
 * entry, a port already fresh is only refreshed: it cannot make a scan. A
 * new one claims a free or stale slot, and the fresh slots are counted
 * *after* the claim, so that of two CPUs adding a port each at once, at
 * least one sees both.
 *
 * Out of line, with its own lookups of the array maps (a few instructions
 * each), so that the decision path stays short and the verifier walks the
 * tracking loops once per call site rather than inlined into every path.
 */
static __noinline int track_port(struct xdp_md *ctx, const struct scan_peer *sp,
				 const struct syn_source *src, __u64 now, __u32 if_slot)
{
	const struct sw_scan_key *key = &sp->key;
	const struct sw_params *params;
	struct sw_if_stats *stats;
	struct sw_scan_state *st;
	struct sw_config *cfg;
	/* One after the other: sharing the room keeps the frame small. */
	union {
		__u32 door_idx; /* the key of the door's slot */
		struct claim_ctx claim;
	} u;
	__u64 now_ms, cutoff_ms, mine, v, fp;
	__u32 zero = 0, fresh = 0;
	int i, door, admitted = 0;
	__u16 tag;

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg || !sp || !src)
		return TRACK_DONE;
	params = &cfg->params[cfg->gen & 1];

	now_ms = now / NSEC_PER_MSEC;
	cutoff_ms = scan_cutoff_ms(params, now_ms);
	mine = SW_SLOT(src->dport, now_ms);
	tag = slot_tag(mine);

	fp = (__u64)sp->fp_hi << 32;
	if (door_waiting(fp, mine, cutoff_ms, &u.door_idx))
		return TRACK_WAITING;
	/* Past the door: most SYNs stop there and need no counters. */
	stats = bpf_map_lookup_elem(&if_stats, &if_slot);
	if (!stats)
		return TRACK_DONE;
	st = bpf_map_lookup_elem(&scan_track, key);
	if (!st) {
		door = pass_door(stats, key, fp, mine, cutoff_ms, &u.door_idx);
		if (door == DOOR_WAIT)
			return TRACK_DONE;
		st = bpf_map_lookup_elem(&scan_track, key);
		if (!st)
			return TRACK_DONE;
		admitted = door == DOOR_ADMITTED;
	}

	if (!admitted) {
		for (i = 0; i < SW_SCAN_SLOTS; i++) {
			v = READ_ONCE(st->slots[i]);
			if (!slot_fresh(v, cutoff_ms) || slot_tag(v) != tag)
				continue;
			/* Once per millisecond at most: a busy peer on many
			 * CPUs would otherwise bounce the line on every SYN. */
			if (SW_SLOT_MS(v) < now_ms)
				__sync_val_compare_and_swap(&st->slots[i], v, mine);
			return TRACK_DONE;
		}

		/* A new port takes the first free or stale slot; a lost race
		 * moves on to the next. The port can end up in two slots when
		 * two CPUs add it at once: counting dedupes. No slot left means
		 * every slot is fresh, more than any max_ports, and the slow
		 * path sorts it out. */
		u.claim.st = st;
		u.claim.cutoff_ms = cutoff_ms;
		u.claim.mine = mine;
		bpf_loop(SW_SCAN_SLOTS, claim_free_slot, &u.claim, 0);
	}

	/* Branch-free (slot_fresh_bit): a branch per slot would give the
	 * verifier two paths per slot, and the count a precise value each. */
	for (i = 0; i < SW_SCAN_SLOTS; i++)
		fresh += slot_fresh_bit(READ_ONCE(st->slots[i]), cutoff_ms);
	return fresh > scan_max_ports(params) ? TRACK_SCAN : TRACK_DONE;
}

/* --- Connection log ----------------------------------------------------- */

/* Burst of one second's worth; refills continuously. */
static __always_inline int conn_token(const struct sw_params *params, __u64 now)
{
	__u64 rate = params->connections_per_second;
	__u64 cap = rate * NSEC_PER_SEC;
	struct conn_bucket *b;
	__u64 elapsed, credit;
	__u32 zero = 0;

	b = bpf_map_lookup_elem(&conn_rate, &zero);
	if (!b)
		return 0;
	elapsed = now - b->last_ns;
	/* A full bucket after a second; also keeps elapsed * rate in range. */
	if (elapsed > NSEC_PER_SEC)
		elapsed = NSEC_PER_SEC;
	credit = b->credit + elapsed * rate;
	if (credit > cap)
		credit = cap;
	b->last_ns = now;
	if (credit < NSEC_PER_SEC) {
		b->credit = credit;
		return 0;
	}
	b->credit = credit - NSEC_PER_SEC;
	return 1;
}

static __always_inline void log_connection(struct xdp_md *ctx, struct sw_if_stats *stats,
					   const struct sw_params *params,
					   const struct syn_source *src, __u8 outcome, __u8 action,
					   __u64 now)
{
	struct sw_event *e;

	/* Over the limit costs a counter, not a ring buffer round trip. */
	if (!conn_token(params, now)) {
		stats->events_rate_limited++;
		return;
	}
	e = reserve_event(stats);
	if (!e)
		return;
	fill_event(e, ctx, src, SW_EVENT_CONNECTION, outcome, action);
	__builtin_memset(e->ports, 0, sizeof(e->ports));
	bpf_ringbuf_submit(e, 0);
}

/* --- Decision ------------------------------------------------------------ */

_Static_assert(SW_OUTCOME_ALLOWED <= SW_OUTCOME_CACHE_MASK &&
		   SW_OUTCOME_DENIED <= SW_OUTCOME_CACHE_MASK &&
		   SW_OUTCOME_UNMATCHED <= SW_OUTCOME_CACHE_MASK &&
		   SW_OUTCOME_CACHE_MASK < SW_OUTCOME_COUNT,
	       "a cached outcome is masked into range");

/* Verdict cache slot of a key (sw_verdict_hash): the source's 128 bits
 * masked with m0, m1 and m23 (all ones for a source's entry in "verdicts";
 * a block's mask for its entry in "verdict_blocks", which leaves words 2 and
 * 3 out). */
static __always_inline __u32 verdict_slot(const struct syn_source *src, __u32 m0, __u32 m1,
					  __u32 m23)
{
	return sw_verdict_hash(src->saddr[0] & m0, src->saddr[1] & m1, src->saddr[2] & m23,
			       src->saddr[3] & m23);
}

static __always_inline int verdict_hit(const struct sw_verdict *v, const struct syn_source *src,
				       __u32 version, __u32 m0, __u32 m1, __u32 m23)
{
	/* Read again from the stack rather than kept from the hash across the
	 * lookup: registers spilled for that would take the frame past the
	 * 512-byte call chain limit of Linux 6.1 (tests/bpf/stack_check.sh). */
	__u32 diff = (v->addr[0] ^ (READ_ONCE(src->saddr[0]) & m0)) |
		     (v->addr[1] ^ (READ_ONCE(src->saddr[1]) & m1)) |
		     (v->addr[2] ^ (READ_ONCE(src->saddr[2]) & m23)) |
		     (v->addr[3] ^ (READ_ONCE(src->saddr[3]) & m23));

	return !diff && v->version == version && v->family == src->family;
}

static __always_inline void verdict_store(struct sw_verdict *v, const struct syn_source *src,
					  __u32 version, __u32 m0, __u32 m1, __u32 m23,
					  __u8 outcome)
{
	v->addr[0] = src->saddr[0] & m0;
	v->addr[1] = src->saddr[1] & m1;
	v->addr[2] = src->saddr[2] & m23;
	v->addr[3] = src->saddr[3] & m23;
	v->version = version;
	v->family = src->family;
	v->outcome = outcome;
	v->memo = SW_MEMO_NONE;
	/* The slot's epoch is shared by every source that hashes to it: the
	 * answer of the source it held before must not pass for this one's. */
	v->dec = 0;
}

/* The verdict block's mask of word 0 (a /24 or the first 32 bits of a /48);
 * word 1's is BLOCK_MASK1 (an IPv4 source's word 1 is zero), words 2 and 3
 * are outside every block. */
#define BLOCK_MASK1 word_mask(SW_VERDICT_BLOCK6, 32)
static __always_inline __u32 block_mask0(__u8 family)
{
	return family == SW_FAMILY_IPV4 ? word_mask(SW_VERDICT_BLOCK4, 0)
					: word_mask(SW_VERDICT_BLOCK6, 0);
}

_Static_assert(SW_VERDICT_BLOCK4 <= 32 && SW_VERDICT_BLOCK6 >= 32 && SW_VERDICT_BLOCK6 <= 64,
	       "a verdict block is masked in words 0 and 1 only");

/* The entry of src's block in "verdict_blocks"; *slot receives its index
 * (the lookup key must be on the stack). */
static __always_inline struct sw_verdict *block_entry(const struct syn_source *src, __u32 *slot)
{
	*slot = verdict_slot(src, block_mask0(src->family), BLOCK_MASK1, 0);
	return bpf_map_lookup_elem(&verdict_blocks, slot);
}

/*
 * The rules' verdict for a source that has no entry of its own in the cache:
 * from its block's entry, else from the trie. The trie's answer is cached
 * for the block too when the rule holds for all of it. "cached" is the
 * source's slot (NULL if the lookup failed); rkey is scratch for the block's
 * slot index, then the trie key.
 */
static __always_inline __u8 rules_outcome(const struct syn_source *src, __u32 gen, __u32 version,
					  struct sw_verdict *cached, struct sw_rule_key *rkey)
{
	/* The block's slot index lives in the trie key's place while the key
	 * is not needed: the frame is at the 512-byte limit. For the same
	 * reason the block's entry is looked up again to be written, rather
	 * than kept across the trie walk. */
	__u32 *slot = (__u32 *)rkey;
	struct sw_rule_value *rule;
	struct sw_verdict *block;
	__u8 outcome, flags = 0;

	block = block_entry(src, slot);
	if (block &&
	    verdict_hit(block, src, version, block_mask0(READ_ONCE(src->family)), BLOCK_MASK1, 0)) {
		outcome = block->outcome & SW_OUTCOME_CACHE_MASK;
		goto source;
	}

	rkey->prefixlen = src->family == SW_FAMILY_IPV4 ? 32 + 32 : 32 + 128;
	rkey->gen = gen;
	rkey->family = src->family;
	__builtin_memcpy(rkey->addr, src->saddr, sizeof(rkey->addr));
	/*
	 * User space folded allow over deny, so the longest match decides.
	 * Anything but "allowed" in a rule value reads as "denied": the
	 * outcome indexes the counters and must stay in range.
	 */
	rule = bpf_map_lookup_elem(&rules, rkey);
	if (rule && rule->outcome == SW_OUTCOME_ALLOWED)
		outcome = SW_OUTCOME_ALLOWED;
	else if (rule)
		outcome = SW_OUTCOME_DENIED;
	else
		outcome = SW_OUTCOME_UNMATCHED;
	if (rule)
		flags = rule->flags;
	/* Version 0 is a writer that does not version its rules: nothing of
	 * it is cached. */
	if (!version)
		return outcome;
	if (flags & SW_RULE_BLOCK) {
		block = block_entry(src, slot);
		if (block)
			verdict_store(block, src, version, block_mask0(src->family), BLOCK_MASK1, 0,
				      outcome);
	}
source:
	/* The source's own entry too, so that its next SYN hits the first
	 * lookup: a flood's sources take slots over as they did before blocks
	 * were cached, one store to a line the lookup brought in. */
	if (cached)
		verdict_store(cached, src, version, ~0U, ~0U, ~0U, outcome);
	return outcome;
}

/* Times of memos and kept decision answers (SW_MEMO_SHIFT). */
static __always_inline __u32 memo_time(__u64 now)
{
	return now >> SW_MEMO_SHIFT;
}

/* Whether a fleet decision bans src now: its address's entry in
 * "decision_hosts" or, when that is missing or expired, the longest range of
 * "decisions" that holds it and has not expired (an expired one sends the
 * lookup on to a shorter one, up to SW_DEC_NESTING). So a decision ends here
 * on time whether or not user space is running. v: the source's entry of
 * "verdicts" (a hit, or just written), or NULL; its answer (sw_verdict.dec)
 * is used while the epoch of its slot is the one it was found under, else
 * the maps are read, the epoch before them, and the answer kept. A ban is
 * counted by its origin here, where the entry is at hand, with the action it
 * gets (a banned SYN is dropped unless in dry run; nothing later changes
 * that), for the kinds that sw_if_stats.syn counts. key is room on the
 * stack.
 *
 * The epoch is read before the maps and user space raises it after writing
 * them, so an answer found under an epoch reflects every write before it:
 * the loads of one CPU are not reordered with each other (x86-64, the
 * architecture the package is built for; a weakly ordered CPU would need a
 * read barrier between them, which BPF does not offer). */
static __always_inline int decision_bans(const struct syn_source *src, struct sw_verdict *v,
					 __u32 slot, struct sw_decision_key *key, __u8 dry_run)
{
	struct sw_origin_syns *counts;
	struct sw_decision *d;
	__u32 *epoch_at, epoch, origin, left;
	__u64 now;
	__u8 plen;
	int i;

	key->prefixlen = slot;
	epoch_at = bpf_map_lookup_elem(&decision_epochs, &key->prefixlen);
	if (!epoch_at)
		return 0;
	epoch = READ_ONCE(*epoch_at);
	if (v && v->dec && v->dec_epoch == epoch) {
		if (v->dec == SW_DEC_CLEAR)
			return 0;
		if ((__s32)(v->dec_until - memo_time(bpf_ktime_get_coarse_ns())) > 0) {
			origin = v->dec & (SW_ORIGIN_SLOTS - 1);
			goto banned;
		}
	}
	now = bpf_ktime_get_coarse_ns();
	/* family and pad in one store: the rule key left other bytes there. */
	*(__u32 *)&key->family = u8_quad(src->family, 0, 0, 0);
	__builtin_memcpy(key->addr, src->saddr, sizeof(key->addr));
	d = bpf_map_lookup_elem(&decision_hosts, &key->family);
	if (d && now < READ_ONCE(d->expires_ns))
		goto found;
	key->prefixlen = src->family == SW_FAMILY_IPV4 ? 32 + 32 : 32 + 128;
	for (i = 0; i < SW_DEC_NESTING; i++) {
		d = bpf_map_lookup_elem(&decisions, key);
		if (!d)
			break;
		if (now < READ_ONCE(d->expires_ns))
			goto found;
		/* Expired: a shorter range may still hold the source. */
		plen = READ_ONCE(d->prefix_len);
		if (!plen || plen > 128)
			break;
		key->prefixlen = 32 + plen - 1;
	}
	if (v) {
		v->dec_epoch = epoch;
		v->dec = SW_DEC_CLEAR;
	}
	return 0;
found:
	origin = READ_ONCE(d->origin) & (SW_ORIGIN_SLOTS - 1);
	if (v) {
		/* Rounded down: the kept answer ends no later than the ban. */
		left = memo_time(READ_ONCE(d->expires_ns)) - memo_time(now);
		v->dec_until = memo_time(now) + (left < SW_DEC_HORIZON ? left : SW_DEC_HORIZON);
		v->dec_epoch = epoch;
		v->dec = SW_DEC_BANNED | origin;
	}
banned:
	if (src->kind == ATTEMPT_SYN || src->kind == ATTEMPT_SPLIT_FIRST) {
		/* The key is dead: its first word keys the counter. */
		key->prefixlen = origin;
		counts = bpf_map_lookup_elem(&origin_syns, &key->prefixlen);
		if (counts)
			counts->syn[dry_run ? SW_ACTION_PASS : SW_ACTION_DROP]++;
	}
	return 1;
}

/* --- Memo of port-scan tracking (enum sw_memo) ------------------------- */

/* The memo of this SYN's source when it still holds: SW_MEMO_BLOCKED, or
 * SW_MEMO_WAITING for a SYN to the waiting port of a peer that no block has
 * been written for since; else SW_MEMO_NONE. v is the source's own entry.
 * *slot is room on the stack for the hint's key. */
static __always_inline int memo_check(const struct sw_verdict *v, const struct syn_source *src,
				      __u64 now, __u32 *slot)
{
	__s32 left = v->memo_until - memo_time(now);
	__u64 *hint;

	if (v->memo == SW_MEMO_BLOCKED && left > 0)
		return SW_MEMO_BLOCKED;
	if (v->memo != SW_MEMO_WAITING || v->memo_port != src->dport || left <= 0)
		return SW_MEMO_NONE;
	*slot = v->memo_hint;
	hint = bpf_map_lookup_elem(&block_hint, slot);
	return hint && now >= READ_ONCE(*hint) ? SW_MEMO_WAITING : SW_MEMO_NONE;
}

/* Writes a memo into the source's entry, found again rather than kept
 * across the tracking call: once per source and refresh, so the lookup
 * costs little, while a pointer kept live would cost stack on every SYN.
 * *slot is room on the stack for the entry's key. */
static __always_inline void memo_store(const struct syn_source *src, __u32 version, __u32 *slot,
				       __u8 memo, __u16 hint_slot, __u32 until)
{
	struct sw_verdict *v;

	*slot = verdict_slot(src, ~0U, ~0U, ~0U);
	v = bpf_map_lookup_elem(&verdicts, slot);
	if (!v || !verdict_hit(v, src, version, ~0U, ~0U, ~0U))
		return;
	v->memo_hint = hint_slot;
	v->memo_port = src->dport;
	v->memo_until = until;
	v->memo = memo;
}

_Static_assert((SW_MEMO_REFRESH & (SW_MEMO_REFRESH - 1)) == 0 && SW_BLOCK_HINT_BITS <= 16,
	       "the refresh divides by a shift; a hint slot fits memo_hint");

_Static_assert(sizeof(struct sw_peer_key) == 24 &&
		   __builtin_offsetof(struct sw_peer_key, family) == 4 &&
		   __builtin_offsetof(struct sw_peer_key, action) == 7 &&
		   __builtin_offsetof(struct sw_peer_key, addr) == 8,
	       "handle_syn writes the peer key as three 64-bit words");
_Static_assert(sizeof(struct scan_peer) <= sizeof(struct sw_rule_key),
	       "the scan peer takes the rule key's place in handle_syn");
_Static_assert(__builtin_offsetof(struct sw_scan_key, addr) == 4,
	       "handle_syn writes the scan key's family, prefix_len and pad as one word");

static __always_inline int handle_syn(struct xdp_md *ctx, const struct sw_config *cfg, __u32 slot,
				      struct sw_if_stats *stats, const struct syn_source *src)
{
	__u32 gen = cfg->gen & 1;
	const struct sw_params *params = &cfg->params[gen];
	/* The rule key is dead once looked up: the scan key takes its place, which
	 * keeps the deepest call chain within the 512-byte combined stack that
	 * Linux 6.1 allows (it rounds every frame up to 32 bytes). */
	union {
		struct sw_rule_key rule;
		struct sw_decision_key decision;
		struct scan_peer scan;
		__u32 verdict_slot;
		__u32 scan_head; /* the scan key's family, prefix_len and pad */
	} k = {};
	struct sw_rule_key *rkey = &k.rule;
	struct sw_scan_key *skey = &k.scan.key;
	/* Built in three 64-bit stores, for the reason given at syn_source:
	 * the kernel hashes and compares the key in words. */
	union {
		struct sw_peer_key key;
		__u64 w[3];
	} peer;
	struct sw_verdict *cached;
	__u64 *cnt;
	__u32 version = params->rules_version;
	__u64 now = 0;
	__u8 outcome, action, scan;
	__u64 blocked_until;
	__u32 plen;
	int repeat = 0; /* the verdict came from the source's own cache entry */

	/*
	 * The rules' verdict for this source, from its own cache entry when it
	 * was looked up under the rule set in force (a repeat SYN: one array
	 * lookup and a compare instead of a trie walk), else from its block's
	 * entry or the trie.
	 */
	k.verdict_slot = verdict_slot(src, ~0U, ~0U, ~0U);
	cached = bpf_map_lookup_elem(&verdicts, &k.verdict_slot);
	if (cached && verdict_hit(cached, src, version, ~0U, ~0U, ~0U)) {
		/* Only ALLOWED, DENIED or UNMATCHED are written; the mask keeps
		 * the counter index in range whatever the map holds. */
		outcome = cached->outcome & SW_OUTCOME_CACHE_MASK;
		repeat = 1;
	} else {
		outcome = rules_outcome(src, gen, version, cached, rkey);
	}
	/* Fleet decisions come after both static lists: an allowed source is
	 * never banned, a denied one stays denied. Looked up apart from the
	 * verdict caches, so a poll that changes decisions invalidates none of
	 * the rules' verdicts. */
	if (outcome == SW_OUTCOME_UNMATCHED && params->decisions &&
	    decision_bans(src, version ? cached : NULL,
			  repeat ? k.verdict_slot : verdict_slot(src, ~0U, ~0U, ~0U), &k.decision,
			  params->dry_run))
		outcome = SW_OUTCOME_BANNED;

	if (src->family == SW_FAMILY_IPV4) {
		plen = params->ipv4_prefix_len;
		if (plen > 32)
			plen = 32;
	} else {
		plen = params->ipv6_prefix_len;
		if (plen > 128)
			plen = 128;
	}
	/* After the verdict, not across it: nothing to spill. */
	peer.w[1] = src->saddr64[0] & addr_mask64(plen, 0);
	peer.w[2] = src->saddr64[1] & addr_mask64(plen, 64);

	/* Only peers that no static rule matched are blocked or tracked, so an
	 * allow-listed source can never be locked out by a scan. */
	scan = outcome == SW_OUTCOME_UNMATCHED && params->scan_enabled;
	/*
	 * CLOCK_MONOTONIC_COARSE: the clock user space compares expires_ns
	 * with, at most a tick behind, which windows, blocks and the rate
	 * limit can afford. bpf_ktime_get_ns() costs ~30 ns more per SYN
	 * under kvm-clock, a third of a tracked SYN.
	 */
	if (scan || params->log_connections)
		now = bpf_ktime_get_coarse_ns();
	/* cached is this source's entry: a hit, or just written when the
	 * version is not 0 (and then without a memo). */
	if (scan && cached && version && cached->memo) {
		switch (memo_check(cached, src, now, &k.verdict_slot)) {
		case SW_MEMO_BLOCKED:
			outcome = SW_OUTCOME_BLOCKED;
			scan = 0;
			break;
		case SW_MEMO_WAITING:
			scan = 0;
			break;
		}
	}
	if (scan) {
		/* family, prefix_len and pad in one store: the hash reads them as
		 * one word (see syn_source). */
		k.scan_head = u8_quad(src->family, plen, 0, 0);
		__builtin_memcpy(skey->addr, peer.key.addr, sizeof(skey->addr));
		blocked_until = peer_blocked(&k.scan, now);
		if (blocked_until) {
			outcome = SW_OUTCOME_BLOCKED;
			scan = 0;
			/* Rounded down: the memo ends no later than the block. */
			memo_store(src, version, &k.verdict_slot, SW_MEMO_BLOCKED, 0,
				   memo_time(blocked_until));
		}
	}

	if (outcome == SW_OUTCOME_DENIED || outcome == SW_OUTCOME_BLOCKED ||
	    outcome == SW_OUTCOME_BANNED)
		action = SW_ACTION_DROP;
	else if (outcome == SW_OUTCOME_UNMATCHED && params->default_drop)
		action = SW_ACTION_DROP;
	else
		action = SW_ACTION_PASS;
	/* Dry run keeps the outcome: it says what would have happened. */
	if (params->dry_run)
		action = SW_ACTION_PASS;

	switch (src->kind) {
	case ATTEMPT_SYN:
		stats->syn[outcome][action]++;
		break;
	case ATTEMPT_SPLIT_FIRST:
		stats->syn[outcome][action]++;
		stats->split_tcp[SW_SPLIT_FIRST][outcome][action]++;
		break;
	case ATTEMPT_PROBE:
		stats->probes[outcome][action]++;
		break;
	default:
		stats->split_tcp[SW_SPLIT_LATER][outcome][action]++;
		break;
	}

	/* The interface is read again rather than kept from the start: kept,
	 * it takes a stack slot the frame has no room for. */
	peer.w[0] = u32_pair(ctx->ingress_ifindex, u8_quad(src->family, plen, outcome, action));

	/* The detecting SYN itself stays unmatched; the peer's next one is
	 * blocked. A probe's port counts as a SYN's; a fragment without ports
	 * is only judged. */
	if (scan && src->kind != ATTEMPT_SPLIT_LATER) {
		switch (track_port(ctx, &k.scan, src, now, slot)) {
		case TRACK_SCAN:
			detect_scan(ctx, skey, src, now);
			break;
		case TRACK_WAITING:
			memo_store(src, version, &k.verdict_slot, SW_MEMO_WAITING,
				   k.scan.fp_hi >> (32 - SW_BLOCK_HINT_BITS),
				   memo_time(now) +
				       memo_time(params->scan_window_ns / SW_MEMO_REFRESH));
			break;
		}
	}
	if (params->log_connections && src->kind < ATTEMPT_PROBE)
		log_connection(ctx, stats, params, src, outcome, action, now);

	/* Peer series count connection attempts only. */
	if (src->kind >= ATTEMPT_PROBE)
		return action == SW_ACTION_DROP ? XDP_DROP : XDP_PASS;

	/*
	 * Every SYN counts for its peer (sw_count_peer), but under flood
	 * admission a denied source without a cached verdict on this CPU skips
	 * the table altogether: a spoofed flood from a denied range, a new
	 * source on nearly every SYN, then costs no per-peer table work (the
	 * lookup of a source that is not there missed the cache twice, about
	 * 100 ns of each dropped SYN; tests/bench/README.md) and pushes no real
	 * peer out of the table. Such a source is noted as a new peer: it is
	 * one for the flood's rate. Every SYN stays in the exact totals. A
	 * known peer is counted here, without a call.
	 *
	 * Last, when little else is live.
	 */
	if (repeat || outcome != SW_OUTCOME_DENIED) {
		cnt = bpf_map_lookup_elem(&peers, &peer.key);
		if (cnt)
			*cnt += 1;
		else
			sw_count_peer(stats, params, &peer.key, 0);
	} else {
		sw_count_peer(stats, params, &peer.key, 1);
	}
	return action == SW_ACTION_DROP ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int xdp_synwatch(struct xdp_md *ctx)
{
	void *data_end, *data;
	struct syn_source src;
	struct sw_if_stats *stats;
	struct sw_config *cfg;
	__u32 key = 0, slot;
	__u32 cls; /* unsigned: one compare bounds it (classify_any() is opaque) */

	if (sw_gate_token && token_in_charge(ctx) != sw_gate_token)
		return XDP_PASS;
	data_end = (void *)(long)ctx->data_end;
	data = (void *)(long)ctx->data;
	cls = classify(ctx, data, data_end, &src);

	slot = ingress_slot(ctx);
	stats = bpf_map_lookup_elem(&if_stats, &slot);
	if (!stats)
		return XDP_PASS;
	if (cls < CLASS_JUDGE) {
		stats->classes[cls]++;
		return XDP_PASS;
	}
	/* A split first fragment is judged as the SYN it may be; a probe is
	 * still a TCP segment, a fragment without ports still other IP. */
	if (src.kind < ATTEMPT_PROBE)
		stats->classes[SW_CLASS_SYN]++;
	else if (src.kind == ATTEMPT_PROBE)
		stats->classes[SW_CLASS_TCP_OTHER]++;
	else
		stats->classes[SW_CLASS_OTHER_IP]++;
	cfg = bpf_map_lookup_elem(&config, &key);
	if (!cfg)
		return XDP_PASS;
	return forget_note(handle_syn(ctx, cfg, slot, stats, &src));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
