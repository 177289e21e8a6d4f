// SPDX-License-Identifier: Apache-2.0
// Frames that dress up a connection attempt so that a parser would miss it:
// IP fragments that split the TCP header (either order, IPv4 and IPv6),
// more VLAN tags or IPv6 extension headers than an unrolled walk follows,
// NULL/FIN/Xmas probes. Each row is a sequence of frames with the verdict of
// each and the counters it must move, under a deny rule, an allow rule, no
// rule, and dry run; and frames that are no attempt must pass from a denied
// source too. tests/e2e/evasion_test.sh sends the same frames to a real
// kernel.
#include <linux/if_ether.h>

#include <map>
#include <string>
#include <vector>

#include "packet_builder.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

constexpr uint8_t kProtoDstOpts = 60;
constexpr uint8_t kProtoFragment = 44;
constexpr uint16_t kEthVlan = 0x8100;

// A TCP header (doff 5 or more, NOP options) as bytes.
std::vector<uint8_t> TcpBytes(uint8_t flags, uint8_t doff = 5,
                              uint16_t dport = 80) {
  return PacketBuilder().Tcp(flags, doff, 40000, dport).Build();
}

std::vector<uint8_t> Slice(const std::vector<uint8_t>& b, size_t from,
                           size_t to) {
  return std::vector<uint8_t>(b.begin() + from, b.begin() + to);
}

// An IPv4 fragment of a TCP segment from src: bytes [from, to) of tcp.
std::vector<uint8_t> Frag4(const std::string& src,
                           const std::vector<uint8_t>& tcp, size_t from,
                           size_t to, bool more) {
  return PacketBuilder()
      .Eth(ETH_P_IP)
      .Ipv4({.src = src,
             .frag_offset = static_cast<uint16_t>(from / 8),
             .more_fragments = more})
      .Bytes(Slice(tcp, from, to))
      .Build();
}

std::vector<uint8_t> Frag6(const std::string& src,
                           const std::vector<uint8_t>& tcp, size_t from,
                           size_t to, bool more) {
  return PacketBuilder()
      .Eth(ETH_P_IPV6)
      .Ipv6({.src = src, .next_header = kProtoFragment})
      .Ipv6Fragment(IPPROTO_TCP, static_cast<uint16_t>(from / 8), more)
      .Bytes(Slice(tcp, from, to))
      .Build();
}

// A SYN behind n VLAN tags (VID 0, alternating 802.1ad and 802.1Q TPIDs).
std::vector<uint8_t> TaggedSyn(const std::string& src, int n) {
  const bool v6 = src.find(':') != std::string::npos;
  PacketBuilder b;
  b.Eth(kEthP8021ad);
  for (int i = 0; i < n; ++i) {
    const uint16_t last = v6 ? ETH_P_IPV6 : ETH_P_IP;
    const uint16_t inner = i + 1 < n ? (i % 2 ? kEthP8021ad : kEthVlan) : last;
    b.Vlan(0, inner);
  }
  if (v6) {
    b.Ipv6({.src = src});
  } else {
    b.Ipv4({.src = src});
  }
  return b.Tcp(kTcpSyn).Build();
}

// A SYN behind n destination-options headers.
std::vector<uint8_t> LongChainSyn(const std::string& src, int n) {
  PacketBuilder b;
  b.Eth(ETH_P_IPV6).Ipv6({.src = src, .next_header = kProtoDstOpts});
  for (int i = 0; i < n; ++i) {
    b.Ipv6Ext(i + 1 < n ? kProtoDstOpts : uint8_t{IPPROTO_TCP});
  }
  return b.Tcp(kTcpSyn).Build();
}

std::vector<uint8_t> Segment(const std::string& src, uint8_t flags,
                             uint16_t dport = 80) {
  return PacketBuilder()
      .Eth(ETH_P_IP)
      .Ipv4({.src = src})
      .Tcp(flags, 5, 40000, dport)
      .Build();
}

constexpr char kDenied4[] = "192.0.2.56";
constexpr char kDenied6[] = "2001:db8:1:2:3:4:5:6";
constexpr char kUnmatched4[] = "203.0.113.9";

const TestPolicy kDeny = {.deny = {"192.0.2.0/24", "2001:db8:1::/48"}};

struct Frame {
  std::vector<uint8_t> bytes;
  uint32_t verdict;
};

struct EvasionCase {
  std::string name;
  TestPolicy policy;
  std::vector<Frame> frames;
  std::map<std::string, uint64_t> counters;  // every non-zero counter
};

std::vector<EvasionCase> Cases() {
  const auto syn20 = TcpBytes(kTcpSyn);
  const auto syn40 = TcpBytes(kTcpSyn, 10);
  const auto ack20 = TcpBytes(kTcpAck);
  constexpr uint32_t kDrop = XDP_DROP;
  constexpr uint32_t kPass = XDP_PASS;
  TestPolicy allow = kDeny;
  allow.allow = {"192.0.2.56/32"};
  TestPolicy dry = kDeny;
  dry.dry_run = true;
  return {
      {"v4_first_8_bytes",
       kDeny,
       {{Frag4(kDenied4, syn20, 0, 8, true), kDrop},
        {Frag4(kDenied4, syn20, 8, 20, false), kDrop}},
       {{"class.syn", 1},
        {"class.other_ip", 1},
        {"syn.denied.drop", 1},
        {"split.first.denied.drop", 1},
        {"split.later.denied.drop", 1}}},
      {"v4_first_16_bytes_reversed",
       kDeny,
       {{Frag4(kDenied4, syn20, 16, 20, false), kDrop},
        {Frag4(kDenied4, syn20, 0, 16, true), kDrop}},
       {{"class.syn", 1},
        {"class.other_ip", 1},
        {"syn.denied.drop", 1},
        {"split.first.denied.drop", 1},
        {"split.later.denied.drop", 1}}},
      {"v4_24_of_40_bytes",
       kDeny,
       {{Frag4(kDenied4, syn40, 0, 24, true), kDrop},
        {Frag4(kDenied4, syn40, 24, 40, false), kDrop}},
       {{"class.syn", 1},
        {"class.other_ip", 1},
        {"syn.denied.drop", 1},
        {"split.first.denied.drop", 1},
        {"split.later.denied.drop", 1}}},
      {"v6_24_of_40_bytes_reversed",
       kDeny,
       {{Frag6(kDenied6, syn40, 24, 40, false), kDrop},
        {Frag6(kDenied6, syn40, 0, 24, true), kDrop}},
       {{"class.syn", 1},
        {"class.other_ip", 1},
        {"syn.denied.drop", 1},
        {"split.first.denied.drop", 1},
        {"split.later.denied.drop", 1}}},
      {"three_priority_tags",
       kDeny,
       {{TaggedSyn(kDenied4, 3), kDrop}},
       {{"class.syn", 1}, {"syn.denied.drop", 1}}},
      {"forty_tags_v6",
       kDeny,
       {{TaggedSyn(kDenied6, 40), kDrop}},
       {{"class.syn", 1}, {"syn.denied.drop", 1}}},
      {"nine_destination_options",
       kDeny,
       {{LongChainSyn(kDenied6, 9), kDrop}},
       {{"class.syn", 1}, {"syn.denied.drop", 1}}},
      {"two_hundred_destination_options",
       kDeny,
       {{LongChainSyn(kDenied6, 200), kDrop}},
       {{"class.syn", 1}, {"syn.denied.drop", 1}}},
      {"null_fin_xmas_probes_denied",
       kDeny,
       {{Segment(kDenied4, 0), kDrop},
        {Segment(kDenied4, kTcpFin), kDrop},
        {Segment(kDenied4, kTcpFin | kTcpPsh | kTcpUrg), kDrop}},
       {{"class.tcp_other", 3}, {"probe.denied.drop", 3}}},
      {"probe_unmatched_passes",
       kDeny,
       {{Segment(kUnmatched4, kTcpFin), kPass}},
       {{"class.tcp_other", 1}, {"probe.unmatched.pass", 1}}},
      {"split_unmatched_passes",
       kDeny,
       {{Frag4(kUnmatched4, syn20, 0, 8, true), kPass},
        {Frag4(kUnmatched4, syn20, 8, 20, false), kPass}},
       {{"class.syn", 1},
        {"class.other_ip", 1},
        {"syn.unmatched.pass", 1},
        {"split.first.unmatched.pass", 1},
        {"split.later.unmatched.pass", 1}}},
      {"split_allowed_passes",
       allow,
       {{Frag4(kDenied4, syn20, 0, 8, true), kPass},
        {Frag4(kDenied4, syn20, 8, 20, false), kPass}},
       {{"class.syn", 1},
        {"class.other_ip", 1},
        {"syn.allowed.pass", 1},
        {"split.first.allowed.pass", 1},
        {"split.later.allowed.pass", 1}}},
      {"dry_run_counts_and_passes",
       dry,
       {{Frag4(kDenied4, syn20, 0, 8, true), kPass},
        {Frag4(kDenied4, syn20, 8, 20, false), kPass},
        {TaggedSyn(kDenied4, 4), kPass},
        {Segment(kDenied4, kTcpFin), kPass}},
       {{"class.syn", 2},
        {"class.other_ip", 1},
        {"class.tcp_other", 1},
        {"syn.denied.pass", 2},
        {"split.first.denied.pass", 1},
        {"split.later.denied.pass", 1},
        {"probe.denied.pass", 1}}},
      // Established sessions are never cut: what is provably not an
      // attempt passes from a denied source too.
      {"non_attempts_from_denied_pass",
       kDeny,
       {{Segment(kDenied4, kTcpAck | kTcpPsh), kPass},
        {Segment(kDenied4, kTcpRst), kPass},
        {Segment(kDenied4, kTcpRst | kTcpAck), kPass},
        {Segment(kDenied4, kTcpFin | kTcpAck), kPass},
        // A first fragment with the whole header, an ACK: data.
        {Frag4(kDenied4, ack20, 0, 20, true), kPass},
        // A later fragment past any TCP header (offset 64).
        {PacketBuilder()
             .Eth(ETH_P_IP)
             .Ipv4({.src = kDenied4, .frag_offset = 8})
             .Payload(32)
             .Build(),
         kPass},
        {PacketBuilder()
             .Eth(ETH_P_IPV6)
             .Ipv6({.src = kDenied6, .next_header = kProtoFragment})
             .Ipv6Fragment(IPPROTO_TCP, 8, false)
             .Payload(32)
             .Build(),
         kPass},
        // Fragmented UDP, both parts.
        {PacketBuilder()
             .Eth(ETH_P_IP)
             .Ipv4({.src = kDenied4,
                    .protocol = IPPROTO_UDP,
                    .more_fragments = true})
             .Udp()
             .Payload(16)
             .Build(),
         kPass},
        {PacketBuilder()
             .Eth(ETH_P_IP)
             .Ipv4({.src = kDenied4, .protocol = IPPROTO_UDP, .frag_offset = 3})
             .Payload(16)
             .Build(),
         kPass}},
       {{"class.tcp_other", 5}, {"class.other_ip", 4}}},
  };
}

class EvasionTest : public XdpTest,
                    public ::testing::WithParamInterface<EvasionCase> {};

TEST_P(EvasionTest, JudgedByWhatIsVisible) {
  const EvasionCase& c = GetParam();
  Apply(c.policy);
  for (size_t i = 0; i < c.frames.size(); ++i) {
    const RunResult run = prog_.Run(c.frames[i].bytes, kLoIfindex);
    ASSERT_EQ(run.err, 0) << "frame " << i;
    EXPECT_EQ(run.verdict, c.frames[i].verdict) << "frame " << i;
  }
  EXPECT_EQ(prog_.SlotCounters(Slot()), c.counters);
}

INSTANTIATE_TEST_SUITE_P(Frames, EvasionTest, ::testing::ValuesIn(Cases()),
                         [](const auto& row) { return row.param.name; });

// A stealth scan and a fragmented scan from an unmatched source are
// detected like a SYN scan, and the scanner's next frames are blocked: a
// SYN, a probe, and a fragment without ports alike.
TEST_F(XdpTest, StealthAndFragmentedScansAreDetectedAndBlocked) {
  Apply({.scan_enabled = true, .scan_max_ports = 3});
  const std::string fin_scanner = "203.0.113.20";
  for (uint16_t port = 20; port < 24; ++port) {
    ASSERT_EQ(
        prog_.Run(Segment(fin_scanner, kTcpFin, port), kLoIfindex).verdict,
        XDP_PASS);
  }
  EXPECT_TRUE(prog_.Blocked(fin_scanner, 32).has_value());
  EXPECT_EQ(prog_.Run(Segment(fin_scanner, kTcpSyn, 80), kLoIfindex).verdict,
            XDP_DROP);
  EXPECT_EQ(prog_.Run(Segment(fin_scanner, 0, 81), kLoIfindex).verdict,
            XDP_DROP);

  const std::string frag_scanner = "203.0.113.21";
  for (uint16_t port = 20; port < 24; ++port) {
    const auto tcp = TcpBytes(kTcpSyn, 5, port);
    ASSERT_EQ(
        prog_.Run(Frag4(frag_scanner, tcp, 0, 8, true), kLoIfindex).verdict,
        XDP_PASS);
  }
  EXPECT_TRUE(prog_.Blocked(frag_scanner, 32).has_value());
  const auto tcp = TcpBytes(kTcpSyn, 5, 80);
  EXPECT_EQ(
      prog_.Run(Frag4(frag_scanner, tcp, 8, 20, false), kLoIfindex).verdict,
      XDP_DROP);
  EXPECT_EQ(prog_.Run(Frag4(frag_scanner, tcp, 0, 8, true), kLoIfindex).verdict,
            XDP_DROP);

  const auto counters = prog_.SlotCounters(Slot());
  EXPECT_EQ(counters.at("port_scans"), 2u);
  EXPECT_EQ(counters.at("probe.unmatched.pass"), 4u);
  EXPECT_EQ(counters.at("probe.blocked.drop"), 1u);
  EXPECT_EQ(counters.at("syn.unmatched.pass"), 4u);
  EXPECT_EQ(counters.at("split.first.unmatched.pass"), 4u);
  EXPECT_EQ(counters.at("syn.blocked.drop"), 2u);
  EXPECT_EQ(counters.at("split.later.blocked.drop"), 1u);
  EXPECT_EQ(counters.at("split.first.blocked.drop"), 1u);
}

}  // namespace
}  // namespace synwatch
