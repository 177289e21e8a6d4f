/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cursor-style packet parsers for the XDP program. Each helper checks that
 * the header it reads lies inside the packet, advances the cursor past it and
 * returns the next protocol, or a negative value when the header is truncated
 * or invalid. Callers decide what a failure means; nothing here returns or
 * jumps on their behalf.
 */
#ifndef SYNWATCH_BPF_PARSING_H_
#define SYNWATCH_BPF_PARSING_H_

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* 802.1Q and 802.1ad tags walked inline: two (QinQ). Linux strips any
 * number of priority tags (VID 0) before IP sees a frame, so a frame with
 * more goes on through vlan_walk() below. */
#define VLAN_MAX_DEPTH 2

/*
 * Bounds of the walks by offset below, in bpf_loop() rounds: a VLAN tag
 * takes 4 bytes and an extension header 8 at least, so these cover any
 * frame up to 128 KiB (and IPv6 allows 64 KiB of payload), more than any
 * linear XDP frame, native or generic. A walk therefore never stops short
 * of the frame's end: it reaches the header after the chain, or finds the
 * frame truncated, which the kernel drops too.
 */
#define VLAN_WALK_MAX (128 * 1024 / 4)
#define IPV6_EXT_WALK_MAX (128 * 1024 / 8)

#define IP_FRAG_OFFSET_MASK 0x1fff  /* IPv4 frag_off, host order */
#define IP_FRAG_MF 0x2000	    /* IPv4 frag_off, host order: more fragments */
#define IP6_FRAG_OFFSET_MASK 0xfff8 /* IPv6 frag_off, host order */

/* Not in the UAPI headers (the kernel keeps them in net/). */
struct vlan_hdr {
	__be16 h_vlan_TCI;
	__be16 h_vlan_encapsulated_proto;
};

struct ipv6_frag_hdr {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units << 3, low bit: more */
	__be32 identification;
};

struct hdr_cursor {
	void *pos;
};

static __always_inline int proto_is_vlan(__u16 h_proto)
{
	return h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Ethernet plus up to VLAN_MAX_DEPTH tags. Returns the inner EtherType in
 * network byte order, and in *l3_off where it ends; after a third tag that is
 * still a VLAN TPID (the caller walks on with vlan_walk()).
 */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end, __u32 *l3_off)
{
	struct ethhdr *eth = nh->pos;
	struct vlan_hdr *vlh;
	__u16 h_proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;
	nh->pos = eth + 1;
	*l3_off = sizeof(*eth);
	/* struct ethhdr is packed, so clang would load h_proto byte by byte;
	 * it sits at an even offset, read it in one go. */
	h_proto = ((__be16 *)eth)[6];

#pragma unroll
	for (i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(h_proto))
			break;
		vlh = nh->pos;
		if ((void *)(vlh + 1) > data_end)
			return -1;
		nh->pos = vlh + 1;
		*l3_off += sizeof(*vlh);
		h_proto = vlh->h_vlan_encapsulated_proto;
	}
	return h_proto;
}

/* Returns the IP protocol; -1 when truncated, not version 4, or IHL < 5. */
static __always_inline int parse_iphdr(struct hdr_cursor *nh, void *data_end, struct iphdr **iphdr)
{
	struct iphdr *iph = nh->pos;
	int hdrsize;

	if ((void *)(iph + 1) > data_end)
		return -1;
	/* Almost every packet has no options: settle that with one compare. */
	if (*(__u8 *)iph == 0x45) {
		nh->pos = iph + 1;
		*iphdr = iph;
		return iph->protocol;
	}
	if (iph->version != 4 || iph->ihl < 5)
		return -1;
	hdrsize = iph->ihl * 4;
	/* Options are part of the header: a cut inside them is truncation. */
	if (nh->pos + hdrsize > data_end)
		return -1;
	nh->pos += hdrsize;
	*iphdr = iph;
	return iph->protocol;
}

/* Only the fragment at offset 0 holds the transport header. */
static __always_inline int ip_is_later_fragment(const struct iphdr *iph)
{
	return (iph->frag_off & bpf_htons(IP_FRAG_OFFSET_MASK)) != 0;
}

/* Returns the next header of the fixed IPv6 header; -1 when truncated or
 * not version 6. */
static __always_inline int parse_ip6hdr(struct hdr_cursor *nh, void *data_end,
					struct ipv6hdr **ip6hdr)
{
	struct ipv6hdr *ip6h = nh->pos;

	if ((void *)(ip6h + 1) > data_end)
		return -1;
	if (ip6h->version != 6)
		return -1;
	nh->pos = ip6h + 1;
	*ip6hdr = ip6h;
	return ip6h->nexthdr;
}

static __always_inline int ipv6_is_ext(__u8 next_hdr)
{
	return next_hdr == IPPROTO_HOPOPTS || next_hdr == IPPROTO_ROUTING ||
	       next_hdr == IPPROTO_DSTOPTS || next_hdr == IPPROTO_AH ||
	       next_hdr == IPPROTO_FRAGMENT;
}

/* Fragment header seen: hdr_walk.frag holds this bit and the header's
 * frag_off in host order. */
#define IP6_FRAG_SEEN 0x10000

/*
 * State of the walks that go on where the inline ones stop, one bpf_loop()
 * round per header. They read through bpf_xdp_load_bytes() at an offset, so
 * the verifier checks one round, not one path per header. Frames with more
 * than VLAN_MAX_DEPTH tags take the first, IPv6 packets with extension
 * headers the second.
 */
struct hdr_walk {
	struct xdp_md *ctx;
	__u32 off;   /* of the next header, from the frame's start */
	__u32 frag;  /* IPv6: IP6_FRAG_SEEN | frag_off of a fragment header */
	__u16 proto; /* VLAN walk: the EtherType at off - 2, network order */
	__u8 next;   /* IPv6 walk: the type of the header at off */
	__s8 result; /* 0 going on, 1 done, -1 truncated */
	__u8 vlan;   /* 1: the VLAN walk, 0: the IPv6 one */
};

static __always_inline long vlan_step(struct hdr_walk *w)
{
	struct vlan_hdr vlh;

	if (!proto_is_vlan(w->proto)) {
		w->result = 1;
		return 1;
	}
	if (bpf_xdp_load_bytes(w->ctx, w->off, &vlh, sizeof(vlh))) {
		w->result = -1;
		return 1;
	}
	w->off += sizeof(vlh);
	w->proto = vlh.h_vlan_encapsulated_proto;
	return 0;
}

/* Walks the tags from w->off on, the first's TPID in w->proto. Returns the
 * EtherType after them (network order), w->off its end; -1 when truncated. */
static long walk_step(__u32 i, void *data);

static __always_inline int vlan_walk(struct hdr_walk *w)
{
	w->result = 0;
	w->vlan = 1;
	bpf_loop(VLAN_WALK_MAX, walk_step, w, 0);
	return w->result == 1 ? w->proto : -1;
}

static __always_inline long ip6_ext_step(struct hdr_walk *w)
{
	struct ipv6_frag_hdr hdr; /* 8 bytes: every extension header has them */
	__u32 len;

	if (!ipv6_is_ext(w->next)) {
		w->result = 1;
		return 1;
	}
	if (bpf_xdp_load_bytes(w->ctx, w->off, &hdr, sizeof(hdr))) {
		w->result = -1;
		return 1;
	}
	if (w->next == IPPROTO_FRAGMENT) {
		w->frag = IP6_FRAG_SEEN | bpf_ntohs(hdr.frag_off);
		len = sizeof(hdr);
	} else if (w->next == IPPROTO_AH) {
		len = (hdr.reserved + 2) * 4; /* RFC 4302: 4-octet units, minus 2 */
	} else {
		len = (hdr.reserved + 1) * 8; /* hdrlen: 8-octet units, minus 1 */
	}
	w->off += len;
	if (w->next == IPPROTO_FRAGMENT && (w->frag & IP6_FRAG_OFFSET_MASK)) {
		/* A later fragment: nothing after its header to walk. */
		w->next = hdr.nexthdr;
		w->result = 1;
		return 1;
	}
	w->next = hdr.nexthdr;
	return 0;
}

/* One callback for both walks: each callback is a frame of its own, and
 * tests/bpf/stack_check.sh adds up every frame. */
static long walk_step(__u32 i, void *data)
{
	struct hdr_walk *w = data;

	return w->vlan ? vlan_step(w) : ip6_ext_step(w);
}

/* Walks the extension headers from w->off on, the first's type in w->next.
 * Returns the upper-layer protocol, w->off where it starts;
 * IPPROTO_FRAGMENT for a later fragment (w->next: the header after the
 * fragment header); -1 when a header is truncated. */
static __always_inline int ip6_ext_walk(struct hdr_walk *w)
{
	w->result = 0;
	w->vlan = 0;
	bpf_loop(IPV6_EXT_WALK_MAX, walk_step, w, 0);
	if (w->result != 1)
		return -1;
	if (w->frag & IP6_FRAG_OFFSET_MASK)
		return IPPROTO_FRAGMENT;
	return w->next;
}

/* Returns the TCP header length; -1 when truncated (options included) or
 * the data offset is below 5. */
static __always_inline int parse_tcphdr(struct hdr_cursor *nh, void *data_end,
					struct tcphdr **tcphdr)
{
	struct tcphdr *tcph = nh->pos;
	int len;

	if ((void *)(tcph + 1) > data_end)
		return -1;
	if (tcph->doff < 5)
		return -1;
	len = tcph->doff * 4;
	if (nh->pos + len > data_end)
		return -1;
	nh->pos += len;
	*tcphdr = tcph;
	return len;
}

#endif /* SYNWATCH_BPF_PARSING_H_ */
