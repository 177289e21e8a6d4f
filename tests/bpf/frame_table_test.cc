// SPDX-License-Identifier: Apache-2.0
// Every crafted frame through the real program under a few policies: the
// class it lands in, the verdict, and the exact counters that moved.
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "packet_builder.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

struct FrameCase {
  std::string name;
  std::vector<uint8_t> frame;
  sw_class cls;
  sw_family family = SW_FAMILY_IPV4;  // of the source, for SYN rows
};

// What the policy does to every SYN in the table (all come from kSrc4 or
// kSrc6), and the peer each lands in.
struct PolicyCase {
  std::string name;
  TestPolicy policy;
  sw_outcome outcome;
  sw_action action;
  uint32_t syn_verdict;
  std::string peer4;
  std::string peer6;
};

PacketBuilder V4() {
  PacketBuilder b;
  b.Eth(ETH_P_IP);
  return b;
}

PacketBuilder V6() {
  PacketBuilder b;
  b.Eth(ETH_P_IPV6);
  return b;
}

std::vector<uint8_t> V4Tcp(uint8_t flags) {
  return V4().Ipv4({}).Tcp(flags).Build();
}
std::vector<uint8_t> V6Tcp(uint8_t flags) {
  return V6().Ipv6({}).Tcp(flags).Build();
}

// A chain of n destination-options headers in front of TCP.
std::vector<uint8_t> V6ExtChain(int n) {
  PacketBuilder b = V6();
  b.Ipv6({.next_header = IPPROTO_DSTOPTS});
  for (int i = 0; i < n; ++i) {
    b.Ipv6Ext(static_cast<uint8_t>(i + 1 < n ? int{IPPROTO_DSTOPTS}
                                             : int{IPPROTO_TCP}));
  }
  return b.Tcp(kTcpSyn).Build();
}

std::vector<FrameCase> FrameCases() {
  constexpr auto kV6 = SW_FAMILY_IPV6;
  std::vector<FrameCase> rows = {
      // Connection attempts.
      {"ipv4_syn", V4Tcp(kTcpSyn), SW_CLASS_SYN},
      {"ipv6_syn", V6Tcp(kTcpSyn), SW_CLASS_SYN, kV6},
      {"ipv4_syn_ece_cwr", V4Tcp(kTcpSyn | kTcpEce | kTcpCwr), SW_CLASS_SYN},
      {"ipv6_syn_ece_cwr", V6Tcp(kTcpSyn | kTcpEce | kTcpCwr), SW_CLASS_SYN,
       kV6},
      {"ipv4_syn_psh_urg", V4Tcp(kTcpSyn | kTcpPsh | kTcpUrg), SW_CLASS_SYN},
      {"ipv4_syn_fin", V4Tcp(kTcpSyn | kTcpFin), SW_CLASS_SYN},
      {"ipv4_syn_with_payload", V4().Ipv4({}).Tcp(kTcpSyn).Payload(64).Build(),
       SW_CLASS_SYN},
      {"ipv6_syn_with_payload", V6().Ipv6({}).Tcp(kTcpSyn).Payload(64).Build(),
       SW_CLASS_SYN, kV6},
      {"ipv4_syn_tcp_options", V4().Ipv4({}).Tcp(kTcpSyn, 10).Build(),
       SW_CLASS_SYN},
      {"ipv4_syn_tcp_doff_15", V4().Ipv4({}).Tcp(kTcpSyn, 15).Build(),
       SW_CLASS_SYN},
      {"dot1q_ipv4_syn",
       PacketBuilder()
           .Eth(ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN},
      {"dot1q_ipv6_syn",
       PacketBuilder()
           .Eth(ETH_P_8021Q)
           .Vlan(100, ETH_P_IPV6)
           .Ipv6({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"qinq_ipv4_syn",
       PacketBuilder()
           .Eth(kEthP8021ad)
           .Vlan(10, ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN},
      {"qinq_ipv6_syn",
       PacketBuilder()
           .Eth(kEthP8021ad)
           .Vlan(10, ETH_P_8021Q)
           .Vlan(100, ETH_P_IPV6)
           .Ipv6({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"double_dot1q_ipv4_syn",
       PacketBuilder()
           .Eth(ETH_P_8021Q)
           .Vlan(10, ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN},
      {"ipv4_first_fragment_syn",
       V4().Ipv4({.more_fragments = true}).Tcp(kTcpSyn).Build(), SW_CLASS_SYN},
      {"ipv6_hop_by_hop_syn",
       V6().Ipv6({.next_header = IPPROTO_HOPOPTS})
           .Ipv6Ext(IPPROTO_TCP)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"ipv6_ext_chain_syn",
       V6().Ipv6({.next_header = IPPROTO_HOPOPTS})
           .Ipv6Ext(IPPROTO_ROUTING)
           .Ipv6Ext(IPPROTO_DSTOPTS, 2)
           .Ipv6Ext(IPPROTO_FRAGMENT, 1)
           .Ipv6Fragment(IPPROTO_TCP, 0, true)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"ipv6_first_fragment_syn",
       V6().Ipv6({.next_header = IPPROTO_FRAGMENT})
           .Ipv6Fragment(IPPROTO_TCP, 0, true)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"ipv6_auth_header_syn",
       V6().Ipv6({.next_header = IPPROTO_AH})
           .Ipv6Auth(IPPROTO_TCP)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"ipv6_long_dest_opts_syn",
       V6().Ipv6({.next_header = IPPROTO_DSTOPTS})
           .Ipv6Ext(IPPROTO_TCP, 255)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN, kV6},
      {"ipv6_8_ext_headers_syn", V6ExtChain(8), SW_CLASS_SYN, kV6},

      // Other TCP.
      {"ipv4_syn_ack", V4Tcp(kTcpSyn | kTcpAck), SW_CLASS_TCP_OTHER},
      {"ipv6_syn_ack", V6Tcp(kTcpSyn | kTcpAck), SW_CLASS_TCP_OTHER},
      {"ipv4_ack", V4Tcp(kTcpAck), SW_CLASS_TCP_OTHER},
      {"ipv6_ack", V6Tcp(kTcpAck), SW_CLASS_TCP_OTHER},
      {"ipv4_rst", V4Tcp(kTcpRst), SW_CLASS_TCP_OTHER},
      {"ipv6_rst_ack", V6Tcp(kTcpRst | kTcpAck), SW_CLASS_TCP_OTHER},
      {"ipv4_fin_ack", V4Tcp(kTcpFin | kTcpAck), SW_CLASS_TCP_OTHER},
      {"ipv4_syn_ack_ece", V4Tcp(kTcpSyn | kTcpAck | kTcpEce),
       SW_CLASS_TCP_OTHER},
      {"ipv4_psh_ack_payload",
       V4().Ipv4({}).Tcp(kTcpPsh | kTcpAck).Payload(100).Build(),
       SW_CLASS_TCP_OTHER},
      {"qinq_ipv4_ack",
       PacketBuilder()
           .Eth(kEthP8021ad)
           .Vlan(10, ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .Ipv4({})
           .Tcp(kTcpAck)
           .Build(),
       SW_CLASS_TCP_OTHER},

      // IP, but nothing that can be a SYN.
      {"ipv4_udp", V4().Ipv4({.protocol = IPPROTO_UDP}).Udp().Build(),
       SW_CLASS_OTHER_IP},
      {"ipv6_udp", V6().Ipv6({.next_header = IPPROTO_UDP}).Udp().Build(),
       SW_CLASS_OTHER_IP},
      {"ipv4_icmp", V4().Ipv4({.protocol = IPPROTO_ICMP}).Icmp().Build(),
       SW_CLASS_OTHER_IP},
      {"ipv6_icmpv6",
       V6().Ipv6({.next_header = IPPROTO_ICMPV6}).Icmp(128).Build(),
       SW_CLASS_OTHER_IP},
      {"ipv6_no_next_header", V6().Ipv6({.next_header = IPPROTO_NONE}).Build(),
       SW_CLASS_OTHER_IP},
      {"ipv6_hop_by_hop_udp",
       V6().Ipv6({.next_header = IPPROTO_HOPOPTS})
           .Ipv6Ext(IPPROTO_UDP)
           .Udp()
           .Build(),
       SW_CLASS_OTHER_IP},
      // A later fragment starts with payload bytes, here ones that would
      // read as a SYN: they must not be taken for a TCP header.
      {"ipv4_later_fragment",
       V4().Ipv4({.frag_offset = 185}).Tcp(kTcpSyn).Build(), SW_CLASS_OTHER_IP},
      {"ipv4_last_fragment",
       V4().Ipv4({.frag_offset = 185, .more_fragments = false})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_OTHER_IP},
      // Past any TCP header (64 bytes on); one inside it is judged
      // (evasion_test.cc).
      {"ipv4_later_fragment_short",
       V4().Ipv4({.frag_offset = 8, .more_fragments = true}).Payload(8).Build(),
       SW_CLASS_OTHER_IP},
      {"ipv6_later_fragment",
       V6().Ipv6({.next_header = IPPROTO_FRAGMENT})
           .Ipv6Fragment(IPPROTO_TCP, 185, true)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_OTHER_IP},
      {"ipv6_later_fragment_after_hop_by_hop",
       V6().Ipv6({.next_header = IPPROTO_HOPOPTS})
           .Ipv6Ext(IPPROTO_FRAGMENT)
           .Ipv6Fragment(IPPROTO_TCP, 8, false)
           .Payload(8)
           .Build(),
       SW_CLASS_OTHER_IP},

      // Not IP at all.
      {"arp", PacketBuilder().Eth(ETH_P_ARP).Arp().Build(), SW_CLASS_NON_IP},
      {"dot1q_arp",
       PacketBuilder().Eth(ETH_P_8021Q).Vlan(5, ETH_P_ARP).Arp().Build(),
       SW_CLASS_NON_IP},
      {"lldp", PacketBuilder().Eth(kEthPLldp).Payload(40).Build(),
       SW_CLASS_NON_IP},
      // Every tag is walked (Linux strips them all).
      {"triple_tag_ipv4_syn",
       PacketBuilder()
           .Eth(kEthP8021ad)
           .Vlan(1, ETH_P_8021Q)
           .Vlan(2, ETH_P_8021Q)
           .Vlan(3, ETH_P_IP)
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_SYN},
      {"ethernet_header_only", PacketBuilder().Eth(ETH_P_ARP).Build(),
       SW_CLASS_NON_IP},

      // Truncated at (and just inside) every header boundary. A frame
      // shorter than an Ethernet header never reaches XDP: the test run
      // itself refuses it (see FrameTableTest.RuntFrameIsRefused).
      {"cut_after_ethernet_ipv4",
       V4().TruncateHere().Ipv4({}).Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"cut_after_ethernet_ipv6",
       V6().TruncateHere().Ipv6({}).Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"cut_inside_vlan_tag",
       PacketBuilder()
           .Eth(ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .TruncateHere(2)
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_inner_vlan_tag",
       PacketBuilder()
           .Eth(kEthP8021ad)
           .Vlan(10, ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .TruncateHere(1)
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_after_vlan_tag",
       PacketBuilder()
           .Eth(ETH_P_8021Q)
           .Vlan(100, ETH_P_IP)
           .TruncateHere()
           .Ipv4({})
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_ipv4_header",
       V4().Ipv4({}).TruncateHere(1).Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"cut_inside_ipv4_options",
       V4().Ipv4({.ihl = 15}).TruncateHere(4).Tcp(kTcpSyn).Build(),
       SW_CLASS_MALFORMED},
      {"cut_after_ipv4_header",
       V4().Ipv4({}).TruncateHere().Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"cut_inside_tcp_header",
       V4().Ipv4({}).Tcp(kTcpSyn).TruncateHere(1).Build(), SW_CLASS_MALFORMED},
      {"cut_inside_tcp_options",
       V4().Ipv4({}).Tcp(kTcpSyn, 6).TruncateHere(1).Build(),
       SW_CLASS_MALFORMED},
      {"cut_after_tcp_fixed_header",
       V4().Ipv4({}).Tcp(kTcpSyn, 15).TruncateHere(40).Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_ipv6_header",
       V6().Ipv6({}).TruncateHere(1).Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"cut_after_ipv6_header",
       V6().Ipv6({}).TruncateHere().Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"cut_before_ext_header",
       V6().Ipv6({.next_header = IPPROTO_HOPOPTS})
           .TruncateHere()
           .Ipv6Ext(IPPROTO_TCP)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_ext_header_length",
       V6().Ipv6({.next_header = IPPROTO_ROUTING})
           .Ipv6Ext(IPPROTO_TCP)
           .TruncateHere(7)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_ext_header_body",
       V6().Ipv6({.next_header = IPPROTO_DSTOPTS})
           .Ipv6Ext(IPPROTO_TCP, 3)
           .TruncateHere(1)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_fragment_header",
       V6().Ipv6({.next_header = IPPROTO_FRAGMENT})
           .Ipv6Fragment(IPPROTO_TCP, 0, true)
           .TruncateHere(1)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_auth_header",
       V6().Ipv6({.next_header = IPPROTO_AH})
           .Ipv6Auth(IPPROTO_TCP)
           .TruncateHere(1)
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_after_ext_chain",
       V6().Ipv6({.next_header = IPPROTO_HOPOPTS})
           .Ipv6Ext(IPPROTO_DSTOPTS)
           .Ipv6Ext(IPPROTO_TCP)
           .TruncateHere()
           .Tcp(kTcpSyn)
           .Build(),
       SW_CLASS_MALFORMED},
      {"cut_inside_ipv6_tcp_options",
       V6().Ipv6({}).Tcp(kTcpSyn, 10).TruncateHere(3).Build(),
       SW_CLASS_MALFORMED},

      // Invalid header fields.
      {"ipv4_ethertype_version_6",
       V4().Ipv4({.version = 6}).Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      {"ipv6_ethertype_version_4",
       V6().Ipv6({.version = 4}).Tcp(kTcpSyn).Build(), SW_CLASS_MALFORMED},
      // Every extension header is walked (the kernel follows any chain).
      {"ipv6_9_ext_headers", V6ExtChain(9), SW_CLASS_SYN, SW_FAMILY_IPV6},
  };

  // Every IHL: below 5 is invalid, 6..15 carry options the parser must skip.
  // The payload keeps a parser that trusted a short IHL from being saved by
  // running out of bytes: it would find a "TCP header" inside the IP one.
  for (uint8_t ihl = 0; ihl <= 15; ++ihl) {
    if (ihl == 5) continue;
    rows.push_back({"ipv4_ihl_" + std::to_string(ihl) + "_syn",
                    V4().Ipv4({.ihl = ihl}).Tcp(kTcpSyn).Payload(60).Build(),
                    ihl < 5 ? SW_CLASS_MALFORMED : SW_CLASS_SYN});
  }
  // And every TCP data offset below 5, in both families.
  for (uint8_t doff = 0; doff < 5; ++doff) {
    rows.push_back({"ipv4_tcp_doff_" + std::to_string(doff),
                    V4().Ipv4({}).Tcp(kTcpSyn, doff).Payload(20).Build(),
                    SW_CLASS_MALFORMED});
    rows.push_back({"ipv6_tcp_doff_" + std::to_string(doff),
                    V6().Ipv6({}).Tcp(kTcpSyn, doff).Payload(20).Build(),
                    SW_CLASS_MALFORMED, SW_FAMILY_IPV6});
  }
  return rows;
}

std::vector<PolicyCase> PolicyCases() {
  return {
      // Everything denied: SYNs drop, and nothing else may.
      {"deny_all",
       {.deny = {"0.0.0.0/0", "::/0"},
        .ipv4_prefix_len = 24,
        .ipv6_prefix_len = 64},
       SW_OUTCOME_DENIED,
       SW_ACTION_DROP,
       XDP_DROP,
       "192.0.2.0/24",
       "2001:db8:1:2::/64"},
      {"unmatched_pass",
       {},
       SW_OUTCOME_UNMATCHED,
       SW_ACTION_PASS,
       XDP_PASS,
       "192.0.2.56/32",
       "2001:db8:1:2:3:4:5:6/128"},
      {"allow_all_default_drop",
       {.allow = {"0.0.0.0/0", "::/0"}, .default_drop = true},
       SW_OUTCOME_ALLOWED,
       SW_ACTION_PASS,
       XDP_PASS,
       "192.0.2.56/32",
       "2001:db8:1:2:3:4:5:6/128"},
  };
}

class FrameTableTest
    : public XdpTest,
      public ::testing::WithParamInterface<std::tuple<FrameCase, PolicyCase>> {
};

TEST_P(FrameTableTest, VerdictAndCounters) {
  const auto& [row, policy] = GetParam();
  // One CPU: a denied source's verdict cache entry is per CPU.
  const CpuPin pin(0);
  ASSERT_TRUE(pin.ok());
  Apply(policy.policy);

  const RunResult run = prog_.Run(row.frame, kLoIfindex);
  ASSERT_EQ(run.err, 0) << std::strerror(run.err);

  std::map<std::string, uint64_t> counters = {
      {std::string("class.") + ClassName(row.cls), 1}};
  std::map<std::string, uint64_t> peers;
  uint32_t verdict = XDP_PASS;
  if (row.cls == SW_CLASS_SYN) {
    verdict = policy.syn_verdict;
    counters[std::string("syn.") + OutcomeName(policy.outcome) + "." +
             ActionName(policy.action)] = 1;
    const std::string& peer =
        row.family == SW_FAMILY_IPV4 ? policy.peer4 : policy.peer6;
    peers[ExpectedPeer(peer, policy.outcome, policy.action)] = 1;
  }
  EXPECT_EQ(run.verdict, verdict);
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
  // Every SYN is in its peer's series from the first, whatever its outcome,
  // family or encapsulation; nothing is left out of the series.
  EXPECT_EQ(prog_.Peers(), peers);
  EXPECT_TRUE(prog_.NoPeerCounters(Slot()).empty());
  EXPECT_TRUE(prog_.OtherBusySlots(Slot()).empty());
  ASSERT_EQ(prog_.Run(row.frame, kLoIfindex).verdict, verdict);
  for (auto& [peer, count] : peers) count = 2;
  EXPECT_EQ(prog_.Peers(), peers);
  EXPECT_EQ(prog_.ExpectPeerIdentity(Slot(), kLoIfindex),
            row.cls == SW_CLASS_SYN ? 2u : 0u);
}

INSTANTIATE_TEST_SUITE_P(Frames, FrameTableTest,
                         ::testing::Combine(::testing::ValuesIn(FrameCases()),
                                            ::testing::ValuesIn(PolicyCases())),
                         [](const auto& row) {
                           return std::get<1>(row.param).name + "__" +
                                  std::get<0>(row.param).name;
                         });

// Names must be unique, or gtest would silently run one row twice.
TEST(FrameTableRowsTest, NamesAreUnique) {
  std::map<std::string, int> seen;
  for (const FrameCase& row : FrameCases()) ++seen[row.name];
  for (const auto& [name, n] : seen) EXPECT_EQ(n, 1) << name;
}

class FrameTableMiscTest : public XdpTest {};

// Frames shorter than an Ethernet header cannot be handed to XDP, so the
// table cannot hold them; this pins that assumption.
TEST_F(FrameTableMiscTest, RuntFrameIsRefused) {
  const std::vector<uint8_t> frame = V4().TruncateHere(1).Build();
  EXPECT_EQ(prog_.Run(frame, kLoIfindex).err, EINVAL);
}

}  // namespace
}  // namespace synwatch
