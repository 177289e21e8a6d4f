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

/* DESIGN.md: 802.1Q and 802.1ad, at most two tags (QinQ). */
#define VLAN_MAX_DEPTH 2

/*
 * Longest IPv6 extension-header chain we walk. Real stacks send one or two;
 * a longer chain cannot be classified, and the caller counts it malformed
 * rather than letting it hide a SYN from the rules unnoticed.
 */
#define IPV6_EXT_MAX_CHAIN 8

#define IP_FRAG_OFFSET_MASK 0x1fff  /* IPv4 frag_off, host order */
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
 * network byte order; after a third tag that is still a VLAN TPID, which the
 * caller sees as "not IP".
 */
static __always_inline int parse_ethhdr(struct hdr_cursor *nh, void *data_end)
{
	struct ethhdr *eth = nh->pos;
	struct vlan_hdr *vlh;
	__u16 h_proto;
	int i;

	if ((void *)(eth + 1) > data_end)
		return -1;
	nh->pos = eth + 1;
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

/*
 * Walks the extension headers that may precede the transport header.
 * Returns the upper-layer protocol; IPPROTO_FRAGMENT when the packet is a
 * non-first fragment (there is no transport header to find); -1 when a header
 * is truncated or the chain is longer than IPV6_EXT_MAX_CHAIN.
 */
static __always_inline int skip_ip6hdrext(struct hdr_cursor *nh, void *data_end, __u8 next_hdr)
{
	struct ipv6_opt_hdr *hdr;
	struct ipv6_frag_hdr *frag;
	int i;

#pragma unroll
	for (i = 0; i < IPV6_EXT_MAX_CHAIN; i++) {
		hdr = nh->pos;
		switch (next_hdr) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if ((void *)(hdr + 1) > data_end)
				return -1;
			if (nh->pos + (hdr->hdrlen + 1) * 8 > data_end)
				return -1;
			nh->pos += (hdr->hdrlen + 1) * 8;
			next_hdr = hdr->nexthdr;
			break;
		case IPPROTO_AH:
			/* RFC 4302: length in 4-octet units, minus 2. */
			if ((void *)(hdr + 1) > data_end)
				return -1;
			if (nh->pos + (hdr->hdrlen + 2) * 4 > data_end)
				return -1;
			nh->pos += (hdr->hdrlen + 2) * 4;
			next_hdr = hdr->nexthdr;
			break;
		case IPPROTO_FRAGMENT:
			frag = nh->pos;
			if ((void *)(frag + 1) > data_end)
				return -1;
			if (frag->frag_off & bpf_htons(IP6_FRAG_OFFSET_MASK))
				return IPPROTO_FRAGMENT;
			nh->pos = frag + 1;
			next_hdr = frag->nexthdr;
			break;
		default:
			return next_hdr;
		}
	}
	if (ipv6_is_ext(next_hdr))
		return -1;
	return next_hdr;
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
