// SPDX-License-Identifier: Apache-2.0
// Fleet decisions (the CrowdSec bouncer's "decisions" trie) in the XDP
// program: outcome "banned" after the allow and deny lists, IPv4 and IPv6
// prefixes, expiry in the kernel without user space, dry run, and the
// verdict cache left alone by decision changes; banned SYNs counted by the
// decision's origin, through the bouncer's table writer and the scrape's
// reader.
#include <linux/if_ether.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crowdsec/bouncer.h"
#include "packet_builder.h"
#include "xdp/map_reader.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

constexpr uint64_t kMs = 1000000;
constexpr uint64_t kHour = 3600ULL * 1000 * kMs;

class CrowdsecTest : public XdpTest {
 protected:
  uint32_t Syn(const std::string& source) {
    const RunResult r = prog_.Run(SynFrame(source), kLoIfindex);
    EXPECT_EQ(r.err, 0);
    return r.verdict;
  }
  std::map<std::string, uint64_t> Counters() const {
    return prog_.SlotCounters(Slot());
  }
};

TEST_F(CrowdsecTest, BannedAddressAndRangesOfBothFamiliesAreDropped) {
  Apply({.decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  prog_.WriteDecision("203.0.113.9/32", until);
  prog_.WriteDecision("198.51.100.0/24", until);
  prog_.WriteDecision("2001:db8:66::/48", until);
  prog_.WriteDecision("2001:db8::7/128", until);

  EXPECT_EQ(Syn("203.0.113.9"), XDP_DROP);
  EXPECT_EQ(Syn("203.0.113.10"), XDP_PASS);
  EXPECT_EQ(Syn("198.51.100.77"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8:66:1::5"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8:67::5"), XDP_PASS);
  EXPECT_EQ(Syn("2001:db8::7"), XDP_DROP);
  const auto c = Counters();
  EXPECT_EQ(c.at("syn.banned.drop"), 4U);
  EXPECT_EQ(c.at("syn.unmatched.pass"), 2U);
  const auto peers = prog_.Peers();
  EXPECT_EQ(peers.at(ExpectedPeer("203.0.113.9/32", SW_OUTCOME_BANNED,
                                  SW_ACTION_DROP)),
            1U);
  EXPECT_EQ(peers.at(ExpectedPeer("2001:db8:66:1::5/128", SW_OUTCOME_BANNED,
                                  SW_ACTION_DROP)),
            1U);
}

TEST_F(CrowdsecTest, AllowWinsAndDenyComesFirst) {
  Apply({.allow = {"203.0.113.0/28"},
         .deny = {"198.51.100.0/24"},
         .decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  prog_.WriteDecision("203.0.113.0/24", until);
  prog_.WriteDecision("198.51.100.9/32", until);

  EXPECT_EQ(Syn("203.0.113.5"), XDP_PASS);    // allowed, ban or not
  EXPECT_EQ(Syn("203.0.113.200"), XDP_DROP);  // banned
  EXPECT_EQ(Syn("198.51.100.9"), XDP_DROP);   // denied, not banned
  const auto c = Counters();
  EXPECT_EQ(c.at("syn.allowed.pass"), 1U);
  EXPECT_EQ(c.at("syn.banned.drop"), 1U);
  EXPECT_EQ(c.at("syn.denied.drop"), 1U);
}

TEST_F(CrowdsecTest, ADecisionEndsInTheKernelAtItsExpiry) {
  Apply({.decisions = true});
  constexpr uint64_t kBanMs = 200;
  const uint64_t until = MonotonicNs() + kBanMs * kMs;
  prog_.WriteDecision("192.0.2.0/24", until);
  EXPECT_EQ(Syn("192.0.2.1"), XDP_DROP);
  if (MonotonicNs() >= until) GTEST_SKIP() << "test too slow";
  std::this_thread::sleep_for(std::chrono::milliseconds(kBanMs + 50));
  ASSERT_GT(MonotonicNs(), until);
  // The entry is still there: nothing in user space removed it.
  EXPECT_EQ(Syn("192.0.2.1"), XDP_PASS);
  const auto c = Counters();
  EXPECT_EQ(c.at("syn.banned.drop"), 1U);
  EXPECT_EQ(c.at("syn.unmatched.pass"), 1U);
}

TEST_F(CrowdsecTest, DecisionChangesNeedNoNewRulesVersion) {
  Apply({.decisions = true});
  const uint32_t version = prog_.ReadConfig().params[0].rules_version;
  // Cached as unmatched first.
  EXPECT_EQ(Syn("192.0.2.50"), XDP_PASS);
  EXPECT_EQ(Syn("192.0.2.50"), XDP_PASS);
  prog_.WriteDecision("192.0.2.50/32", MonotonicNs() + kHour);
  EXPECT_EQ(Syn("192.0.2.50"), XDP_DROP);
  prog_.DeleteDecision("192.0.2.50/32");
  EXPECT_EQ(Syn("192.0.2.50"), XDP_PASS);
  // The rules' verdicts stayed valid throughout.
  EXPECT_EQ(prog_.ReadConfig().params[0].rules_version, version);
}

// The answer a known source's entry keeps (sw_verdict.dec) ends when a
// decision on it changes, whether on its address (its slot's epoch) or on a
// range (every slot's), and when the ban it found expires: the kernel ends
// a kept ban on time without user space.
TEST_F(CrowdsecTest, AKeptAnswerEndsWithEachChange) {
  Apply({.decisions = true});
  for (const char* source : {"192.0.2.51", "2001:db8:5::51"}) {
    SCOPED_TRACE(source);
    const std::string host =
        std::string(source) + (std::strchr(source, ':') ? "/128" : "/32");
    const std::string range =
        std::strchr(source, ':') ? "2001:db8:5::/48" : "192.0.2.0/25";
    EXPECT_EQ(Syn(source), XDP_PASS);
    EXPECT_EQ(Syn(source), XDP_PASS);  // kept: clear
    prog_.WriteDecision(range, MonotonicNs() + kHour);
    EXPECT_EQ(Syn(source), XDP_DROP);
    EXPECT_EQ(Syn(source), XDP_DROP);  // kept: banned
    prog_.DeleteDecision(range);
    EXPECT_EQ(Syn(source), XDP_PASS);
    constexpr uint64_t kBanMs = 150;
    const uint64_t until = MonotonicNs() + kBanMs * kMs;
    prog_.WriteDecision(host, until);
    EXPECT_EQ(Syn(source), XDP_DROP);
    EXPECT_EQ(Syn(source), XDP_DROP);
    if (MonotonicNs() >= until) GTEST_SKIP() << "test too slow";
    std::this_thread::sleep_for(std::chrono::milliseconds(kBanMs + 50));
    EXPECT_EQ(Syn(source), XDP_PASS);  // the kept ban ended with the decision
    prog_.DeleteDecision(host);
  }
  const auto c = Counters();
  EXPECT_EQ(c.at("syn.banned.drop"), 8U);
  EXPECT_EQ(c.at("syn.unmatched.pass"), 8U);
}

// An expired entry does not hide a decision on a shorter prefix that is
// still in force, with nothing in user space removing it: an address's
// entry in front of a range, and ranges inside ranges.
TEST_F(CrowdsecTest, AnExpiredEntryLeavesTheShorterDecisionInForce) {
  Apply({.decisions = true});
  const uint64_t past = MonotonicNs() - kMs;
  const uint64_t until = MonotonicNs() + kHour;
  prog_.WriteDecision("198.51.100.0/24", until, 1);
  prog_.WriteDecision("198.51.100.9/32", past, 2);
  prog_.WriteDecision("2001:db8:7::/48", until, 3);
  prog_.WriteDecision("2001:db8:7:1::/64", past, 4);
  prog_.WriteDecision("2001:db8:7:1:1::/80", past, 5);
  prog_.WriteDecision("2001:db8:8::/48", past, 6);
  EXPECT_EQ(Syn("198.51.100.9"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8:7:1:1::9"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8:8::9"), XDP_PASS);
  const auto origins = prog_.OriginSyns();
  EXPECT_EQ(origins.at(1).second, 1U);  // the /24, not the expired /32
  EXPECT_EQ(origins.at(3).second, 1U);  // the /48 under two expired ranges
  EXPECT_EQ(origins.count(2) + origins.count(4) + origins.count(5), 0U);
}

// User space raises the epoch of the slot the program keeps a source's
// answer in: its hash (DecisionMaps::EpochSlot) is the program's.
TEST_F(CrowdsecTest, TheEpochSlotIsTheProgramsVerdictSlot) {
  Apply({.decisions = true});
  const int cpu = 0;
  const CpuPin pin(cpu);
  for (const char* source :
       {"192.0.2.77", "203.0.113.250", "2001:db8:abcd::1", "2001:db8::ff:1"}) {
    EXPECT_EQ(Syn(source), XDP_PASS);
    const auto cached = prog_.CachedVerdict(source, cpu);
    ASSERT_TRUE(cached) << source;
    EXPECT_EQ(cached->first, DecisionMaps::EpochSlot(prog_.Prefix(source)))
        << source;
    EXPECT_EQ(cached->second.dec, SW_DEC_CLEAR) << source;
  }
}

// Two sources in one slot share its epoch: the one that takes the slot over
// never inherits the other's kept ban, nor the other its clearance.
TEST_F(CrowdsecTest, ASlotTakenOverKeepsNoAnswerOfTheOther) {
  Apply({.decisions = true});
  const std::string banned = "192.0.2.9";
  const uint32_t slot = DecisionMaps::EpochSlot(prog_.Prefix(banned));
  std::string other;
  for (int i = 0; i < 65536 && other.empty(); ++i) {
    const std::string a =
        "198.51." + std::to_string(i / 256) + "." + std::to_string(i % 256);
    if (DecisionMaps::EpochSlot(prog_.Prefix(a)) == slot) other = a;
  }
  ASSERT_FALSE(other.empty());
  prog_.WriteDecision(banned + "/32", MonotonicNs() + kHour);
  for (int round = 0; round < 3; ++round) {
    EXPECT_EQ(Syn(banned), XDP_DROP);
    EXPECT_EQ(Syn(banned), XDP_DROP);
    EXPECT_EQ(Syn(other), XDP_PASS);
    EXPECT_EQ(Syn(other), XDP_PASS);
  }
  const auto c = Counters();
  EXPECT_EQ(c.at("syn.banned.drop"), 6U);
  EXPECT_EQ(c.at("syn.unmatched.pass"), 6U);
}

// A pinned trie of ABI 6 held single addresses too: the writer moves them
// to the address table, gives ranges their prefix_len, and every ban holds
// throughout.
TEST_F(CrowdsecTest, AnEarlierTrieIsMovedIntoPlace) {
  Apply({.decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  const auto old_entry = [&](const std::string& cidr) {
    const Cidr c = prog_.Prefix(cidr);
    sw_decision_key key{};
    key.prefixlen = 32 + c.prefix_len;
    key.family = static_cast<uint8_t>(c.family);
    std::memcpy(key.addr, c.addr.data(), sizeof(key.addr));
    sw_decision value{};
    value.expires_ns = until;
    value.origin = 7;
    ASSERT_EQ(bpf_map_update_elem(prog_.DecisionsFd(), &key, &value, BPF_ANY),
              0);
  };
  old_entry("203.0.113.9/32");
  old_entry("2001:db8::7/128");
  old_entry("198.51.100.0/24");
  EXPECT_EQ(Syn("203.0.113.9"), XDP_DROP);  // the old layout, still banned
  const DecisionMaps maps(prog_.DecisionFds());
  std::vector<std::string> listed;
  for (const Cidr& c : maps.List()) listed.push_back(FormatCidr(c));
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed,
            (std::vector<std::string>{"198.51.100.0/24", "2001:db8::7/128",
                                      "203.0.113.9/32"}));
  uint32_t in_trie = 0;
  sw_decision_key key{}, next{};
  void* prev = nullptr;
  while (bpf_map_get_next_key(prog_.DecisionsFd(), prev, &next) == 0) {
    ++in_trie;
    sw_decision value{};
    ASSERT_EQ(bpf_map_lookup_elem(prog_.DecisionsFd(), &next, &value), 0);
    EXPECT_EQ(value.prefix_len, 24);
    EXPECT_EQ(value.origin, 7U);
    key = next;
    prev = &key;
  }
  EXPECT_EQ(in_trie, 1U);
  EXPECT_EQ(Syn("203.0.113.9"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8::7"), XDP_DROP);
  EXPECT_EQ(Syn("198.51.100.1"), XDP_DROP);
  EXPECT_EQ(prog_.OriginSyns().at(7).second, 4U);
}

TEST_F(CrowdsecTest, DryRunCountsButPasses) {
  Apply({.dry_run = true, .decisions = true});
  prog_.WriteDecision("192.0.2.7/32", MonotonicNs() + kHour);
  EXPECT_EQ(Syn("192.0.2.7"), XDP_PASS);
  EXPECT_EQ(Counters().at("syn.banned.pass"), 1U);
}

TEST_F(CrowdsecTest, OffMeansNoLookup) {
  Apply({});
  prog_.WriteDecision("192.0.2.7/32", MonotonicNs() + kHour);
  EXPECT_EQ(Syn("192.0.2.7"), XDP_PASS);
  EXPECT_EQ(Counters().at("syn.unmatched.pass"), 1U);
}

TEST_F(CrowdsecTest, ABannedScannerIsNotTracked) {
  Apply({.scan_enabled = true, .decisions = true});
  prog_.WriteDecision("192.0.2.8/32", MonotonicNs() + kHour);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(Syn("192.0.2.8"), XDP_DROP);
  const auto c = Counters();
  EXPECT_EQ(c.count("port_scans"), 0U);
  EXPECT_EQ(c.count("scan_track_inserts"), 0U);
}

TEST_F(CrowdsecTest, BannedSynsAreCountedByOrigin) {
  Apply({.decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  prog_.WriteDecision("203.0.113.0/24", until, 2);
  prog_.WriteDecision("198.51.100.7/32", until, 5);
  // The origin slot is masked: a value past the table counts in range.
  prog_.WriteDecision("2001:db8:66::/48", until, SW_ORIGIN_SLOTS + 5);
  // Ended a second ago (the program's coarse clock is a tick behind).
  prog_.WriteDecision("192.0.2.1/32", MonotonicNs() - 1000 * kMs, 3);

  for (int i = 0; i < 3; ++i) EXPECT_EQ(Syn("203.0.113.40"), XDP_DROP);
  EXPECT_EQ(Syn("198.51.100.7"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8:66::9"), XDP_DROP);
  EXPECT_EQ(Syn("192.0.2.1"), XDP_PASS);
  EXPECT_EQ(Syn("198.51.100.8"), XDP_PASS);
  using Counts = std::map<uint32_t, std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(prog_.OriginSyns(), (Counts{{2, {0, 3}}, {5, {0, 2}}}));
  // They add up to the interface's banned SYNs.
  EXPECT_EQ(Counters().at("syn.banned.drop"), 5U);
}

TEST_F(CrowdsecTest, DryRunCountsWouldBeDropsByOriginAsPass) {
  Apply({.dry_run = true, .decisions = true});
  prog_.WriteDecision("192.0.2.7/32", MonotonicNs() + kHour, 1);
  EXPECT_EQ(Syn("192.0.2.7"), XDP_PASS);
  EXPECT_EQ(Syn("192.0.2.7"), XDP_PASS);
  using Counts = std::map<uint32_t, std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(prog_.OriginSyns(), (Counts{{1, {2, 0}}}));
  EXPECT_EQ(Counters().at("syn.banned.pass"), 2U);
}

TEST_F(CrowdsecTest, AllowedAndDeniedSourcesCountUnderNoOrigin) {
  Apply({.allow = {"203.0.113.0/28"},
         .deny = {"198.51.100.0/24"},
         .decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  prog_.WriteDecision("203.0.113.0/24", until, 1);
  prog_.WriteDecision("198.51.100.0/24", until, 1);
  EXPECT_EQ(Syn("203.0.113.5"), XDP_PASS);
  EXPECT_EQ(Syn("198.51.100.9"), XDP_DROP);
  EXPECT_TRUE(prog_.OriginSyns().empty());
}

// The bouncer's writer gives origins their slots and names, the program
// counts under them, and the scrape's reader labels the counts; a second
// writer (a restarted synwatch on pinned maps) keeps the slots.
TEST_F(CrowdsecTest, OriginLabelsGoFromTheBouncerToTheScrape) {
  Apply({.decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  const auto cidr = [](const char* text) {
    std::string error;
    return ParseCidr(text, &error).value();
  };
  {
    KernelDecisionTable table(prog_.DecisionFds());
    ASSERT_TRUE(table.Write(cidr("203.0.113.9/32"), until, "crowdsec"));
    ASSERT_TRUE(table.Write(cidr("198.51.100.0/24"), until, "cscli"));
    ASSERT_TRUE(table.Write(cidr("2001:db8::/48"), until, "lists:tor_exit"));
  }
  KernelDecisionTable again(prog_.DecisionFds());
  ASSERT_TRUE(again.Write(cidr("192.0.2.0/24"), until, "cscli"));
  // 3 origins so far: lists 1 to 12 take the free slots, 13 to 17 share
  // "other".
  for (int i = 1; i <= 17; ++i) {
    const std::string prefix = "2001:db8:1:" + std::to_string(i) + "::/64";
    ASSERT_TRUE(again.Write(cidr(prefix.c_str()), until,
                            "lists:list" + std::to_string(i)));
  }
  EXPECT_EQ(Syn("203.0.113.9"), XDP_DROP);
  EXPECT_EQ(Syn("198.51.100.3"), XDP_DROP);
  EXPECT_EQ(Syn("192.0.2.3"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8::1"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8:1:1::1"), XDP_DROP);   // lists:list1
  EXPECT_EQ(Syn("2001:db8:1:17::1"), XDP_DROP);  // lists:list17: other

  MapRowSource::Maps maps;
  maps.origin_syns_fd = prog_.OriginSynsFd();
  maps.origin_names_fd = prog_.OriginNamesFd();
  const MapRowSource source(maps, [] { return std::vector<InterfaceView>{}; });
  std::vector<OriginRow> rows;
  ASSERT_TRUE(source.ReadOriginSyns(&rows));
  std::map<std::string, uint64_t> dropped;
  for (const OriginRow& r : rows) {
    EXPECT_EQ(r.syn[SW_ACTION_PASS], 0U) << r.origin;
    dropped[r.origin] = r.syn[SW_ACTION_DROP];
  }
  EXPECT_EQ(dropped.size(), size_t{SW_ORIGIN_SLOTS});  // 15 named and other
  EXPECT_EQ(dropped["crowdsec"], 1U);
  EXPECT_EQ(dropped["cscli"], 2U);
  EXPECT_EQ(dropped["lists:tor_exit"], 1U);
  EXPECT_EQ(dropped["lists:list1"], 1U);
  EXPECT_EQ(dropped["lists:list2"], 0U);
  EXPECT_EQ(dropped["other"], 1U);
}

// A community blocklist's size: 100,000 decisions load into the default
// table and are enforced (IPv6 /128s inside 2001:db8::/32, as map data).
TEST_F(CrowdsecTest, AHundredThousandDecisionsLoadAndBan) {
  Apply({.decisions = true});
  const uint64_t until = MonotonicNs() + kHour;
  const auto start = std::chrono::steady_clock::now();
  DecisionMaps maps(prog_.DecisionFds());
  Cidr host;
  host.family = Family::kIpv6;
  host.prefix_len = 128;
  host.addr = {0x20, 0x01, 0x0d, 0xb8};
  sw_decision value{};
  value.expires_ns = until;
  for (uint32_t i = 1; i <= 100000; ++i) {
    host.addr[13] = static_cast<uint8_t>(i >> 16);
    host.addr[14] = static_cast<uint8_t>(i >> 8);
    host.addr[15] = static_cast<uint8_t>(i);
    ASSERT_TRUE(maps.Write(host, value)) << i << ": " << std::strerror(errno);
  }
  ASSERT_TRUE(maps.Commit());
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  std::printf("100000 decisions written in %lld ms\n",
              static_cast<long long>(ms));
  EXPECT_EQ(Syn("2001:db8::1"), XDP_DROP);
  EXPECT_EQ(Syn("2001:db8::1:86a0"), XDP_DROP);  // the 100,000th
  EXPECT_EQ(Syn("2001:db8::1:86a1"), XDP_PASS);
  EXPECT_EQ(Syn("2001:db8::ffff:0"), XDP_PASS);
  EXPECT_EQ(Counters().at("syn.banned.drop"), 2U);
}

}  // namespace
}  // namespace synwatch
