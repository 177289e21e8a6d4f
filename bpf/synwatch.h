/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * synwatch ABI: every map key and value, enum and limit shared by the XDP
 * program (bpf/synwatch.bpf.c) and the exporter (exporter/). Only
 * <linux/types.h> types, explicit padding, no implicit holes: the C++ side
 * pins the layout with static_assert (exporter/abi.h).
 *
 * Bump SW_ABI_VERSION whenever a key or value layout below changes; pinned
 * maps of another version are never read (see README, "Upgrades").
 */
#ifndef SYNWATCH_BPF_SYNWATCH_H_
#define SYNWATCH_BPF_SYNWATCH_H_

#include <linux/types.h>

#define SW_ABI_VERSION 1

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
	SW_OUTCOME_COUNT,
};

enum sw_action {
	SW_ACTION_PASS = 0,
	SW_ACTION_DROP,
	SW_ACTION_COUNT,
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
	__u8 pad0[3];
	__u32 scan_max_ports; /* more distinct ports than this is a scan */
	__u32 pad1;
	__u64 scan_window_ns; /* sliding window */
	__u64 block_ns;	      /* block duration, 0 = detect only */
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
	__u8 pad[3];
};

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

#endif /* SYNWATCH_BPF_SYNWATCH_H_ */
