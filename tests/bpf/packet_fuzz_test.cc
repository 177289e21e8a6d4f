// SPDX-License-Identifier: Apache-2.0
// Packet fuzzing through BPF_PROG_TEST_RUN: tens of thousands of random and
// mutated frames through the real program, each checked against a reference
// classifier written here from README's data path, byte offset by byte
// offset, sharing no code with bpf/parsing.h:
//   - every frame lands in exactly the class the reference names, and the
//     class counters add up to the frames sent (nothing counted twice, and
//     nothing lost);
//   - a SYN is counted only for a frame with a complete TCP header, SYN set
//     and ACK clear, under the outcome and action the rules give its source,
//     and only in the per-peer entry of its source masked to the prefix
//     (exactly, unless a doorkeeper holds back peers with one SYN);
//   - only such a SYN can be dropped.
// The frames come from a fixed seed, printed so that a failure can be
// replayed: SYNWATCH_PACKET_FUZZ_SEED=<seed> (and _FRAMES=<n> for more).
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "base/net.h"
#include "packet_builder.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

constexpr uint64_t kDefaultSeed = 0x5eed'5711'a7c4'0001;
constexpr size_t kDefaultRandomFrames = 24000;

// EtherTypes and IP protocol numbers, spelled out rather than taken from
// the program's headers.
constexpr uint16_t kEthIpv4 = 0x0800;
constexpr uint16_t kEthIpv6 = 0x86dd;
constexpr uint16_t kEthVlan = 0x8100;
constexpr uint16_t kEthQinQ = 0x88a8;
constexpr uint8_t kProtoHopOpts = 0;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoRouting = 43;
constexpr uint8_t kProtoFragment = 44;
constexpr uint8_t kProtoAh = 51;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoNone = 59;
constexpr uint8_t kProtoDstOpts = 60;

// What the program judges besides a SYN (its enum attempt_kind).
enum Kind { kNone = -1, kSyn = 0, kSplitFirst, kProbe, kSplitLater };

// The policy every frame runs under: rules that overlap (allow wins), a
// default that drops, no dry run, peers masked below full width.
constexpr uint8_t kIpv4PrefixLen = 30;
constexpr uint8_t kIpv6PrefixLen = 124;
const std::vector<std::string> kAllow = {"192.0.2.0/24", "2001:db8:1:2::/64"};
const std::vector<std::string> kDeny = {"192.0.2.0/26", "198.51.100.0/25",
                                        "2001:db8:1::/48"};

const char* const kSources4[] = {"192.0.2.56", "192.0.2.5", "198.51.100.7",
                                 "198.51.100.200", "203.0.113.9"};
const char* const kSources6[] = {kSrc6, "2001:db8:1:99::1", "2001:db8:2::1",
                                 "2001:db8:1:2::ff"};

// What the reference makes of a frame.
struct Expected {
  sw_class cls = SW_CLASS_MALFORMED;
  Kind kind = kNone;                 // judged by its source unless kNone
  Family family = Family::kIpv4;     // judged only
  std::array<uint8_t, 16> source{};  // judged only, unmasked
};

uint16_t Get16(const std::vector<uint8_t>& f, size_t at) {
  return static_cast<uint16_t>(f[at] << 8 | f[at + 1]);
}

Expected Result(sw_class cls) {
  Expected e;
  e.cls = cls;
  return e;
}

Expected Judged(sw_class cls, Kind kind, Family family, const uint8_t* source) {
  Expected e = Result(cls);
  e.kind = kind;
  e.family = family;
  std::memcpy(e.source.data(), source, family == Family::kIpv4 ? 4 : 16);
  return e;
}

// TCP at offset at: a segment needs the whole header (options included, data
// offset 5 or more). ACK set, or RST without SYN: not an attempt. SYN: an
// attempt. None of SYN, ACK, RST: a probe.
Expected ClassifyTcp(const std::vector<uint8_t>& f, size_t at, Family family,
                     const uint8_t* source) {
  if (at + 20 > f.size()) return Result(SW_CLASS_MALFORMED);
  const size_t data_offset = f[at + 12] >> 4;
  if (data_offset < 5 || at + data_offset * 4 > f.size()) {
    return Result(SW_CLASS_MALFORMED);
  }
  const uint8_t flags = f[at + 13];
  if ((flags & kTcpAck) != 0) return Result(SW_CLASS_TCP_OTHER);
  if ((flags & kTcpSyn) != 0) {
    return Judged(SW_CLASS_SYN, kSyn, family, source);
  }
  if ((flags & kTcpRst) != 0) return Result(SW_CLASS_TCP_OTHER);
  return Judged(SW_CLASS_TCP_OTHER, kProbe, family, source);
}

// A TCP fragment offset bytes into the transport header, holding tcp_bytes
// of it by its IP length (a first fragment), at offset at of the frame.
Expected ClassifySplit(const std::vector<uint8_t>& f, size_t at, Family family,
                       const uint8_t* source, size_t offset, long tcp_bytes) {
  if (offset != 0) {
    if (offset >= 60) return Result(SW_CLASS_OTHER_IP);
    return Judged(SW_CLASS_OTHER_IP, kSplitLater, family, source);
  }
  if (at + static_cast<size_t>(tcp_bytes) > f.size()) {
    return Result(SW_CLASS_MALFORMED);
  }
  if (tcp_bytes >= 20 && tcp_bytes >= (f[at + 12] >> 4) * 4) {
    return ClassifyTcp(f, at, family, source);
  }
  if (tcp_bytes < 4) {
    return Judged(SW_CLASS_OTHER_IP, kSplitLater, family, source);
  }
  return Judged(SW_CLASS_SYN, kSplitFirst, family, source);
}

Expected Classify(const std::vector<uint8_t>& f) {
  const size_t n = f.size();
  if (n < 14) return Result(SW_CLASS_MALFORMED);
  uint16_t type = Get16(f, 12);
  size_t at = 14;
  // Every tag: Linux strips them all.
  while (type == kEthVlan || type == kEthQinQ) {
    if (at + 4 > n) return Result(SW_CLASS_MALFORMED);
    type = Get16(f, at + 2);
    at += 4;
  }

  if (type == kEthIpv4) {
    if (at + 20 > n) return Result(SW_CLASS_MALFORMED);
    const size_t version = f[at] >> 4;
    const size_t ihl = f[at] & 0x0f;
    if (version != 4 || ihl < 5 || at + ihl * 4 > n) {
      return Result(SW_CLASS_MALFORMED);
    }
    if (f[at + 9] != kProtoTcp) return Result(SW_CLASS_OTHER_IP);
    const uint16_t frag = Get16(f, at + 6);
    if ((frag & 0x3fff) == 0) {
      return ClassifyTcp(f, at + ihl * 4, Family::kIpv4, &f[at + 12]);
    }
    const long tcp_bytes =
        static_cast<long>(Get16(f, at + 2)) - static_cast<long>(ihl * 4);
    if (tcp_bytes < 0) return Result(SW_CLASS_MALFORMED);
    return ClassifySplit(f, at + ihl * 4, Family::kIpv4, &f[at + 12],
                         (frag & 0x1fff) * 8u, tcp_bytes);
  }

  if (type == kEthIpv6) {
    if (at + 40 > n || f[at] >> 4 != 6) return Result(SW_CLASS_MALFORMED);
    const uint8_t* source = &f[at + 8];
    const size_t payload_len = Get16(f, at + 4);
    uint8_t next = f[at + 6];
    at += 40;
    const size_t chain_start = at;
    int frag = -1;  // frag_off of the last fragment header
    for (;;) {
      size_t len = 0;
      if (next == kProtoHopOpts || next == kProtoRouting ||
          next == kProtoDstOpts) {
        if (at + 8 > n) return Result(SW_CLASS_MALFORMED);
        len = (static_cast<size_t>(f[at + 1]) + 1) * 8;
      } else if (next == kProtoAh) {
        if (at + 8 > n) return Result(SW_CLASS_MALFORMED);
        len = (static_cast<size_t>(f[at + 1]) + 2) * 4;
      } else if (next == kProtoFragment) {
        if (at + 8 > n) return Result(SW_CLASS_MALFORMED);
        len = 8;
        frag = Get16(f, at + 2);
      } else {
        break;
      }
      const bool later = next == kProtoFragment && (frag & 0xfff8) != 0;
      next = f[at];
      at += len;
      if (later) {
        if (at > n) return Result(SW_CLASS_MALFORMED);
        if (next != kProtoTcp && next != kProtoHopOpts &&
            next != kProtoRouting && next != kProtoDstOpts &&
            next != kProtoAh && next != kProtoFragment) {
          return Result(SW_CLASS_OTHER_IP);
        }
        return ClassifySplit(f, at, Family::kIpv6, source, frag & 0xfff8, 0);
      }
    }
    if (at > n) return Result(SW_CLASS_MALFORMED);
    if (next != kProtoTcp) return Result(SW_CLASS_OTHER_IP);
    if (frag >= 0 && (frag & 1) != 0) {
      const long tcp_bytes =
          static_cast<long>(payload_len) - static_cast<long>(at - chain_start);
      if (tcp_bytes < 0) return Result(SW_CLASS_MALFORMED);
      return ClassifySplit(f, at, Family::kIpv6, source, 0, tcp_bytes);
    }
    return ClassifyTcp(f, at, Family::kIpv6, source);
  }
  return Result(SW_CLASS_NON_IP);
}

// README's order: allowed, then denied, then unmatched.
sw_outcome OutcomeOf(Family family, const std::array<uint8_t, 16>& source) {
  const Cidr host{family, source, MaxPrefixLen(family)};
  const auto in = [&host](const std::vector<std::string>& list) {
    return std::any_of(list.begin(), list.end(), [&host](const auto& text) {
      std::string error;
      const std::optional<Cidr> rule = ParseCidr(text, &error);
      return rule && rule->Contains(host);
    });
  };
  if (in(kAllow)) return SW_OUTCOME_ALLOWED;
  if (in(kDeny)) return SW_OUTCOME_DENIED;
  return SW_OUTCOME_UNMATCHED;
}

std::string Hex(const std::vector<uint8_t>& f) {
  std::string out;
  char buf[4];
  for (size_t i = 0; i < f.size(); ++i) {
    std::snprintf(buf, sizeof(buf), "%02x", f[i]);
    out += buf;
    if (i % 32 == 31) out += '\n';
  }
  return out;
}

// Random and mutated frames.
class FrameSource {
 public:
  explicit FrameSource(uint64_t seed) : rng_(seed) {}

  size_t Below(size_t n) {
    return std::uniform_int_distribution<size_t>(0, n - 1)(rng_);
  }
  bool Chance(int percent) { return Below(100) < static_cast<size_t>(percent); }
  uint8_t Byte() { return static_cast<uint8_t>(Below(256)); }

  template <typename T, size_t N>
  T Pick(const T (&items)[N]) {
    return items[Below(N)];
  }

  // Anywhere in the documentation ranges, so that masking and the rules
  // see many peers.
  std::string RandomSource4() {
    static constexpr const char* kNets[] = {"192.0.2.", "198.51.100.",
                                            "203.0.113."};
    return Pick(kNets) + std::to_string(Below(256));
  }
  std::string RandomSource6() {
    char text[64];
    std::snprintf(text, sizeof(text), "2001:db8:%zx:%zx::%zx:%zx", Below(3),
                  Below(4), Below(65536), Below(65536));
    return text;
  }

  // A frame assembled from randomly chosen, mostly plausible headers:
  // VLAN tags, IPv4 with random version/IHL/protocol/fragment fields, IPv6
  // with a random extension chain, TCP with random data offset and flags.
  std::vector<uint8_t> Structured() {
    PacketBuilder b;
    const uint16_t l3 = Chance(45)   ? kEthIpv4
                        : Chance(85) ? kEthIpv6
                                     : Pick(kOtherEtherTypes);
    const size_t tags = Chance(60) ? 0 : Chance(90) ? 1 + Below(2) : 3;
    std::vector<uint16_t> types;
    for (size_t i = 0; i < tags; ++i) {
      types.push_back(Chance(50) ? kEthVlan : kEthQinQ);
    }
    types.push_back(l3);
    b.Eth(types[0]);
    for (size_t i = 1; i < types.size(); ++i) {
      b.Vlan(static_cast<uint16_t>(Below(4096)), types[i]);
    }

    uint8_t proto = kProtoTcp;
    if (l3 == kEthIpv4) {
      Ipv4Spec spec;
      spec.src = Chance(70) ? Pick(kSources4) : RandomSource4();
      if (Chance(10)) spec.version = static_cast<uint8_t>(Below(16));
      if (Chance(20)) spec.ihl = static_cast<uint8_t>(Below(16));
      if (Chance(20)) spec.protocol = Pick(kProtocols);
      if (Chance(15)) spec.frag_offset = static_cast<uint16_t>(Below(8192));
      spec.more_fragments = Chance(10);
      proto = spec.protocol;
      b.Ipv4(spec);
    } else if (l3 == kEthIpv6) {
      Ipv6Spec spec;
      spec.src = Chance(70) ? Pick(kSources6) : RandomSource6();
      if (Chance(10)) spec.version = static_cast<uint8_t>(Below(16));
      const size_t chain = Chance(50)   ? 0
                           : Chance(70) ? 1 + Below(3)
                                        : 4 + Below(7);
      std::vector<uint8_t> exts;
      for (size_t i = 0; i < chain; ++i) exts.push_back(Pick(kExtensions));
      proto = Chance(80) ? kProtoTcp : Pick(kProtocols);
      spec.next_header = exts.empty() ? proto : exts[0];
      b.Ipv6(spec);
      for (size_t i = 0; i < exts.size(); ++i) {
        const uint8_t next = i + 1 < exts.size() ? exts[i + 1] : proto;
        switch (exts[i]) {
          case kProtoFragment:
            b.Ipv6Fragment(next,
                           Chance(70) ? 0 : static_cast<uint16_t>(Below(8192)),
                           Chance(50));
            break;
          case kProtoAh:
            b.Ipv6Auth(next, static_cast<uint8_t>(Below(7)));
            break;
          default:
            b.Ipv6Ext(next, static_cast<uint8_t>(Chance(70) ? 0 : Below(4)));
        }
      }
    } else {
      proto = 0;
      if (l3 == ETH_P_ARP) b.Arp();
    }

    if (proto == kProtoTcp || Chance(10)) {
      const uint8_t flags = Chance(40)   ? kTcpSyn
                            : Chance(33) ? kTcpSyn | kTcpAck
                            : Chance(50) ? kTcpAck
                                         : Byte();
      const uint8_t doff = Chance(80) ? 5 : static_cast<uint8_t>(Below(16));
      b.Tcp(flags, doff, static_cast<uint16_t>(Below(65536)),
            static_cast<uint16_t>(Below(65536)));
    } else if (proto == kProtoUdp) {
      b.Udp();
    } else if (proto != kProtoNone) {
      b.Icmp();
    }
    b.Payload(Chance(70) ? 0 : Below(64));
    return b.Build();
  }

  // Byte-level damage on top: bit flips, random bytes, cuts, insertions and
  // deletions, mostly within the headers.
  void Mutate(std::vector<uint8_t>& f) {
    const size_t rounds = 1 + Below(4);
    for (size_t r = 0; r < rounds && !f.empty(); ++r) {
      const size_t at = Below(std::min<size_t>(f.size(), 128));
      switch (Below(6)) {
        case 0:
        case 1:
          f[at] ^= static_cast<uint8_t>(1u << Below(8));
          break;
        case 2:
          f[at] = Byte();
          break;
        case 3:
          f.resize(Below(f.size() + 1));
          break;
        case 4: {
          const size_t n = 1 + Below(8);
          std::vector<uint8_t> bytes(n);
          for (uint8_t& byte : bytes) byte = Byte();
          f.insert(f.begin() + static_cast<ptrdiff_t>(at), bytes.begin(),
                   bytes.end());
          break;
        }
        default: {
          const size_t n = std::min<size_t>(1 + Below(8), f.size() - at);
          f.erase(f.begin() + static_cast<ptrdiff_t>(at),
                  f.begin() + static_cast<ptrdiff_t>(at + n));
        }
      }
    }
  }

  // Noise, half of it behind an IP EtherType so that it reaches the IP
  // parsers.
  std::vector<uint8_t> Noise() {
    std::vector<uint8_t> f(14 + Below(120));
    for (uint8_t& byte : f) byte = Byte();
    if (Chance(50)) {
      const uint16_t type = Chance(50) ? kEthIpv4 : kEthIpv6;
      f[12] = static_cast<uint8_t>(type >> 8);
      f[13] = static_cast<uint8_t>(type & 0xff);
    }
    return f;
  }

  std::vector<uint8_t> Next() {
    if (Chance(5)) return Noise();
    std::vector<uint8_t> f = Structured();
    if (Chance(50)) Mutate(f);
    return f;
  }

 private:
  static constexpr uint16_t kOtherEtherTypes[] = {
      ETH_P_ARP, kEthPLldp, 0x9000, 0x0000, 0xffff, 0x86dc, 0x0801, 0x8847};
  static constexpr uint8_t kProtocols[] = {
      kProtoTcp, kProtoUdp,     1,   kProtoIcmp6, kProtoNone, kProtoFragment,
      kProtoAh,  kProtoHopOpts, 255, 132};
  static constexpr uint8_t kExtensions[] = {
      kProtoHopOpts, kProtoRouting, kProtoDstOpts, kProtoFragment, kProtoAh};

  std::mt19937_64 rng_;
};

// Valid frames of every shape the program knows, each cut at every length.
std::vector<std::vector<uint8_t>> ValidFrames() {
  std::vector<std::vector<uint8_t>> frames;
  const auto v4 = [] {
    PacketBuilder b;
    b.Eth(ETH_P_IP);
    return b;
  };
  const auto v6 = [] {
    PacketBuilder b;
    b.Eth(ETH_P_IPV6);
    return b;
  };
  for (const char* src : kSources4) frames.push_back(SynFrame(src));
  for (const char* src : kSources6) frames.push_back(SynFrame(src));
  frames.push_back(v4().Ipv4({.ihl = 15}).Tcp(kTcpSyn, 15).Build());
  frames.push_back(v4().Ipv4({}).Tcp(kTcpSyn | kTcpAck).Build());
  frames.push_back(v4().Ipv4({.more_fragments = true}).Tcp(kTcpSyn).Build());
  frames.push_back(v4().Ipv4({.frag_offset = 1}).Tcp(kTcpSyn).Build());
  frames.push_back(v4().Ipv4({.protocol = IPPROTO_UDP}).Udp().Build());
  frames.push_back(v6().Ipv6({.next_header = IPPROTO_ICMPV6}).Icmp().Build());
  frames.push_back(PacketBuilder()
                       .Eth(kEthQinQ)
                       .Vlan(10, kEthVlan)
                       .Vlan(20, ETH_P_IP)
                       .Ipv4({})
                       .Tcp(kTcpSyn)
                       .Build());
  frames.push_back(PacketBuilder()
                       .Eth(kEthVlan)
                       .Vlan(10, ETH_P_IPV6)
                       .Ipv6({.next_header = IPPROTO_HOPOPTS})
                       .Ipv6Ext(IPPROTO_ROUTING, 1)
                       .Ipv6Ext(IPPROTO_FRAGMENT)
                       .Ipv6Fragment(IPPROTO_AH, 0, true)
                       .Ipv6Auth(IPPROTO_DSTOPTS)
                       .Ipv6Ext(IPPROTO_TCP)
                       .Tcp(kTcpSyn, 8)
                       .Build());
  frames.push_back(v6().Ipv6({.next_header = IPPROTO_FRAGMENT})
                       .Ipv6Fragment(IPPROTO_TCP, 1, false)
                       .Tcp(kTcpSyn)
                       .Build());
  frames.push_back(PacketBuilder().Eth(ETH_P_ARP).Arp().Build());
  return frames;
}

// A frame since the last counter check, for the failure message.
struct RunFrameRecord {
  std::string origin;
  std::vector<uint8_t> frame;
  sw_class cls;
};

std::string Describe(const RunFrameRecord& record) {
  return record.origin + ": reference class " + ClassName(record.cls) + ", " +
         std::to_string(record.frame.size()) + " bytes:\n" + Hex(record.frame) +
         "\n";
}

class PacketFuzzTest : public XdpTest {
 protected:
  void SetUp() override {
    XdpTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    Apply({.allow = kAllow,
           .deny = kDeny,
           .default_drop = true,
           .dry_run = false,
           .ipv4_prefix_len = kIpv4PrefixLen,
           .ipv6_prefix_len = kIpv6PrefixLen,
           // Random sources come faster than any flood limit: off, so that
           // every SYN must be in its peer's series.
           .flood_new_peers = 0});
  }

  // Runs one frame and checks its verdict; every kCheckEvery frames (reading
  // the counters costs more than running a frame), every counter of the slot
  // against the running expectation. False at the first difference.
  bool RunFrame(const std::vector<uint8_t>& frame, const std::string& origin) {
    const RunResult run = prog_.Run(frame, kLoIfindex);
    if (frame.size() < ETH_HLEN) {
      // XDP cannot be handed a frame without an Ethernet header.
      EXPECT_EQ(run.err, EINVAL) << origin;
      ++refused_;
      return run.err == EINVAL;
    }
    if (run.err != 0) {
      ADD_FAILURE() << origin
                    << ": BPF_PROG_TEST_RUN: " << std::strerror(run.err);
      return false;
    }
    ++sent_;
    const Expected want = Classify(frame);
    ++counters_[std::string("class.") + ClassName(want.cls)];
    uint32_t verdict = XDP_PASS;
    if (want.kind != kNone) {
      const sw_outcome outcome = OutcomeOf(want.family, want.source);
      const sw_action action =
          outcome == SW_OUTCOME_ALLOWED ? SW_ACTION_PASS : SW_ACTION_DROP;
      verdict = action == SW_ACTION_DROP ? XDP_DROP : XDP_PASS;
      const std::string oa =
          std::string(OutcomeName(outcome)) + "." + ActionName(action);
      if (want.kind == kProbe) ++counters_["probe." + oa];
      if (want.kind == kSplitFirst) ++counters_["split.first." + oa];
      if (want.kind == kSplitLater) ++counters_["split.later." + oa];
      if (want.kind == kSyn || want.kind == kSplitFirst) {
        ++counters_["syn." + oa];
        sw_peer_key key{};
        key.ifindex = kLoIfindex;
        key.family =
            want.family == Family::kIpv4 ? SW_FAMILY_IPV4 : SW_FAMILY_IPV6;
        key.prefix_len =
            want.family == Family::kIpv4 ? kIpv4PrefixLen : kIpv6PrefixLen;
        key.outcome = static_cast<uint8_t>(outcome);
        key.action = static_cast<uint8_t>(action);
        std::array<uint8_t, 16> masked = want.source;
        MaskAddress(masked, want.family, key.prefix_len);
        std::memcpy(key.addr, masked.data(), sizeof(key.addr));
        ++peers_[PeerLabel(key)];
        ++syns_;
      }
    }
    window_.push_back({origin, frame, want.cls});
    if (run.verdict != verdict) {
      ADD_FAILURE() << Describe(window_.back()) << "verdict " << run.verdict
                    << ", want " << verdict;
      return false;
    }
    return window_.size() < kCheckEvery || CheckCounters();
  }

  // The counters against the expectation; on a difference, the frames run
  // since the last check, one of which was counted wrong.
  bool CheckCounters() {
    const std::map<std::string, uint64_t> got = prog_.SlotCounters(Slot());
    if (got != counters_) {
      std::string frames;
      for (const RunFrameRecord& record : window_) frames += Describe(record);
      ADD_FAILURE() << "counters " << ::testing::PrintToString(got) << "\nwant "
                    << ::testing::PrintToString(counters_)
                    << "\nafter one of these frames:\n"
                    << frames;
      return false;
    }
    window_.clear();
    return true;
  }

  // The totals once every frame has run: classes add up to frames sent,
  // SYN outcome counters and per-peer entries add up to the SYNs.
  void CheckTotals() {
    uint64_t classes = 0;
    uint64_t syn_outcomes = 0;
    for (const auto& [name, n] : prog_.SlotCounters(Slot())) {
      if (name.starts_with("class.")) classes += n;
      if (name.starts_with("syn.")) syn_outcomes += n;
    }
    EXPECT_EQ(classes, sent_);
    EXPECT_EQ(syn_outcomes, syns_);

    // Every peer entry is one the reference expects, never counted more.
    const std::map<std::string, uint64_t> peers = prog_.Peers();
    uint64_t peer_total = 0;
    for (const auto& [label, n] : peers) {
      peer_total += n;
      const auto want = peers_.find(label);
      EXPECT_TRUE(want != peers_.end() && n <= want->second)
          << label << " counted " << n << " times, want "
          << (want == peers_.end() ? 0 : want->second);
    }
    // Flood admission off: every SYN is in its peer's series, exactly as
    // the reference parser counts, and none is without one.
    EXPECT_EQ(peer_total, syns_);
    EXPECT_EQ(peers, peers_);
    EXPECT_TRUE(prog_.NoPeerCounters(Slot()).empty());
    EXPECT_TRUE(prog_.OtherBusySlots(Slot()).empty());
  }

  static constexpr size_t kCheckEvery = 16;

  std::vector<RunFrameRecord> window_;  // frames since the last check
  uint64_t sent_ = 0;
  uint64_t refused_ = 0;
  uint64_t syns_ = 0;
  std::map<std::string, uint64_t> counters_;
  std::map<std::string, uint64_t> peers_;
};

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  return std::strtoull(text, nullptr, 0);
}

// The reference itself, on frames whose class is known from the other
// BPF tests: if it were wrong, the fuzz test would chase its mistakes.
TEST(PacketReferenceTest, ClassifiesKnownFrames) {
  const auto cls = [](const std::vector<uint8_t>& f) {
    return Classify(f).cls;
  };
  EXPECT_EQ(cls(SynFrame(kSrc4)), SW_CLASS_SYN);
  EXPECT_EQ(cls(SynFrame(kSrc6)), SW_CLASS_SYN);
  EXPECT_EQ(cls(PacketBuilder().Eth(ETH_P_IP).Ipv4({}).Tcp(kTcpAck).Build()),
            SW_CLASS_TCP_OTHER);
  EXPECT_EQ(cls(PacketBuilder()
                    .Eth(ETH_P_IP)
                    .Ipv4({})
                    .Tcp(kTcpSyn | kTcpAck)
                    .Build()),
            SW_CLASS_TCP_OTHER);
  EXPECT_EQ(
      cls(PacketBuilder().Eth(ETH_P_IP).Ipv4({.ihl = 4}).Tcp(kTcpSyn).Build()),
      SW_CLASS_MALFORMED);
  EXPECT_EQ(cls(PacketBuilder().Eth(ETH_P_IP).Ipv4({}).Tcp(kTcpSyn, 4).Build()),
            SW_CLASS_MALFORMED);
  EXPECT_EQ(cls(PacketBuilder()
                    .Eth(ETH_P_IP)
                    .Ipv4({})
                    .Tcp(kTcpSyn)
                    .TruncateHere(1)
                    .Build()),
            SW_CLASS_MALFORMED);
  EXPECT_EQ(cls(PacketBuilder()
                    .Eth(ETH_P_IP)
                    .Ipv4({.frag_offset = 1})
                    .Tcp(kTcpSyn)
                    .Build()),
            SW_CLASS_OTHER_IP);
  EXPECT_EQ(cls(PacketBuilder().Eth(ETH_P_ARP).Arp().Build()), SW_CLASS_NON_IP);
  EXPECT_EQ(cls(PacketBuilder()
                    .Eth(kEthVlan)
                    .Vlan(1, kEthVlan)
                    .Vlan(2, kEthVlan)
                    .Vlan(3, ETH_P_IP)
                    .Ipv4({})
                    .Tcp(kTcpSyn)
                    .Build()),
            SW_CLASS_SYN);
  // Every extension header is walked, however many.
  for (int n : {8, 9, 100}) {
    PacketBuilder b;
    b.Eth(ETH_P_IPV6).Ipv6({.next_header = IPPROTO_DSTOPTS});
    for (int i = 0; i < n; ++i) {
      b.Ipv6Ext(static_cast<uint8_t>(i + 1 < n ? int{IPPROTO_DSTOPTS}
                                               : int{IPPROTO_TCP}));
    }
    EXPECT_EQ(cls(b.Tcp(kTcpSyn).Build()), SW_CLASS_SYN) << n;
  }
}

TEST_F(PacketFuzzTest, RandomAndMutatedFramesAreCountedOnce) {
  const uint64_t seed = EnvNumber("SYNWATCH_PACKET_FUZZ_SEED", kDefaultSeed);
  const size_t random_frames = static_cast<size_t>(
      EnvNumber("SYNWATCH_PACKET_FUZZ_FRAMES", kDefaultRandomFrames));
  std::cout << "[   SEED   ] SYNWATCH_PACKET_FUZZ_SEED=0x" << std::hex << seed
            << std::dec << " SYNWATCH_PACKET_FUZZ_FRAMES=" << random_frames
            << std::endl;
  RecordProperty("seed", std::to_string(seed));

  // Every valid frame cut at every length, the frame itself included.
  const std::vector<std::vector<uint8_t>> valid = ValidFrames();
  for (size_t i = 0; i < valid.size(); ++i) {
    for (size_t len = 0; len <= valid[i].size(); ++len) {
      const std::vector<uint8_t> cut(
          valid[i].begin(), valid[i].begin() + static_cast<ptrdiff_t>(len));
      ASSERT_TRUE(RunFrame(cut, "valid frame " + std::to_string(i) +
                                    " cut to " + std::to_string(len)));
    }
  }
  ASSERT_TRUE(CheckCounters());

  char seed_text[32];
  std::snprintf(seed_text, sizeof(seed_text), "%#llx",
                static_cast<unsigned long long>(seed));
  FrameSource source(seed);
  for (size_t i = 0; i < random_frames; ++i) {
    const std::vector<uint8_t> frame = source.Next();
    ASSERT_TRUE(RunFrame(
        frame, "random frame " + std::to_string(i) + " of seed " + seed_text));
  }
  ASSERT_TRUE(CheckCounters());
  CheckTotals();

  std::cout << "[   SENT   ] " << sent_ << " frames (" << refused_
            << " runts refused by the kernel), " << syns_ << " SYNs in "
            << peers_.size() << " peer entries; by class:";
  for (const auto& [name, n] : counters_) {
    if (name.starts_with("class.")) std::cout << " " << name << "=" << n;
  }
  std::cout << std::endl;
}

}  // namespace
}  // namespace synwatch
