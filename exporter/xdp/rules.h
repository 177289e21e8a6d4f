// SPDX-License-Identifier: Apache-2.0
// Folds the allow and deny lists into the entries of the single "rules" LPM
// trie, so the XDP program decides a SYN with one lookup.
#pragma once

#include <cstdint>
#include <vector>

#include "base/abi.h"
#include "base/net.h"

namespace synwatch {

struct RuleEntry {
  sw_rule_key key;
  sw_rule_value value;
};

// One entry per distinct prefix of either list, for generation gen. The
// longest prefix P of the trie that contains a source decides it, and
// the documented order (README: allow before deny, whatever the prefix lengths)
// is preserved by giving P the outcome "allowed" when any allow prefix contains
// P, else "denied". Duplicates collapse. An entry whose verdict holds for the
// whole verdict block around every source it decides gets SW_RULE_BLOCK, which
// lets the XDP program cache it for the block.
std::vector<RuleEntry> BuildRuleEntries(const std::vector<Cidr>& allow,
                                        const std::vector<Cidr>& deny,
                                        uint8_t gen);

// The length of the verdict block of family: the XDP program caches a
// verdict for the whole block when the deciding entry has SW_RULE_BLOCK.
uint8_t VerdictBlockLen(Family family);

// The key for looking up (or deleting) cidr in generation gen.
sw_rule_key MakeRuleKey(const Cidr& cidr, uint8_t gen);

}  // namespace synwatch
