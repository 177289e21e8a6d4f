// SPDX-License-Identifier: Apache-2.0
#include "xdp/rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace synwatch {
namespace {

Cidr C(const std::string& text) {
  std::string error;
  const std::optional<Cidr> cidr = ParseCidr(text, &error);
  EXPECT_TRUE(cidr.has_value()) << text << ": " << error;
  return cidr.value_or(Cidr{});
}

std::vector<Cidr> Cs(const std::vector<std::string>& texts) {
  std::vector<Cidr> out;
  out.reserve(texts.size());
  for (const std::string& text : texts) out.push_back(C(text));
  return out;
}

// The prefix an entry's key encodes.
Cidr PrefixOf(const RuleEntry& e) {
  Cidr cidr;
  cidr.family = static_cast<Family>(e.key.family);
  cidr.prefix_len = static_cast<uint8_t>(e.key.prefixlen - 32);
  std::memcpy(cidr.addr.data(), e.key.addr, sizeof(e.key.addr));
  return cidr;
}

// "192.0.2.0/24" -> outcome, read back from the keys so the test also
// checks that each key encodes its own prefix.
std::map<std::string, int> Decode(const std::vector<RuleEntry>& entries) {
  std::map<std::string, int> out;
  for (const RuleEntry& e : entries) {
    const std::string text = FormatCidr(PrefixOf(e));
    EXPECT_EQ(out.count(text), 0u) << "duplicate entry " << text;
    out[text] = e.value.outcome;
  }
  return out;
}

// What the XDP program does with the entries: the longest prefix of the
// source's family and generation decides.
int LongestMatch(const std::vector<RuleEntry>& entries, const Cidr& source,
                 uint8_t gen) {
  int best_len = -1;
  int outcome = SW_OUTCOME_UNMATCHED;
  for (const RuleEntry& e : entries) {
    if (e.key.gen != gen ||
        e.key.family != static_cast<uint8_t>(source.family)) {
      continue;
    }
    const Cidr prefix = PrefixOf(e);
    if (prefix.Contains(source) && prefix.prefix_len > best_len) {
      best_len = prefix.prefix_len;
      outcome = e.value.outcome;
    }
  }
  return outcome;
}

// README's order (allow before deny), checked list by list.
int ListOrder(const std::vector<Cidr>& allow, const std::vector<Cidr>& deny,
              const Cidr& source) {
  const auto inside = [&](const std::vector<Cidr>& list) {
    return std::any_of(list.begin(), list.end(),
                       [&](const Cidr& c) { return c.Contains(source); });
  };
  if (inside(allow)) return SW_OUTCOME_ALLOWED;
  if (inside(deny)) return SW_OUTCOME_DENIED;
  return SW_OUTCOME_UNMATCHED;
}

constexpr int kAllowed = SW_OUTCOME_ALLOWED;
constexpr int kDenied = SW_OUTCOME_DENIED;

TEST(RulesTest, EmptyListsGiveNoEntries) {
  EXPECT_TRUE(BuildRuleEntries({}, {}, 0).empty());
}

TEST(RulesTest, DenyOnly) {
  const auto entries =
      BuildRuleEntries({}, Cs({"192.0.2.0/24", "2001:db8::/32"}), 0);
  const std::map<std::string, int> want = {{"192.0.2.0/24", kDenied},
                                           {"2001:db8::/32", kDenied}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, AllowBeatsLongerDeny) {
  const auto entries =
      BuildRuleEntries(Cs({"192.0.2.0/24"}), Cs({"192.0.2.128/25"}), 0);
  const std::map<std::string, int> want = {{"192.0.2.0/24", kAllowed},
                                           {"192.0.2.128/25", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, LongerAllowCarvesOutOfDeny) {
  const auto entries =
      BuildRuleEntries(Cs({"198.51.100.7/32"}), Cs({"198.51.100.0/24"}), 0);
  const std::map<std::string, int> want = {{"198.51.100.0/24", kDenied},
                                           {"198.51.100.7/32", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, DenyInsideAllowInsideDeny) {
  const auto entries = BuildRuleEntries(
      Cs({"192.0.2.0/25"}), Cs({"192.0.2.0/24", "192.0.2.56/32"}), 0);
  const std::map<std::string, int> want = {{"192.0.2.0/24", kDenied},
                                           {"192.0.2.0/25", kAllowed},
                                           {"192.0.2.56/32", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, AllowBeatsLongerDenyIpv6) {
  const auto entries = BuildRuleEntries(
      Cs({"2001:db8::/32"}), Cs({"2001:db8:1::/48", "2001:db8:1:2::1"}), 0);
  const std::map<std::string, int> want = {{"2001:db8::/32", kAllowed},
                                           {"2001:db8:1::/48", kAllowed},
                                           {"2001:db8:1:2::1/128", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, SiblingPrefixesDoNotCover) {
  const auto entries =
      BuildRuleEntries(Cs({"192.0.2.0/25"}), Cs({"192.0.2.128/25"}), 0);
  const std::map<std::string, int> want = {{"192.0.2.0/25", kAllowed},
                                           {"192.0.2.128/25", kDenied}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, DefaultRouteAllowCoversEveryDenyOfItsFamilyOnly) {
  const auto entries = BuildRuleEntries(
      Cs({"0.0.0.0/0"}), Cs({"203.0.113.0/24", "2001:db8::/32"}), 0);
  const std::map<std::string, int> want = {{"0.0.0.0/0", kAllowed},
                                           {"203.0.113.0/24", kAllowed},
                                           {"2001:db8::/32", kDenied}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, FamiliesWithSameLeadingBitsStayApart) {
  // 192.0.2.0 is c000:0200 as 32 leading bits.
  const auto entries =
      BuildRuleEntries(Cs({"c000:200::/24"}), Cs({"192.0.2.0/24"}), 0);
  const std::map<std::string, int> want = {{"192.0.2.0/24", kDenied},
                                           {"c000:200::/24", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, DuplicatesCollapse) {
  const auto entries =
      BuildRuleEntries(Cs({"192.0.2.0/24", "192.0.2.0/24", "2001:db8::/32"}),
                       Cs({"198.51.100.0/24", "198.51.100.0/24",
                           "2001:db8::/32", "2001:db8::/32"}),
                       0);
  const std::map<std::string, int> want = {{"192.0.2.0/24", kAllowed},
                                           {"198.51.100.0/24", kDenied},
                                           {"2001:db8::/32", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
  EXPECT_EQ(entries.size(), 3u);
}

TEST(RulesTest, SamePrefixInBothListsIsAllowed) {
  const auto entries =
      BuildRuleEntries(Cs({"192.0.2.0/24"}), Cs({"192.0.2.0/24"}), 0);
  const std::map<std::string, int> want = {{"192.0.2.0/24", kAllowed}};
  EXPECT_EQ(Decode(entries), want);
}

TEST(RulesTest, EveryEntryCarriesTheGeneration) {
  for (const uint8_t gen : {uint8_t{0}, uint8_t{1}}) {
    const auto entries =
        BuildRuleEntries(Cs({"192.0.2.0/24"}), Cs({"2001:db8::/32"}), gen);
    ASSERT_EQ(entries.size(), 2u);
    for (const RuleEntry& e : entries) EXPECT_EQ(e.key.gen, gen);
  }
}

TEST(RulesTest, OutputIsIndependentOfInputOrder) {
  const std::vector<std::string> allow = {"192.0.2.0/25", "2001:db8:1::/48",
                                          "203.0.113.0/24"};
  const std::vector<std::string> deny = {"192.0.2.0/24", "2001:db8::/32",
                                         "198.51.100.0/24"};
  std::vector<std::string> allow_rev(allow.rbegin(), allow.rend());
  std::vector<std::string> deny_rev(deny.rbegin(), deny.rend());
  const auto a = BuildRuleEntries(Cs(allow), Cs(deny), 1);
  const auto b = BuildRuleEntries(Cs(allow_rev), Cs(deny_rev), 1);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(std::memcmp(&a[i], &b[i], sizeof(RuleEntry)), 0) << i;
  }
}

TEST(RulesTest, MakeRuleKeyIpv4Layout) {
  const sw_rule_key key = MakeRuleKey(C("192.0.2.0/24"), 1);
  EXPECT_EQ(key.prefixlen, 32u + 24u);
  EXPECT_EQ(key.gen, 1);
  EXPECT_EQ(key.family, SW_FAMILY_IPV4);
  EXPECT_EQ(key.pad[0], 0);
  EXPECT_EQ(key.pad[1], 0);
  const uint8_t addr[16] = {192, 0, 2, 0};
  EXPECT_EQ(std::memcmp(key.addr, addr, sizeof(addr)), 0);
}

TEST(RulesTest, MakeRuleKeyIpv6Layout) {
  const sw_rule_key key = MakeRuleKey(C("2001:db8:1::/48"), 0);
  EXPECT_EQ(key.prefixlen, 32u + 48u);
  EXPECT_EQ(key.gen, 0);
  EXPECT_EQ(key.family, SW_FAMILY_IPV6);
  const uint8_t addr[16] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01};
  EXPECT_EQ(std::memcmp(key.addr, addr, sizeof(addr)), 0);
}

TEST(RulesTest, MakeRuleKeyFullLengthAndDefaultRoute) {
  EXPECT_EQ(MakeRuleKey(C("192.0.2.56"), 0).prefixlen, 64u);
  EXPECT_EQ(MakeRuleKey(C("2001:db8::1"), 0).prefixlen, 160u);
  EXPECT_EQ(MakeRuleKey(C("0.0.0.0/0"), 0).prefixlen, 32u);
  EXPECT_EQ(MakeRuleKey(C("::/0"), 0).prefixlen, 32u);
}

// Host bits past the prefix (possible in a Cidr built by code rather than
// parsed) never reach the kernel, so lookups and deletes use one key.
TEST(RulesTest, MakeRuleKeyMasksHostBits) {
  Cidr sloppy = C("192.0.2.0/24");
  sloppy.addr[3] = 56;
  sloppy.addr[9] = 1;
  const sw_rule_key a = MakeRuleKey(sloppy, 0);
  const sw_rule_key b = MakeRuleKey(C("192.0.2.0/24"), 0);
  EXPECT_EQ(std::memcmp(&a, &b, sizeof(a)), 0);

  const auto entries = BuildRuleEntries({sloppy}, {C("192.0.2.0/24")}, 0);
  EXPECT_EQ(entries.size(), 1u);
}

// For random lists over a small space, one longest-prefix lookup in the
// folded entries gives the same outcome as reading the lists in order.
TEST(RulesTest, OneLookupMatchesListOrder) {
  std::mt19937 rng(20240601);
  for (int round = 0; round < 50; ++round) {
    std::vector<Cidr> allow, deny;
    for (int i = 0; i < 6; ++i) {
      for (auto* list : {&allow, &deny}) {
        Cidr c = C("192.0.2.0/24");
        c.prefix_len = static_cast<uint8_t>(24 + rng() % 9);
        c.addr[3] = static_cast<uint8_t>(rng());
        MaskAddress(c.addr, c.family, c.prefix_len);
        list->push_back(c);
      }
    }
    const auto entries = BuildRuleEntries(allow, deny, 0);
    for (int host = 0; host < 256; ++host) {
      Cidr source = C("192.0.2.0/32");
      source.addr[3] = static_cast<uint8_t>(host);
      ASSERT_EQ(LongestMatch(entries, source, 0),
                ListOrder(allow, deny, source))
          << "round " << round << " host " << FormatCidr(source);
    }
  }
}

// "2001:db8:1::/48" -> whether the entry carries SW_RULE_BLOCK.
std::map<std::string, bool> BlockFlags(const std::vector<RuleEntry>& entries) {
  std::map<std::string, bool> out;
  for (const RuleEntry& e : entries) {
    out[FormatCidr(PrefixOf(e))] = (e.value.flags & SW_RULE_BLOCK) != 0;
  }
  return out;
}

TEST(RulesTest, VerdictBlocksAreASlash24AndASlash48) {
  EXPECT_EQ(VerdictBlockLen(Family::kIpv4), 24);
  EXPECT_EQ(VerdictBlockLen(Family::kIpv6), 48);
}

// An entry holds for its sources' whole blocks when it is at most a block
// long and nothing longer than a block lies inside it. Rules of a block's
// length or shorter inside it do not split it: they decide whole blocks
// themselves.
TEST(RulesTest, BlockFlagMarksEntriesThatDecideWholeBlocks) {
  const auto entries = BuildRuleEntries(
      Cs({"203.0.113.7/32", "2001:db8:1:2::/64", "2001:db8:3::/48"}),
      Cs({"198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/25",
          "2001:db8:e000::/47", "2001:db8:1::/48", "2001:db8::/32",
          "2001:db8:200::/40", "2001:db8:2ab::/48"}),
      0);
  const std::map<std::string, bool> want = {
      {"198.51.100.0/24", true},     // alone
      {"203.0.113.0/24", false},     // a /32 inside
      {"203.0.113.7/32", false},     // longer than a block
      {"192.0.2.0/25", false},       // longer than a block
      {"2001:db8:e000::/47", true},  // two whole /48s
      {"2001:db8:1::/48", false},    // a /64 inside
      {"2001:db8:1:2::/64", false},  // longer than a block
      {"2001:db8:3::/48", true},     // inside the /32, nothing inside it
      {"2001:db8:200::/40", true},   // a /48 inside: not longer
      {"2001:db8:2ab::/48", true},   // inside the /40, nothing inside it
      {"2001:db8::/32", false},      // the /64, two levels down
  };
  EXPECT_EQ(BlockFlags(entries), want);
}

// For random lists around the block boundary, every source of a flagged
// entry's blocks has that entry as its longest match (so one cached
// verdict is right for the block), and an entry at most a block long is
// left unflagged only when a longer entry lies inside it.
TEST(RulesTest, BlockFlagHoldsForEverySourceOfTheBlock) {
  std::mt19937 rng(20261123);
  int flagged = 0, split = 0;
  const auto random_in = [&](const Cidr& prefix, uint8_t keep) {
    // An address of prefix whose first `keep` bits are prefix's.
    Cidr a = prefix;
    a.prefix_len = 128;
    for (int byte = 0; byte < 16; ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        if (byte * 8 + bit < keep) continue;
        const uint8_t m = static_cast<uint8_t>(0x80 >> bit);
        a.addr[byte] = static_cast<uint8_t>((a.addr[byte] & ~m) |
                                            ((rng() & 1) != 0 ? m : 0));
      }
    }
    return a;
  };
  // The index of the entry that decides source (-1: none).
  const auto longest = [](const std::vector<RuleEntry>& entries,
                          const Cidr& source) {
    int best = -1, best_len = -1;
    for (size_t i = 0; i < entries.size(); ++i) {
      const Cidr p = PrefixOf(entries[i]);
      if (p.Contains(source) && p.prefix_len > best_len) {
        best = static_cast<int>(i);
        best_len = p.prefix_len;
      }
    }
    return best;
  };
  for (int round = 0; round < 100; ++round) {
    std::vector<Cidr> allow, deny;
    for (int i = 0; i < 5; ++i) {
      for (auto* list : {&allow, &deny}) {
        // Inside 2001:db8::/44: lengths 44 to 52 nest and overlap.
        Cidr c = random_in(C("2001:db8::/44"), 44);
        c.prefix_len = static_cast<uint8_t>(44 + rng() % 9);
        MaskAddress(c.addr, c.family, c.prefix_len);
        list->push_back(c);
      }
    }
    const auto entries = BuildRuleEntries(allow, deny, 0);
    for (size_t i = 0; i < entries.size(); ++i) {
      const Cidr p = PrefixOf(entries[i]);
      const bool flag = (entries[i].value.flags & SW_RULE_BLOCK) != 0;
      if (p.prefix_len > 48) {
        EXPECT_FALSE(flag) << FormatCidr(p);
        continue;
      }
      if (!flag) {
        ++split;
        const bool longer_inside = std::any_of(
            entries.begin(), entries.end(), [&](const RuleEntry& e) {
              const Cidr q = PrefixOf(e);
              return q.prefix_len > 48 && p.Contains(q);
            });
        EXPECT_TRUE(longer_inside) << FormatCidr(p) << " left unflagged";
        continue;
      }
      ++flagged;
      for (int probe = 0; probe < 16; ++probe) {
        const Cidr source = random_in(p, p.prefix_len);
        if (longest(entries, source) != static_cast<int>(i)) continue;
        for (int other = 0; other < 16; ++other) {
          const Cidr neighbour = random_in(source, 48);
          ASSERT_EQ(longest(entries, neighbour), static_cast<int>(i))
              << "round " << round << ": " << FormatCidr(p) << " decided "
              << FormatCidr(source) << " but not " << FormatCidr(neighbour);
        }
      }
    }
  }
  // Both branches ran often enough to mean something.
  EXPECT_GT(flagged, 100);
  EXPECT_GT(split, 100);
}

}  // namespace
}  // namespace synwatch
