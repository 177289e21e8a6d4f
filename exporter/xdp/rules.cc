// SPDX-License-Identifier: Apache-2.0
#include "xdp/rules.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

namespace synwatch {
namespace {

// Orders prefixes so that duplicates collapse and the output is stable
// (family, then length, then address), which keeps map diffs readable.
using PrefixId = std::tuple<Family, uint8_t, std::array<uint8_t, 16>>;

Cidr Canonical(const Cidr& cidr) {
  Cidr out = cidr;
  out.prefix_len = std::min(cidr.prefix_len, MaxPrefixLen(cidr.family));
  MaskAddress(out.addr, out.family, out.prefix_len);
  return out;
}

PrefixId IdOf(const Cidr& cidr) {
  return {cidr.family, cidr.prefix_len, cidr.addr};
}

// The prefix of length len (at most cidr's own) that contains cidr.
PrefixId OuterId(const Cidr& cidr, uint8_t len) {
  Cidr outer = cidr;
  outer.prefix_len = len;
  MaskAddress(outer.addr, outer.family, len);
  return IdOf(outer);
}

}  // namespace

std::vector<RuleEntry> BuildRuleEntries(const std::vector<Cidr>& allow,
                                        const std::vector<Cidr>& deny,
                                        uint8_t gen) {
  // An allow prefix contains P exactly when it equals P masked to the allow
  // prefix's own length, so probing the allow set at each length that occurs
  // in it answers "is P inside any allow prefix" without comparing every
  // pair (both lists may hold SW_MAX_RULES entries).
  std::set<PrefixId> allowed;
  std::map<Family, std::set<uint8_t>> allow_lengths;
  for (const Cidr& cidr : allow) {
    const Cidr c = Canonical(cidr);
    allowed.insert(IdOf(c));
    allow_lengths[c.family].insert(c.prefix_len);
  }

  const auto inside_allow = [&](const Cidr& p) {
    const auto lengths = allow_lengths.find(p.family);
    if (lengths == allow_lengths.end()) return false;
    for (const uint8_t len : lengths->second) {
      if (len > p.prefix_len) break;
      if (allowed.contains(OuterId(p, len))) return true;
    }
    return false;
  };

  std::map<PrefixId, Cidr> prefixes;
  for (const auto* list : {&allow, &deny}) {
    for (const Cidr& cidr : *list) {
      const Cidr c = Canonical(cidr);
      prefixes.emplace(IdOf(c), c);
    }
  }

  // An entry P decides the whole verdict block around any source it matches
  // when P is at most a block long and no entry longer than a block lies
  // inside P: then every address of that block has P as its longest match.
  // Marking, for each such longer entry, the prefix containing it at each
  // length that occurs up to a block, finds the entries that fail.
  std::map<Family, std::set<uint8_t>> block_lengths;
  for (const auto& [id, cidr] : prefixes) {
    if (cidr.prefix_len <= VerdictBlockLen(cidr.family)) {
      block_lengths[cidr.family].insert(cidr.prefix_len);
    }
  }
  std::set<PrefixId> split;
  for (const auto& [id, cidr] : prefixes) {
    if (cidr.prefix_len <= VerdictBlockLen(cidr.family)) continue;
    for (const uint8_t len : block_lengths[cidr.family]) {
      split.insert(OuterId(cidr, len));
    }
  }

  std::vector<RuleEntry> entries;
  entries.reserve(prefixes.size());
  for (const auto& [id, cidr] : prefixes) {
    RuleEntry entry{};
    entry.key = MakeRuleKey(cidr, gen);
    entry.value.outcome = static_cast<uint8_t>(
        inside_allow(cidr) ? SW_OUTCOME_ALLOWED : SW_OUTCOME_DENIED);
    if (cidr.prefix_len <= VerdictBlockLen(cidr.family) &&
        !split.contains(id)) {
      entry.value.flags = SW_RULE_BLOCK;
    }
    entries.push_back(entry);
  }
  return entries;
}

uint8_t VerdictBlockLen(Family family) {
  return family == Family::kIpv4 ? SW_VERDICT_BLOCK4 : SW_VERDICT_BLOCK6;
}

sw_rule_key MakeRuleKey(const Cidr& cidr, uint8_t gen) {
  const Cidr c = Canonical(cidr);
  sw_rule_key key{};
  key.prefixlen = kRuleKeyHeaderBits + c.prefix_len;
  key.gen = gen;
  key.family = static_cast<uint8_t>(c.family);
  std::memcpy(key.addr, c.addr.data(), sizeof(key.addr));
  return key;
}

}  // namespace synwatch
