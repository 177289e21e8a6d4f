// SPDX-License-Identifier: Apache-2.0
// What the program decides for a SYN: outcome, action and verdict under each
// kind of policy, and the peer it is counted against. Each SYN is sent twice
// so both the insert of a new peer and the increment of a known one run.
#include <linux/if_ether.h>

#include <chrono>
#include <cstdio>
#include <iterator>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "packet_builder.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

// SYNs per source: the first inserts the peer, the others count on.
constexpr int kSends = 3;

struct DecisionCase {
  std::string name;
  TestPolicy policy;
  std::string source;
  sw_outcome outcome;
  sw_action action;
  uint32_t verdict;
  std::string peer;  // masked source as "address/len"
};

std::vector<DecisionCase> DecisionCases() {
  constexpr auto kAllowed = SW_OUTCOME_ALLOWED;
  constexpr auto kDenied = SW_OUTCOME_DENIED;
  constexpr auto kUnmatched = SW_OUTCOME_UNMATCHED;
  constexpr auto kPass = SW_ACTION_PASS;
  constexpr auto kDrop = SW_ACTION_DROP;
  return {
      // One list at a time.
      {"allow_v4_host",
       {.allow = {"192.0.2.56/32"}},
       "192.0.2.56",
       kAllowed,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},
      {"allow_v4_prefix_default_drop",
       {.allow = {"192.0.2.0/24"}, .default_drop = true},
       "192.0.2.77",
       kAllowed,
       kPass,
       XDP_PASS,
       "192.0.2.77/32"},
      {"deny_v4_prefix",
       {.deny = {"192.0.2.0/24"}},
       "192.0.2.56",
       kDenied,
       kDrop,
       XDP_DROP,
       "192.0.2.56/32"},
      {"deny_v6_prefix",
       {.deny = {"2001:db8::/32"}},
       "2001:db8::5",
       kDenied,
       kDrop,
       XDP_DROP,
       "2001:db8::5/128"},
      {"allow_v6_prefix_default_drop",
       {.allow = {"2001:db8:1::/48"}, .default_drop = true},
       "2001:db8:1::9",
       kAllowed,
       kPass,
       XDP_PASS,
       "2001:db8:1::9/128"},
      {"unmatched_v4",
       {.deny = {"198.51.100.0/24"}},
       "192.0.2.56",
       kUnmatched,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},
      {"unmatched_v6",
       {.allow = {"2001:db8:2::/48"}},
       "2001:db8:1::1",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8:1::1/128"},
      {"default_drop_v4",
       {.default_drop = true},
       "203.0.113.9",
       kUnmatched,
       kDrop,
       XDP_DROP,
       "203.0.113.9/32"},
      {"default_drop_v6",
       {.default_drop = true},
       "2001:db8::7",
       kUnmatched,
       kDrop,
       XDP_DROP,
       "2001:db8::7/128"},
      {"default_drop_other_rules",
       {.allow = {"198.51.100.0/24"},
        .deny = {"203.0.113.0/24"},
        .default_drop = true},
       "192.0.2.1",
       kUnmatched,
       kDrop,
       XDP_DROP,
       "192.0.2.1/32"},

      // Dry run decides and counts, but passes; the outcome still says
      // what would have happened.
      {"dry_run_denied",
       {.deny = {"192.0.2.0/24"}, .dry_run = true},
       "192.0.2.56",
       kDenied,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},
      {"dry_run_default_drop",
       {.default_drop = true, .dry_run = true},
       "2001:db8::7",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8::7/128"},
      {"dry_run_allowed",
       {.allow = {"::/0"}, .dry_run = true},
       "2001:db8::7",
       kAllowed,
       kPass,
       XDP_PASS,
       "2001:db8::7/128"},

      // Allow wins over deny whatever the prefix lengths.
      {"allow_contains_longer_deny_v4",
       {.allow = {"192.0.2.0/24"}, .deny = {"192.0.2.128/25"}},
       "192.0.2.200",
       kAllowed,
       kPass,
       XDP_PASS,
       "192.0.2.200/32"},
      {"deny_contains_longer_allow_v4_inside",
       {.allow = {"192.0.2.48/28"}, .deny = {"192.0.2.0/24"}},
       "192.0.2.56",
       kAllowed,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},
      {"deny_contains_longer_allow_v4_outside",
       {.allow = {"192.0.2.48/28"}, .deny = {"192.0.2.0/24"}},
       "192.0.2.64",
       kDenied,
       kDrop,
       XDP_DROP,
       "192.0.2.64/32"},
      {"same_prefix_in_both_lists",
       {.allow = {"192.0.2.0/24"}, .deny = {"192.0.2.0/24"}},
       "192.0.2.1",
       kAllowed,
       kPass,
       XDP_PASS,
       "192.0.2.1/32"},
      {"allow_contains_longer_deny_v6",
       {.allow = {"2001:db8::/32"}, .deny = {"2001:db8:1::/48"}},
       "2001:db8:1::1",
       kAllowed,
       kPass,
       XDP_PASS,
       "2001:db8:1::1/128"},
      {"deny_contains_longer_allow_v6_inside",
       {.allow = {"2001:db8:1::/48"}, .deny = {"2001:db8::/32"}},
       "2001:db8:1::5",
       kAllowed,
       kPass,
       XDP_PASS,
       "2001:db8:1::5/128"},
      {"deny_contains_longer_allow_v6_outside",
       {.allow = {"2001:db8:1::/48"}, .deny = {"2001:db8::/32"}},
       "2001:db8:2::5",
       kDenied,
       kDrop,
       XDP_DROP,
       "2001:db8:2::5/128"},
      {"host_deny_inside_allow_inside_deny",
       {.allow = {"192.0.2.0/25"}, .deny = {"192.0.2.0/24", "192.0.2.56/32"}},
       "192.0.2.56",
       kAllowed,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},

      // Families never match each other's rules.
      {"v4_source_v6_deny_all",
       {.deny = {"::/0"}},
       "192.0.2.56",
       kUnmatched,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},
      {"v6_source_v4_deny_all",
       {.deny = {"0.0.0.0/0"}},
       "2001:db8::1",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8::1/128"},
      // 192.0.2.56 is c000:0238: the same leading bits as this IPv6 prefix.
      {"v4_source_v6_prefix_same_bits",
       {.deny = {"c000:238::/32"}},
       "192.0.2.56",
       kUnmatched,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},

      // Peer prefix masking.
      {"peer_v4_24",
       {.ipv4_prefix_len = 24},
       "192.0.2.56",
       kUnmatched,
       kPass,
       XDP_PASS,
       "192.0.2.0/24"},
      {"peer_v4_17",
       {.ipv4_prefix_len = 17},
       "198.51.255.254",
       kUnmatched,
       kPass,
       XDP_PASS,
       "198.51.128.0/17"},
      {"peer_v4_0",
       {.ipv4_prefix_len = 0},
       "203.0.113.9",
       kUnmatched,
       kPass,
       XDP_PASS,
       "0.0.0.0/0"},
      {"peer_v4_out_of_range_is_full",
       {.ipv4_prefix_len = 40},
       "192.0.2.56",
       kUnmatched,
       kPass,
       XDP_PASS,
       "192.0.2.56/32"},
      {"peer_v6_64",
       {.ipv6_prefix_len = 64},
       "2001:db8:1:2:3:4:5:6",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8:1:2::/64"},
      {"peer_v6_56",
       {.ipv6_prefix_len = 56},
       "2001:db8:1:2ff:3:4:5:6",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8:1:200::/56"},
      {"peer_v6_100",
       {.ipv6_prefix_len = 100},
       "2001:db8:1:2:3:4:ffff:ffff",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8:1:2:3:4:f000:0/100"},
      {"peer_v6_33",
       {.ipv6_prefix_len = 33},
       "2001:db8:ffff::1",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8:8000::/33"},
      {"peer_v6_0",
       {.ipv6_prefix_len = 0},
       "2001:db8::1",
       kUnmatched,
       kPass,
       XDP_PASS,
       "::/0"},
      {"peer_v6_out_of_range_is_full",
       {.ipv6_prefix_len = 200},
       "2001:db8::1",
       kUnmatched,
       kPass,
       XDP_PASS,
       "2001:db8::1/128"},
      {"peer_prefix_with_denied_outcome",
       {.deny = {"2001:db8::/32"}, .ipv6_prefix_len = 48},
       "2001:db8:abcd:1::1",
       kDenied,
       kDrop,
       XDP_DROP,
       "2001:db8:abcd::/48"},
  };
}

class DecisionTest : public XdpTest,
                     public ::testing::WithParamInterface<DecisionCase> {};

TEST_P(DecisionTest, OutcomeActionAndPeer) {
  const DecisionCase& row = GetParam();
  Apply(row.policy);

  const RunResult run = prog_.Run(SynFrame(row.source), kLoIfindex, kSends);
  ASSERT_EQ(run.err, 0) << std::strerror(run.err);

  EXPECT_EQ(run.verdict, row.verdict);
  const std::map<std::string, uint64_t> counters = {
      {"class.syn", kSends},
      {std::string("syn.") + OutcomeName(row.outcome) + "." +
           ActionName(row.action),
       kSends}};
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
  const std::map<std::string, uint64_t> peers = {
      {ExpectedPeer(row.peer, row.outcome, row.action), kSends}};
  EXPECT_EQ(prog_.Peers(), peers);
  EXPECT_TRUE(prog_.NoPeerCounters(Slot()).empty());
  EXPECT_EQ(prog_.ExpectPeerIdentity(Slot(), kLoIfindex), uint64_t{kSends});
}

INSTANTIATE_TEST_SUITE_P(Policies, DecisionTest,
                         ::testing::ValuesIn(DecisionCases()),
                         [](const auto& row) { return row.param.name; });

// The program reads the params and rules of the generation in force only,
// so a reload can write the other half first and flip gen.
TEST_F(XdpTest, GenerationFlipSwitchesParamsAndRules) {
  prog_.WritePolicy(0, {.deny = {"192.0.2.0/24"}, .ipv4_prefix_len = 24});
  prog_.WritePolicy(1, {.allow = {"192.0.2.0/24"}, .default_drop = true});
  const std::vector<uint8_t> from_doc = SynFrame("192.0.2.56");
  const std::vector<uint8_t> from_other = SynFrame("203.0.113.1");

  prog_.SetGen(0);
  EXPECT_EQ(prog_.Run(from_doc, kLoIfindex, kSends).verdict, XDP_DROP);
  EXPECT_EQ(prog_.Run(from_other, kLoIfindex, kSends).verdict, XDP_PASS);
  prog_.SetGen(1);
  EXPECT_EQ(prog_.Run(from_doc, kLoIfindex, kSends).verdict, XDP_PASS);
  EXPECT_EQ(prog_.Run(from_other, kLoIfindex, kSends).verdict, XDP_DROP);

  const std::map<std::string, uint64_t> counters = {
      {"class.syn", 4 * kSends},
      {"syn.denied.drop", kSends},
      {"syn.unmatched.pass", kSends},
      {"syn.allowed.pass", kSends},
      {"syn.unmatched.drop", kSends}};
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
  const std::map<std::string, uint64_t> peers = {
      {ExpectedPeer("192.0.2.0/24", SW_OUTCOME_DENIED, SW_ACTION_DROP), kSends},
      {ExpectedPeer("203.0.113.0/24", SW_OUTCOME_UNMATCHED, SW_ACTION_PASS),
       kSends},
      {ExpectedPeer("192.0.2.56/32", SW_OUTCOME_ALLOWED, SW_ACTION_PASS),
       kSends},
      {ExpectedPeer("203.0.113.1/32", SW_OUTCOME_UNMATCHED, SW_ACTION_DROP),
       kSends}};
  EXPECT_EQ(prog_.Peers(), peers);
}

// Several peers and several outcomes for one source stay separate series;
// two addresses of one /24 are one peer.
TEST_F(XdpTest, PeersAreKeyedBySourceOutcomeAndAction) {
  Apply({.deny = {"198.51.100.0/24"}, .ipv4_prefix_len = 24});
  for (const char* source : {"192.0.2.1", "192.0.2.2"}) {
    ASSERT_EQ(prog_.Run(SynFrame(source), kLoIfindex).err, 0);
  }
  ASSERT_EQ(prog_.Run(SynFrame("198.51.100.3"), kLoIfindex, kSends).err, 0);
  prog_.WritePolicy(1, {.ipv4_prefix_len = 24});
  prog_.SetGen(1);
  ASSERT_EQ(prog_.Run(SynFrame("198.51.100.4"), kLoIfindex, kSends).err, 0);

  const std::map<std::string, uint64_t> peers = {
      {ExpectedPeer("192.0.2.0/24", SW_OUTCOME_UNMATCHED, SW_ACTION_PASS), 2},
      {ExpectedPeer("198.51.100.0/24", SW_OUTCOME_DENIED, SW_ACTION_DROP),
       kSends},
      {ExpectedPeer("198.51.100.0/24", SW_OUTCOME_UNMATCHED, SW_ACTION_PASS),
       kSends}};
  EXPECT_EQ(prog_.Peers(), peers);
}

// The verdict cache is per CPU: its tests run and read on one.
constexpr int kCpu = 0;

// The verdict cache in front of the rule trie answers for a source only
// under the rule set it was looked up in. Here a reload brings back
// generation 0 with the opposite rule for the same source: a cache tagged
// by generation rather than rules_version would still say "denied".
TEST_F(XdpTest, VerdictCacheFollowsEveryRuleChange) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  const std::vector<uint8_t> syn = SynFrame("192.0.2.56");
  Apply({.deny = {"192.0.2.56/32"}});
  EXPECT_EQ(prog_.Run(syn, kLoIfindex, kSends).verdict, XDP_DROP);
  const uint32_t first = prog_.RulesVersion();
  auto cached = prog_.CachedVerdict("192.0.2.56", kCpu);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->second.version, first);
  EXPECT_EQ(cached->second.outcome, SW_OUTCOME_DENIED);

  prog_.WritePolicy(1, {});
  prog_.SetGen(1);
  EXPECT_EQ(prog_.Run(syn, kLoIfindex, kSends).verdict, XDP_PASS);
  prog_.WritePolicy(0, {.allow = {"192.0.2.56/32"}, .default_drop = true});
  prog_.SetGen(0);
  EXPECT_EQ(prog_.Run(syn, kLoIfindex, kSends).verdict, XDP_PASS);
  EXPECT_GT(prog_.RulesVersion(), first);
  cached = prog_.CachedVerdict("192.0.2.56", kCpu);
  ASSERT_TRUE(cached.has_value());
  EXPECT_EQ(cached->second.version, prog_.RulesVersion());
  EXPECT_EQ(cached->second.outcome, SW_OUTCOME_ALLOWED);

  const std::map<std::string, uint64_t> counters = {
      {"class.syn", 3 * kSends},
      {"syn.denied.drop", kSends},
      {"syn.unmatched.pass", kSends},
      {"syn.allowed.pass", kSends}};
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
}

// A cache entry decides only for its own address, family and rules_version;
// any other entry in the slot sends the SYN to the trie, which then takes
// the slot over. Planting a wrong verdict shows the cache is consulted at
// all.
TEST_F(XdpTest, CachedVerdictAnswersForItsSourceOnly) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  const std::vector<uint8_t> syn = SynFrame("192.0.2.56");
  // Longer than a verdict block: cached for the source alone.
  Apply({.deny = {"192.0.2.0/25"}});
  ASSERT_EQ(prog_.Run(syn, kLoIfindex).verdict, XDP_DROP);
  const auto cached = prog_.CachedVerdict("192.0.2.56", kCpu);
  ASSERT_TRUE(cached.has_value());
  const uint32_t slot = cached->first;
  const uint32_t version = prog_.RulesVersion();

  prog_.WriteVerdict(
      slot, XdpProgram::Verdict("192.0.2.56", version, SW_OUTCOME_ALLOWED));
  EXPECT_EQ(prog_.Run(syn, kLoIfindex).verdict, XDP_PASS);

  const sw_verdict others[] = {
      XdpProgram::Verdict("192.0.2.99", version, SW_OUTCOME_ALLOWED),
      XdpProgram::Verdict("192.0.2.56", version + 1, SW_OUTCOME_ALLOWED),
      XdpProgram::Verdict("192.0.2.56", version - 1, SW_OUTCOME_ALLOWED),
      // The same first four bytes, as an IPv6 address.
      XdpProgram::Verdict("c000:238::", version, SW_OUTCOME_ALLOWED),
  };
  for (const sw_verdict& other : others) {
    prog_.WriteVerdict(slot, other);
    EXPECT_EQ(prog_.Run(syn, kLoIfindex).verdict, XDP_DROP)
        << "family " << int{other.family} << " version " << other.version;
    const auto now = prog_.CachedVerdict("192.0.2.56", kCpu);
    ASSERT_TRUE(now.has_value());
    EXPECT_EQ(now->first, slot);
    EXPECT_EQ(now->second.outcome, SW_OUTCOME_DENIED);
  }
  const std::map<std::string, uint64_t> counters = {
      {"class.syn", 6}, {"syn.denied.drop", 5}, {"syn.allowed.pass", 1}};
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
}

// A rule at most a verdict block long, with no longer rule inside it, holds
// for every source of the block: its verdict is cached for the block (a /24
// or a /48) as well as for the source, and a source of the block that was
// never seen is decided by the block's entry. Planting a wrong block
// verdict shows it is consulted for another source of the block, and only
// for that block.
TEST_F(XdpTest, BlockVerdictAnswersForEverySourceOfTheBlock) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  Apply({.deny = {"198.51.100.0/24", "2001:db8:e000::/47"}});
  const uint32_t version = prog_.RulesVersion();
  struct Case {
    const char* first;     // looked up in the trie
    const char* block;     // its block's first address
    const char* other;     // another source of the block, never seen
    const char* apart;     // a source of the same rule in another block
    const char* fresh[3];  // more sources of the block, never seen
  };
  const Case cases[] = {
      {"198.51.100.3",
       "198.51.100.0",
       "198.51.100.200",
       nullptr,
       {"198.51.100.201", "198.51.100.202", "198.51.100.203"}},
      {"2001:db8:e000:1::1",
       "2001:db8:e000::",
       "2001:db8:e000:ffff::9",
       "2001:db8:e001::1",
       {"2001:db8:e000:fffe::9", "2001:db8:e000:fffd::9",
        "2001:db8:e000:fffc::9"}},
  };
  uint64_t dropped = 0, passed = 0;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.first);
    ASSERT_EQ(prog_.Run(SynFrame(c.first), kLoIfindex).verdict, XDP_DROP);
    ++dropped;
    const auto own = prog_.CachedVerdict(c.first, kCpu);
    ASSERT_TRUE(own.has_value());
    EXPECT_EQ(own->second.outcome, SW_OUTCOME_DENIED);
    const auto block =
        prog_.CachedVerdict(c.block, kCpu, VerdictTable::kBlocks);
    ASSERT_TRUE(block.has_value());
    EXPECT_EQ(block->second.version, version);
    EXPECT_EQ(block->second.outcome, SW_OUTCOME_DENIED);

    prog_.WriteVerdict(
        block->first, XdpProgram::Verdict(c.block, version, SW_OUTCOME_ALLOWED),
        VerdictTable::kBlocks);
    EXPECT_EQ(prog_.Run(SynFrame(c.other), kLoIfindex).verdict, XDP_PASS);
    ++passed;
    // The block's answer is the source's own from now on.
    const auto other = prog_.CachedVerdict(c.other, kCpu);
    ASSERT_TRUE(other.has_value());
    EXPECT_EQ(other->second.outcome, SW_OUTCOME_ALLOWED);
    if (c.apart != nullptr) {
      EXPECT_EQ(prog_.Run(SynFrame(c.apart), kLoIfindex).verdict, XDP_DROP);
      ++dropped;
    }
    // Any other entry in the block's slot is not the block's: the trie
    // decides, and the slot is the block's again.
    const sw_verdict others[] = {
        XdpProgram::Verdict(c.block, version + 1, SW_OUTCOME_ALLOWED),
        XdpProgram::Verdict(c.block, version - 1, SW_OUTCOME_ALLOWED),
        // The first source's full address: not the block's key.
        XdpProgram::Verdict(c.first, version, SW_OUTCOME_ALLOWED),
    };
    for (size_t i = 0; i < std::size(others); ++i) {
      prog_.WriteVerdict(block->first, others[i], VerdictTable::kBlocks);
      EXPECT_EQ(prog_.Run(SynFrame(c.fresh[i]), kLoIfindex).verdict, XDP_DROP)
          << c.fresh[i];
      ++dropped;
      const auto again =
          prog_.CachedVerdict(c.block, kCpu, VerdictTable::kBlocks);
      ASSERT_TRUE(again.has_value());
      EXPECT_EQ(again->first, block->first);
      EXPECT_EQ(again->second.outcome, SW_OUTCOME_DENIED);
    }
  }
  // The planted "allowed" decides, so it is counted as allowed.
  const std::map<std::string, uint64_t> counters = {
      {"class.syn", dropped + passed},
      {"syn.denied.drop", dropped},
      {"syn.allowed.pass", passed}};
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
}

// One rule longer than a block inside a rule splits it: the sources of the
// outer rule are cached one by one, so the carved-out source is never
// decided by a verdict its neighbour left. The neighbour goes first.
TEST_F(XdpTest, ALongerRuleInsideKeepsVerdictsPerSource) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  Apply({.allow = {"203.0.113.7/32", "2001:db8:e000:1::/64"},
         .deny = {"203.0.113.0/24", "2001:db8:e000::/47"}});
  const std::pair<const char*, const char*> pairs[] = {
      {"203.0.113.8", "203.0.113.7"},
      {"2001:db8:e000:2::1", "2001:db8:e000:1::5"},
  };
  for (int round = 0; round < 2; ++round) {
    for (const auto& [denied, allowed] : pairs) {
      SCOPED_TRACE(denied);
      EXPECT_EQ(prog_.Run(SynFrame(denied), kLoIfindex).verdict, XDP_DROP);
      EXPECT_EQ(prog_.Run(SynFrame(allowed), kLoIfindex).verdict, XDP_PASS);
      const auto d = prog_.CachedVerdict(denied, kCpu);
      const auto a = prog_.CachedVerdict(allowed, kCpu);
      ASSERT_TRUE(d.has_value());
      ASSERT_TRUE(a.has_value());
      EXPECT_EQ(d->second.outcome, SW_OUTCOME_DENIED);
      EXPECT_EQ(a->second.outcome, SW_OUTCOME_ALLOWED);
    }
  }
  EXPECT_FALSE(prog_.CachedVerdict("203.0.113.0", kCpu, VerdictTable::kBlocks)
                   .has_value());
  EXPECT_FALSE(
      prog_.CachedVerdict("2001:db8:e000::", kCpu, VerdictTable::kBlocks)
          .has_value());
}

// Outside a flood a denied source counts for its peer from its first SYN,
// whether or not its verdict is cached on the CPU (its entry is overwritten
// here behind the program's back).
TEST_F(XdpTest, DeniedSourceCountsForItsPeerFromItsFirstSyn) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  Apply({.deny = {"198.51.100.0/24"}});
  const std::vector<uint8_t> frame = SynFrame("198.51.100.7");
  const std::string peer =
      ExpectedPeer("198.51.100.7/32", SW_OUTCOME_DENIED, SW_ACTION_DROP);
  ASSERT_EQ(prog_.Run(frame, kLoIfindex).verdict, XDP_DROP);
  EXPECT_EQ(prog_.Peers(), (std::map<std::string, uint64_t>{{peer, 1}}));
  ASSERT_EQ(prog_.Run(frame, kLoIfindex).verdict, XDP_DROP);
  EXPECT_EQ(prog_.Peers(), (std::map<std::string, uint64_t>{{peer, 2}}));

  const auto cached = prog_.CachedVerdict("198.51.100.7", kCpu);
  ASSERT_TRUE(cached.has_value());
  prog_.WriteVerdict(cached->first,
                     XdpProgram::Verdict("192.0.2.1", prog_.RulesVersion(),
                                         SW_OUTCOME_UNMATCHED));
  ASSERT_EQ(prog_.Run(frame, kLoIfindex).verdict, XDP_DROP);
  EXPECT_EQ(prog_.Peers(), (std::map<std::string, uint64_t>{{peer, 3}}));
  EXPECT_EQ(prog_.SlotCounters(Slot())["syn.denied.drop"], 3u);
  EXPECT_TRUE(prog_.NoPeerCounters(Slot()).empty());
  EXPECT_EQ(prog_.Flood(kCpu).periods, 0u);
}

// New peers at up to flood_new_peers a second are all inserted: every SYN
// is in a series, and flood admission never starts.
TEST_F(XdpTest, NewPeersUnderTheFloodLimitAreAllCounted) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  constexpr int kSources = 100;
  Apply({.deny = {"198.51.100.0/25"}, .flood_new_peers = kSources});
  for (int i = 0; i < kSources; ++i) {
    const std::string src = "198.51.100." + std::to_string(i + 1);
    ASSERT_EQ(prog_.Run(SynFrame(src), kLoIfindex).err, 0) << src;
  }
  EXPECT_EQ(prog_.Peers().size(), size_t{kSources});
  EXPECT_EQ(prog_.PeerInserts(Slot()), uint64_t{kSources});
  EXPECT_TRUE(prog_.NoPeerCounters(Slot()).empty());
  EXPECT_EQ(prog_.ExpectPeerIdentity(Slot(), kLoIfindex), uint64_t{kSources});
  const sw_flood flood = prog_.Flood(kCpu);
  EXPECT_EQ(flood.new_peers, uint64_t{kSources});
  EXPECT_EQ(flood.periods, 0u);
  EXPECT_EQ(flood.until_ns, 0u);
}

// Above flood_new_peers new peers a second on a CPU, flood admission holds
// there: a new peer's first SYN leaves its fingerprint at the door and is
// counted without a peer, its second inserts the peer with 1; a denied
// source without a cached verdict stays out of the table. Peer series plus
// the SYNs without a peer are still the totals. It ends by itself a hold
// time after the new peers stop.
TEST_F(XdpTest, FloodAdmissionStartsAboveTheLimitAndEndsByItself) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  constexpr int kLimit = 10;
  Apply({.deny = {"198.51.100.0/24"}, .flood_new_peers = kLimit});
  // kLimit new peers: inserted. The next starts flood admission.
  for (int i = 0; i < kLimit; ++i) {
    ASSERT_EQ(
        prog_.Run(SynFrame("192.0.2." + std::to_string(i + 1)), kLoIfindex).err,
        0);
  }
  EXPECT_EQ(prog_.PeerInserts(Slot()), uint64_t{kLimit});
  EXPECT_EQ(prog_.Flood(kCpu).periods, 0u);
  const std::vector<uint8_t> unmatched = SynFrame("203.0.113.9");
  ASSERT_EQ(prog_.Run(unmatched, kLoIfindex).verdict, XDP_PASS);
  EXPECT_EQ(prog_.Flood(kCpu).periods, 1u);
  EXPECT_EQ(prog_.NoPeerCounters(Slot()),
            (std::map<std::string, uint64_t>{{"unmatched.pass", 1}}));
  // Its second SYN finds its fingerprint: in the table, with 1.
  ASSERT_EQ(prog_.Run(unmatched, kLoIfindex).verdict, XDP_PASS);
  EXPECT_EQ(prog_.Peers()[ExpectedPeer("203.0.113.9/32", SW_OUTCOME_UNMATCHED,
                                       SW_ACTION_PASS)],
            1u);
  // A known peer counts on.
  ASSERT_EQ(prog_.Run(SynFrame("192.0.2.1"), kLoIfindex, 2).err, 0);
  EXPECT_EQ(prog_.Peers()[ExpectedPeer("192.0.2.1/32", SW_OUTCOME_UNMATCHED,
                                       SW_ACTION_PASS)],
            3u);
  // Denied sources, each new: dropped, in the totals, not in the table.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(
        prog_.Run(SynFrame("198.51.100." + std::to_string(i + 1)), kLoIfindex)
            .verdict,
        XDP_DROP);
  }
  EXPECT_EQ(prog_.NoPeerCounters(Slot()),
            (std::map<std::string, uint64_t>{{"unmatched.pass", 1},
                                             {"denied.drop", 20}}));
  EXPECT_EQ(prog_.Peers().size(), size_t{kLimit + 1});
  EXPECT_EQ(prog_.ExpectPeerIdentity(Slot(), kLoIfindex),
            uint64_t{kLimit + 2 + 2 + 20});
  EXPECT_EQ(prog_.Flood(kCpu).periods, 1u);

  // No new peer for longer than the hold: the next one is inserted at once.
  const sw_flood before = prog_.Flood(kCpu);
  EXPECT_GT(before.until_ns, 0u);
  std::this_thread::sleep_for(std::chrono::nanoseconds(SW_FLOOD_HOLD_NS) +
                              std::chrono::milliseconds(100));
  ASSERT_EQ(prog_.Run(SynFrame("203.0.113.77"), kLoIfindex).verdict, XDP_PASS);
  EXPECT_EQ(prog_.Peers()[ExpectedPeer("203.0.113.77/32", SW_OUTCOME_UNMATCHED,
                                       SW_ACTION_PASS)],
            1u);
  ASSERT_EQ(prog_.Run(SynFrame("198.51.100.200"), kLoIfindex).verdict,
            XDP_DROP);
  EXPECT_EQ(prog_.Peers()[ExpectedPeer("198.51.100.200/32", SW_OUTCOME_DENIED,
                                       SW_ACTION_DROP)],
            1u);
  EXPECT_EQ(prog_.Flood(kCpu).periods, 1u);
  EXPECT_EQ(prog_.ExpectPeerIdentity(Slot(), kLoIfindex),
            uint64_t{kLimit + 2 + 2 + 20 + 2});
}

// flood_new_peers = 0: never flood admission, however many new peers.
TEST_F(XdpTest, FloodAdmissionOffCountsEveryNewPeer) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  Apply({.deny = {"2001:db8:e000::/47"},
         .ipv6_prefix_len = 64,
         .flood_new_peers = 0});
  constexpr int kSources = 300;
  for (int i = 0; i < kSources; ++i) {
    char src[64];
    std::snprintf(src, sizeof(src), "2001:db8:e00%d:%x::1", i % 2, 0x100 + i);
    ASSERT_EQ(prog_.Run(SynFrame(src), kLoIfindex).verdict, XDP_DROP) << src;
  }
  EXPECT_EQ(prog_.Peers().size(), size_t{kSources});
  EXPECT_TRUE(prog_.NoPeerCounters(Slot()).empty());
  EXPECT_EQ(prog_.Flood(kCpu).periods, 0u);
}

// A spoofed flood from a denied range under flood admission: every SYN in
// the totals, no source in the per-peer table beyond the ones before the
// limit (two SYNs each: neither takes the table, a denied source without a
// cached verdict stays out), and the trie walked once per block. Once the
// first source of each /48 is decided, the rule is taken out of the trie
// behind the cache's back: the rest of the flood is still denied, by the
// blocks' entries alone.
TEST_F(XdpTest, FloodFromADeniedRangeWalksTheTrieOncePerBlock) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  Apply({.deny = {"2001:db8:e000::/47"},
         .ipv6_prefix_len = 64,
         .flood_new_peers = 1});
  constexpr int kSources = 200;
  for (int i = 0; i < kSources; ++i) {
    char src[64];
    std::snprintf(src, sizeof(src), "2001:db8:e00%d:%x::1", i % 2, 0x100 + i);
    ASSERT_EQ(prog_.Run(SynFrame(src), kLoIfindex, 2).verdict, XDP_DROP) << src;
    if (i == 1) prog_.DeleteRuleBehindTheCache("2001:db8:e000::/47", 0);
  }
  for (const char* block : {"2001:db8:e000::", "2001:db8:e001::"}) {
    const auto b = prog_.CachedVerdict(block, kCpu, VerdictTable::kBlocks);
    ASSERT_TRUE(b.has_value()) << block;
    EXPECT_EQ(b->second.outcome, SW_OUTCOME_DENIED);
  }
  // The first source is inserted (one new peer is within the limit), and
  // counts its repeat; every other SYN is without a peer.
  EXPECT_EQ(prog_.Peers().size(), 1u);
  const std::map<std::string, uint64_t> counters = {
      {"class.syn", 2 * kSources}, {"syn.denied.drop", 2 * kSources}};
  EXPECT_EQ(prog_.SlotCounters(Slot()), counters);
  EXPECT_EQ(
      prog_.NoPeerCounters(Slot()),
      (std::map<std::string, uint64_t>{{"denied.drop", 2 * kSources - 2}}));
  EXPECT_EQ(prog_.ExpectPeerIdentity(Slot(), kLoIfindex),
            uint64_t{2 * kSources});

  // The rule is gone from the trie: a new rule set (a new version) says
  // so at once.
  prog_.WritePolicy(1, {.ipv6_prefix_len = 64});
  prog_.SetGen(1);
  EXPECT_EQ(prog_.Run(SynFrame("2001:db8:e000:ff::1"), kLoIfindex).verdict,
            XDP_PASS);
}

// A block verdict is tagged with the rules_version like any other: new
// rules decide the next SYN of the block.
TEST_F(XdpTest, BlockVerdictFollowsRuleChanges) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  Apply({.deny = {"198.51.100.0/24"}});
  EXPECT_EQ(prog_.Run(SynFrame("198.51.100.1"), kLoIfindex).verdict, XDP_DROP);
  ASSERT_TRUE(prog_.CachedVerdict("198.51.100.0", kCpu, VerdictTable::kBlocks)
                  .has_value());
  prog_.WritePolicy(1, {.allow = {"198.51.100.0/24"}, .default_drop = true});
  prog_.SetGen(1);
  EXPECT_EQ(prog_.Run(SynFrame("198.51.100.2"), kLoIfindex).verdict, XDP_PASS);
  const auto b =
      prog_.CachedVerdict("198.51.100.0", kCpu, VerdictTable::kBlocks);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->second.outcome, SW_OUTCOME_ALLOWED);
  EXPECT_EQ(b->second.version, prog_.RulesVersion());
}

// rules_version 0 is a writer that does not version its rules: the program
// caches nothing under it, so rewriting the rules in place still takes
// effect on the next SYN.
TEST_F(XdpTest, UnversionedRulesAreNotCached) {
  const CpuPin pin(kCpu);
  ASSERT_TRUE(pin.ok());
  const auto unversioned = [this](const TestPolicy& policy) {
    prog_.WritePolicy(0, policy);
    sw_config cfg = prog_.ReadConfig();
    cfg.params[0].rules_version = 0;
    cfg.gen = 0;
    prog_.WriteConfig(cfg);
  };
  const std::vector<uint8_t> syn = SynFrame("192.0.2.56");
  unversioned({.deny = {"192.0.2.56/32"}});
  EXPECT_EQ(prog_.Run(syn, kLoIfindex, kSends).verdict, XDP_DROP);
  EXPECT_FALSE(prog_.CachedVerdict("192.0.2.56", kCpu).has_value());
  // The same key, now an allow rule.
  unversioned({.allow = {"192.0.2.56/32"}, .default_drop = true});
  EXPECT_EQ(prog_.Run(syn, kLoIfindex, kSends).verdict, XDP_PASS);
  EXPECT_FALSE(prog_.CachedVerdict("192.0.2.56", kCpu).has_value());
}

}  // namespace
}  // namespace synwatch
