/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * synwatch ABI: every map key and value, enum and limit shared by the XDP
 * program (bpf/synwatch.bpf.c) and the exporter (exporter/). Only
 * <linux/types.h> types, explicit padding, no implicit holes: the C++ side
 * pins the layout with static_assert (exporter/base/abi.h); how the ABI is
 * versioned: docs/architecture.md, "The kernel/user ABI".
 *
 * Bump SW_ABI_VERSION whenever a key or value layout below changes; pinned
 * maps of another version are never read (see README, "Upgrades"). The
 * verdict caches and the per-CPU scratch and rate-limit maps are the
 * exception: one of another layout is replaced on its own, empty, and the
 * rest carries over (BpfProgram::ReusePinnedMaps), so they need no bump.
 */
#ifndef SYNWATCH_BPF_SYNWATCH_H_
#define SYNWATCH_BPF_SYNWATCH_H_

#include <linux/types.h>

#define SW_ABI_VERSION 6

/* Interfaces: ifindex -> slot through an open-addressed table in the config
 * value (sw_config.if_slots). Slot SW_IF_UNKNOWN counts packets seen on an
 * interface that user space has not registered (it should never happen in
 * production; BPF_PROG_TEST_RUN without ingress_ifindex lands there). */
#define SW_IF_SLOTS 256 /* power of two */
#define SW_IF_PROBES 8	/* linear probes, user space places within this */
#define SW_IF_UNKNOWN SW_IF_SLOTS
#define SW_IF_STATS_ENTRIES (SW_IF_SLOTS + 1)

/* Static rules: both lists, both families, two generations (the one in
 * force and the one being written) share one LPM trie. */
#define SW_MAX_RULES 16384 /* per list (allow or deny), IPv4 and IPv6 together */
#define SW_RULES_ENTRIES (2 * 2 * SW_MAX_RULES)

#define SW_DEFAULT_PEER_ENTRIES 65536

/*
 * Flood admission of the "peers" table. Normally every SYN counts in its
 * peer's series from the first one: a peer that is not in the table is
 * inserted. Each CPU counts the new peers it inserts (and the denied sources
 * it has no cached verdict for) per one-second window; above
 * sw_params.flood_new_peers in a window, a spoofed-source flood is under way
 * and that CPU admits peers through the doorkeeper until
 * SW_FLOOD_HOLD_NS after the last window over the limit (katran's
 * is_under_flood does the same for its LRU, at 125,000/s per core).
 * The doorkeeper is the __u64 array "peer_admit" of peer key fingerprints
 * (0 = free), indexed by a fingerprint's top SW_PEER_ADMIT_BITS: a peer's
 * SYN that finds no fingerprint of its own there leaves it and is counted in
 * sw_if_stats.syn_no_peer; the next SYN that finds it inserts the peer with
 * a count of 1. Denied sources without a cached verdict skip the table.
 */
#define SW_PEER_ADMIT_BITS 16
#define SW_PEER_ADMIT_SLOTS (1U << SW_PEER_ADMIT_BITS)
#define SW_DEFAULT_FLOOD_NEW_PEERS 25000
#define SW_FLOOD_WINDOW_NS 1000000000ULL
#define SW_FLOOD_HOLD_NS 1000000000ULL

/* The single entry of the per-CPU array "flood": this CPU's rate of new
 * peers and whether flood admission holds. Times are
 * bpf_ktime_get_coarse_ns() (CLOCK_MONOTONIC). */
struct sw_flood {
	__u64 window_ns; /* start of the current window */
	__u64 until_ns;	 /* flood admission holds while the time is before this */
	__u64 new_peers; /* new peers in the current window */
	__u64 periods;	 /* flood admission periods begun on this CPU */
};

enum sw_class {
	SW_CLASS_SYN = 0,   /* TCP, SYN set, ACK clear, first fragment */
	SW_CLASS_TCP_OTHER, /* any other TCP segment */
	SW_CLASS_OTHER_IP,  /* IPv4/IPv6 that is not TCP (or a non-first fragment) */
	SW_CLASS_NON_IP,    /* neither IPv4 nor IPv6 */
	SW_CLASS_MALFORMED, /* truncated or invalid headers */
	SW_CLASS_COUNT,
};

enum sw_outcome {
	SW_OUTCOME_ALLOWED = 0,
	SW_OUTCOME_DENIED,
	SW_OUTCOME_BLOCKED,
	SW_OUTCOME_UNMATCHED,
	SW_OUTCOME_BANNED, /* a fleet decision ("decisions" trie), no static rule matched */
	SW_OUTCOME_COUNT,
};

/* Outcomes the verdict caches hold (ALLOWED, DENIED, UNMATCHED) fit this
 * mask, which keeps a cached outcome a counter index in range. */
#define SW_OUTCOME_CACHE_MASK 3

enum sw_action {
	SW_ACTION_PASS = 0,
	SW_ACTION_DROP,
	SW_ACTION_COUNT,
};

/* Which part of a TCP header an IP fragment that splits it holds (no real
 * stack sends one; RFC 1858, RFC 7112). */
enum sw_split {
	SW_SPLIT_FIRST = 0, /* the first fragment: the header is cut short */
	SW_SPLIT_LATER,	    /* a later fragment that starts inside a TCP header */
	SW_SPLIT_COUNT,
};

enum sw_family {
	SW_FAMILY_IPV4 = 4,
	SW_FAMILY_IPV6 = 6,
};

/* Decision knobs that must change together: the program reads
 * sw_config.params[sw_config.gen] and the rules of that generation, so a
 * reload writes the inactive half and then flips gen (one aligned store). */
struct sw_params {
	__u8 default_drop;    /* 1: unmatched SYNs are dropped */
	__u8 dry_run;	      /* 1: decide and count, never drop */
	__u8 ipv4_prefix_len; /* peer key mask, 0..32 */
	__u8 ipv6_prefix_len; /* peer key mask, 0..128 */
	__u8 scan_enabled;    /* port-scan tracking on */
	__u8 log_connections; /* 1: send a connection event per SYN (rate-limited) */
	__u8 decisions;	      /* 1: unmatched sources are looked up in "decisions" */
	__u8 pad0;
	__u32 scan_max_ports; /* more distinct ports than this is a scan, 1..SW_SCAN_MAX_PORTS */
	__u32 connections_per_second; /* connection events per second and CPU, at most */
	__u32 rules_version;   /* new for every rule set written, never 0: tags cached verdicts */
	__u32 flood_new_peers; /* new peers per second and CPU above which flood admission starts;
				  0: never */
	__u64 scan_window_ns;  /* sliding window */
	__u64 block_ns;	       /* block duration, 0 = detect only */
};

/* The single entry of the "config" array map. */
struct sw_config {
	__u32 gen; /* 0 or 1: which params/rules generation is in force */
	__u32 abi_version;
	struct sw_params params[2];
	__u32 if_slots[SW_IF_SLOTS]; /* ifindex placed at (ifindex + i) % SW_IF_SLOTS, 0 = free */
};

/* Per-interface exact totals, one entry per slot of the per-CPU "if_stats"
 * array: never evicted, summed over CPUs at scrape time. */
struct sw_if_stats {
	__u64 classes[SW_CLASS_COUNT];
	__u64 syn[SW_OUTCOME_COUNT][SW_ACTION_COUNT];
	__u64 peer_insert_failures; /* per-peer updates the kernel refused */
	__u64 port_scans;	    /* scans detected on this interface */
	__u64 scan_track_inserts;  /* new entries in "scan_track" (evictions = inserts - entries) */
	__u64 scan_track_failures; /* scan_track inserts the kernel refused */
	__u64 block_inserts;	   /* entries written to "blocked" (evictions likewise) */
	__u64 events_ring_full;	   /* events lost: ring buffer full */
	__u64 events_rate_limited; /* connection events not sent: over connections_per_second */
	__u64 peer_inserts;	   /* entries created in "peers" (evictions = inserts - entries) */
	/* SYNs counted in syn[][] but in no peer series: flood admission, or a
	 * per-peer insert the kernel refused. Sum of the peer series + this =
	 * syn[][] as long as no peer was evicted. */
	__u64 syn_no_peer[SW_OUTCOME_COUNT][SW_ACTION_COUNT];
	/* IP fragments that split a TCP header, judged by their source; a first
	 * one whose ports are visible counts in syn[][] too. */
	__u64 split_tcp[SW_SPLIT_COUNT][SW_OUTCOME_COUNT][SW_ACTION_COUNT];
	/* Stealth probes: TCP segments with none of SYN, ACK and RST (NULL,
	 * FIN, Xmas scans), judged by their source like SYNs. */
	__u64 probes[SW_OUTCOME_COUNT][SW_ACTION_COUNT];
};

/* LPM key of the "rules" trie. prefixlen counts the bits of gen, family
 * and pad (32) plus the address bits, so one trie serves both generations
 * and both families. */
struct sw_rule_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 family;   /* enum sw_family */
	__u8 pad[2];   /* zero */
	__u8 addr[16]; /* network byte order; IPv4 in addr[0..3], rest zero */
};

/* Verdict of the most specific rule containing the source. User space folds
 * both lists into it (allow wins over deny wherever an allow prefix contains
 * the matched prefix), so the program does a single lookup. */
struct sw_rule_value {
	__u8 outcome; /* SW_OUTCOME_ALLOWED or SW_OUTCOME_DENIED */
	__u8 flags;   /* SW_RULE_* (0 from a writer that predates them) */
	__u8 pad[2];
};

/* The entry's verdict holds for the whole verdict block (below) around any
 * source it decides: the entry is at most a block long, and no entry longer
 * than a block lies inside it. User space works it out for every entry. */
#define SW_RULE_BLOCK 0x1

/* Verdict cache in front of the "rules" trie: two per-CPU arrays of
 * SW_VERDICT_SLOTS entries, direct-mapped by a hash of the key. An entry of
 * "verdicts" answers for one source (keyed by the full address). When the
 * deciding rule has SW_RULE_BLOCK, an entry of "verdict_blocks" also answers
 * for every source of its verdict block (keyed by the address masked to
 * SW_VERDICT_BLOCK4/6 bits): a spoofed flood from a denied range then walks the trie once per
 * block, not once per source. An entry answers only while rules_version is
 * the one in force, so a rule change invalidates every entry at once; an
 * entry that is 0 (never written) has no family and matches nothing. */
#define SW_VERDICT_BITS 10
#define SW_VERDICT_SLOTS (1U << SW_VERDICT_BITS)
#define SW_VERDICT_BLOCK4 24 /* an IPv4 /24 */

/* The slot of a key in the verdict caches and "decision_epochs": a
 * multiply-xorshift over its 128 bits, the address's four 32-bit words as
 * they lie in memory (IPv4: word 0, the rest zero), masked. In the header
 * so that user space finds the epoch slot of an address as the program
 * does. A collision only costs a lookup: an entry holds its whole key. */
static inline __attribute__((always_inline)) __u32 sw_verdict_hash(__u32 w0, __u32 w1, __u32 w2,
								   __u32 w3)
{
	__u64 lo = w0 | (__u64)w1 << 32;
	__u64 hi = w2 | (__u64)w3 << 32;
	__u64 h = (lo ^ 0x9e3779b97f4a7c15ULL) * 0xff51afd7ed558ccdULL;

	h = (h ^ (h >> 29) ^ hi) * 0xc4ceb9fe1a85ec53ULL;
	return (__u32)(h >> (64 - SW_VERDICT_BITS));
}
#define SW_VERDICT_BLOCK6 48 /* an IPv6 /48, a site */

/* What port-scan tracking last found for the source of an entry of
 * "verdicts" on this CPU, under the entry's rules_version (so a reload
 * forgets it), until memo_until. Its next SYN then skips the work:
 *   SW_MEMO_BLOCKED: its peer is blocked until about then (the block's end,
 *     rounded down): no fingerprint, hint or lookup of "blocked".
 *   SW_MEMO_WAITING: its only port, memo_port, waits at the door, fresh; a
 *     SYN to that port within 1/SW_MEMO_REFRESH of the window only checks
 *     the peer's block hint (memo_hint), since another CPU may have blocked
 *     it. So the door's time for such a port lags its last SYN by that much
 *     at most: the port counts as fresh for 63/64 of the window at least.
 * Times are CLOCK_MONOTONIC ns >> SW_MEMO_SHIFT (about a millisecond),
 * compared modulo 2^32. */
enum sw_memo {
	SW_MEMO_NONE = 0,
	SW_MEMO_WAITING,
	SW_MEMO_BLOCKED,
};
#define SW_MEMO_SHIFT 20
#define SW_MEMO_REFRESH 64 /* power of two */

struct sw_verdict {
	__u32 addr[4];	  /* the source; in "verdict_blocks", masked to its block */
	__u32 version;	  /* sw_params.rules_version the verdict was looked up under */
	__u8 family;	  /* enum sw_family */
	__u8 outcome;	  /* SW_OUTCOME_ALLOWED, _DENIED or _UNMATCHED */
	__u8 memo;	  /* enum sw_memo ("verdicts" only) */
	__u8 dec;	  /* SW_DEC_* ("verdicts" only): the fleet decisions' answer */
	__u16 memo_hint;  /* SW_MEMO_WAITING: the peer's slot in "block_hint" */
	__u16 memo_port;  /* SW_MEMO_WAITING: the waiting port, host byte order */
	__u32 memo_until; /* the memo holds while the time is before this */
	__u32 dec_epoch;  /* the entry's "decision_epochs" value dec was found under */
	__u32 dec_until;  /* SW_DEC_BANNED: the ban holds while the time is before this */
};

/* The fleet decisions' answer for the source of an entry of "verdicts" on
 * this CPU, kept apart from the rules' verdict so that a decision poll
 * invalidates no rule verdict. It holds while the entry's slot in the array
 * "decision_epochs" still has the value it was looked up under: user space
 * writes a decision, then raises the epoch of the slot its address hashes
 * to (sw_verdict_slot()), and for a range, the epoch of every slot. So a
 * known source's SYN costs one array read and a compare, not a lookup. A
 * ban's answer also ends at dec_until (memo time, like memo_until: the
 * decision's expiry, at most SW_DEC_HORIZON ahead), when the decision is
 * looked up again: the kernel ends a ban on time without user space.
 *   0: not looked up under this rules_version;
 *   SW_DEC_CLEAR: no decision bans the source;
 *   SW_DEC_BANNED | origin slot: banned. */
#define SW_DEC_CLEAR 0x40
#define SW_DEC_BANNED 0x80
#define SW_DEC_HORIZON (1U << 30) /* memo time units, about 13 days */

/* Key of the per-CPU LRU "peers" hash: one entry per interface, peer prefix,
 * outcome and action; the value is a per-CPU __u64 SYN count. */
struct sw_peer_key {
	__u32 ifindex;
	__u8 family;	 /* enum sw_family */
	__u8 prefix_len; /* mask applied to addr */
	__u8 outcome;	 /* enum sw_outcome */
	__u8 action;	 /* enum sw_action */
	__u8 addr[16];	 /* network byte order, masked; IPv4 in addr[0..3] */
};

/* --- Fleet decisions (CrowdSec) ---------------------------------------- */

/* The decisions are kept in two maps: the hash "decision_hosts" holds the
 * ones on a single address (/32, /128: nearly all of a community
 * blocklist), keyed by the family, pad and address of sw_decision_key (its
 * last 20 bytes), one lookup whatever their number; the LPM trie
 * "decisions" holds the ranges, so a range stays one entry. A source is
 * banned by its address's entry or, when that is missing or expired, by the
 * longest range that holds it and is in force.
 *
 * LPM key of the "decisions" trie: prefixlen counts the 32 bits of family
 * and pad plus the address bits, so one trie serves both families. */
struct sw_decision_key {
	__u32 prefixlen;
	__u8 family;   /* enum sw_family */
	__u8 pad[3];   /* zero */
	__u8 addr[16]; /* network byte order, host bits zero; IPv4 in addr[0..3] */
};

/* Key of the hash "decision_hosts": sw_decision_key without prefixlen. */
struct sw_decision_host {
	__u8 family;   /* enum sw_family */
	__u8 pad[3];   /* zero */
	__u8 addr[16]; /* network byte order; IPv4 in addr[0..3], the rest zero */
};

/* Value of "decisions" and "decision_hosts": SYNs from the prefix are
 * banned until expires_ns (bpf_ktime_get_coarse_ns(), CLOCK_MONOTONIC, as
 * sw_block). User space keeps every decision on a prefix and writes the
 * latest expiry of those in force; an expired entry bans nothing, and user
 * space deletes it when its last decision goes. An expired range sends the
 * lookup on to the next shorter range (prefix_len tells where that is
 * looked for; 0 in entries of ABI 6: not), up to SW_DEC_NESTING ranges. */
struct sw_decision {
	__u64 expires_ns;
	__u32 origin;	 /* slot in "origin_syns" and "origin_names"; the program masks it */
	__u8 prefix_len; /* the entry's address bits ("decisions"; 0: unknown) */
	__u8 pad[3];	 /* zero */
};
#define SW_DEC_NESTING 4

/* Banned SYNs by decision origin. User space gives each origin label
 * ("crowdsec", "cscli", "CAPI", "lists:NAME", ...) a slot in first-seen
 * order and writes its name into the array "origin_names", where a later
 * synwatch finds it again with the pinned counters; once the slots are
 * taken, further origins share SW_ORIGIN_OTHER. When several decisions
 * cover one prefix, its entry carries the origin of the one that ends
 * last. */
#define SW_ORIGIN_SLOTS 16 /* power of two */
#define SW_ORIGIN_OTHER (SW_ORIGIN_SLOTS - 1)
#define SW_ORIGIN_NAME_LEN 64

/* Value of the per-CPU array "origin_syns": SYNs (as counted in
 * sw_if_stats.syn) with outcome SW_OUTCOME_BANNED, by action (pass: dry
 * run). */
struct sw_origin_syns {
	__u64 syn[SW_ACTION_COUNT];
};

/* Value of the array "origin_names", written and read by user space only:
 * the slot's origin label, NUL-terminated, empty while the slot is free. */
struct sw_origin_name {
	char name[SW_ORIGIN_NAME_LEN];
};

#define SW_DEFAULT_DECISION_ENTRIES 131072

/* --- Port-scan detection and blocking --------------------------------- */

#define SW_SCAN_MAX_PORTS 64 /* largest port_scan.max_ports */
#define SW_SCAN_SLOTS (SW_SCAN_MAX_PORTS + 1)
#define SW_DEFAULT_SCAN_TRACK_ENTRIES 8192

/* Doorkeeper of "scan_track": the __u64 array "scan_admit", indexed by the
 * top SW_SCAN_ADMIT_BITS of a scan key's fingerprint (sw_scan_fingerprint).
 * A slot is 0 (free) or holds the first port of a peer that is not tracked
 * yet: (port + 1) << 48 | check << 32 | milliseconds (low 32 bits, as in
 * SW_SLOT), where check is the fingerprint's next 16 bits, never 0. The
 * peer's next SYN to another port creates its tracking entry with both and
 * leaves check << 32 alone in the slot (admitted). */
#define SW_SCAN_ADMIT_BITS 16
#define SW_SCAN_ADMIT_SLOTS (1U << SW_SCAN_ADMIT_BITS)
#define SW_DEFAULT_BLOCK_ENTRIES 16384
/* Hint of "blocked": the __u64 array "block_hint", indexed by the top
 * SW_BLOCK_HINT_BITS of a scan key's fingerprint. A slot holds the latest
 * expires_ns of the blocks written for its peers (0: none): once the clock
 * has reached it, none of them is blocked and "blocked" is not looked up.
 * Only raised, never lowered. */
#define SW_BLOCK_HINT_BITS 12
#define SW_BLOCK_HINT_SLOTS (1U << SW_BLOCK_HINT_BITS)
#define SW_BLOCK_HINT_SLOT(fp) ((__u32)((fp) >> (64 - SW_BLOCK_HINT_BITS)))
/* About 650 records (a record is sw_event plus an 8-byte header). One
 * thread drains it as records arrive, so it only has to absorb a burst; user
 * space maps the data area twice, and at 256 KiB that was 7 % of an idle
 * exporter's RSS. */
#define SW_RINGBUF_BYTES (128 * 1024)

/* A peer for scan tracking and blocking: the masked source, as in
 * sw_peer_key, but across interfaces, outcomes and actions. Key of the LRU
 * hashes "scan_track" and "blocked". */
struct sw_scan_key {
	__u8 family;	 /* enum sw_family */
	__u8 prefix_len; /* mask applied to addr */
	__u8 pad[2];	 /* zero */
	__u8 addr[16];	 /* network byte order, masked */
};

/* Functions that the XDP program and the exporter share. */
#ifdef __cplusplus
#define SW_INLINE inline
#else
#define SW_INLINE static __inline__ __attribute__((always_inline))
#endif
/* The products of five words with five constants, xored. */
SW_INLINE __u64 sw_word_products(__u32 w0, __u32 w1, __u32 w2, __u32 w3, __u32 w4)
{
	return (w0 * 0x9e3779b97f4a7c15ULL) ^ (w1 * 0xff51afd7ed558ccdULL) ^
	       (w2 * 0xc4ceb9fe1a85ec53ULL) ^ (w3 * 0xd6e8feb86659fd93ULL) ^
	       (w4 * 0xa0761d6478bd642fULL);
}

/* The fold: the high half into the low, then a multiply to carry it up. */
SW_INLINE __u64 sw_fold(__u64 h)
{
	h ^= h >> 32;
	return h * 0x94d049bb133111ebULL;
}

/* Fingerprint of a scan key, from its five 32-bit words as they lie in
 * memory; only its top 32 bits are used (door index and check, hint slot).
 * The words are multiplied independently and the products folded once, so a
 * tracked SYN waits on two multiplies rather than a chain of five (about
 * 7 ns a SYN here; tests/bench/README.md); the fold spreads keys that differ
 * only in their high bits, such as consecutive addresses, whose last byte is
 * the top byte of a little-endian word. User space computes it too, for the
 * hints of carried-over blocks (BpfProgram::RaiseBlockHints). */
SW_INLINE __u64 sw_scan_fingerprint(__u32 w0, __u32 w1, __u32 w2, __u32 w3, __u32 w4)
{
	return sw_fold(sw_word_products(w0, w1, w2, w3, w4));
}

/* Distinct destination ports a peer sent SYNs to, with the time each was
 * last seen. A slot is 0 (free) or ((port + 1) << 48 | last_seen_ms), where
 * last_seen_ms is bpf_ktime_get_coarse_ns() / 1e6 (CLOCK_MONOTONIC, a tick behind at most); slots
 * are claimed and refreshed with atomic compare-and-exchange, so SYNs of one peer on several CPUs
 * neither lose a port nor count one twice for long. */
struct sw_scan_state {
	__u64 slots[SW_SCAN_SLOTS];
};

#define SW_SLOT_PORT(slot) ((__u16)(((slot) >> 48) - 1)) /* port 65535 wraps to tag 0 and back */
#define SW_SLOT_MS(slot) ((slot) & ((1ULL << 48) - 1))
#define SW_SLOT(port, ms) ((((__u64)(port) + 1) << 48) | ((ms) & ((1ULL << 48) - 1)))

/* Value of "blocked": the peer's SYNs are blocked until expires_ns
 * (bpf_ktime_get_coarse_ns(), CLOCK_MONOTONIC); an expired entry no longer blocks and is
 * overwritten by the next detection. */
struct sw_block {
	__u64 expires_ns;
	__u64 detected_ns;
};

enum sw_event_type {
	SW_EVENT_SCAN = 1,	 /* a port scan was detected */
	SW_EVENT_CONNECTION = 2, /* a SYN (log.connections) */
};

/* A record of the "events" ring buffer. */
struct sw_event {
	__u8 type;    /* enum sw_event_type */
	__u8 family;  /* enum sw_family */
	__u8 outcome; /* enum sw_outcome (of this SYN) */
	__u8 action;  /* enum sw_action (of this SYN; for a scan: what its next SYNs get) */
	__u32 ifindex;
	__u8 src[16]; /* network byte order, unmasked */
	__u8 dst[16]; /* network byte order */
	__u16 sport;  /* host byte order */
	__u16 dport;  /* host byte order */
	__u16 nports; /* SW_EVENT_SCAN: entries used in ports[] */
	__u16 pad;
	__u64 block_ns; /* SW_EVENT_SCAN: block duration in force, 0 = detect only */
	__u16 ports[SW_SCAN_SLOTS + 3]; /* SW_EVENT_SCAN: distinct ports in the window, ascending */
};

/*
 * The dispatcher hand-over (xdp.attach = "dispatcher"). While user space
 * moves "active" from an earlier synwatch's token to its own, the one-entry
 * __u64 array "handover" holds the token being put in charge (0 at any other
 * time). Meanwhile the first synwatch program a packet meets notes what it
 * read in "active" in this per-CPU entry of "handover_note", and the next one
 * decides on that note instead of reading the map again, and clears it: both
 * decide on one read, so exactly one acts. XDP runs a packet through the
 * whole chain on one CPU before the next packet; a note is the current
 * packet's when it was written in this hand-over (target), by another program
 * (writer), for the same interface and receive queue. (Not XDP metadata:
 * Linux 6.12 refuses an extension program that changes packet data in a
 * dispatcher whose stubs do not, and those of Debian 12's libxdp 1.3 do
 * not.)
 */
struct sw_handover_note {
	__u64 target; /* the "handover" token it was written under, 0 = none */
	__u64 writer; /* sw_gate_token of the program that wrote it */
	__u64 token;  /* what "active" held when that program read it */
	__u32 ifindex;
	__u32 rx_queue;
};

#endif /* SYNWATCH_BPF_SYNWATCH_H_ */
