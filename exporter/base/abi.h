// SPDX-License-Identifier: Apache-2.0
// The C++ view of bpf/synwatch.h: the layout is pinned once here, so a change
// on either side that shifts a field fails to compile instead of misreading.
// When to bump SW_ABI_VERSION: docs/architecture.md, "The kernel/user ABI".
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>

extern "C" {
#include "bpf/synwatch.h"
}

namespace synwatch {

// The label values of the kernel's outcome and action numbers, for metrics,
// log lines and the status page alike: one list, indexed by SW_OUTCOME_* and
// SW_ACTION_*.
inline constexpr std::array<const char*, SW_OUTCOME_COUNT> kOutcomeNames = {
    "allowed", "denied", "blocked", "unmatched", "banned"};
inline constexpr std::array<const char*, SW_ACTION_COUNT> kActionNames = {
    "pass", "drop"};
inline const char* OutcomeName(unsigned outcome) {
  return outcome < kOutcomeNames.size() ? kOutcomeNames[outcome] : "unknown";
}
inline const char* ActionName(unsigned action) {
  return action < kActionNames.size() ? kActionNames[action] : "unknown";
}

static_assert(sizeof(sw_params) == 40);
static_assert(offsetof(sw_params, scan_max_ports) == 8);
static_assert(offsetof(sw_params, connections_per_second) == 12);
static_assert(offsetof(sw_params, rules_version) == 16);
static_assert(offsetof(sw_params, scan_window_ns) == 24);
static_assert(sizeof(sw_config) == 8 + 2 * sizeof(sw_params) + 4 * SW_IF_SLOTS);
static_assert(offsetof(sw_params, flood_new_peers) == 20);
static_assert(sizeof(sw_if_stats) ==
              8 * (int{SW_CLASS_COUNT} +
                   2 * int{SW_OUTCOME_COUNT} * int{SW_ACTION_COUNT} + 8 +
                   int{SW_SPLIT_COUNT} * int{SW_OUTCOME_COUNT} *
                       int{SW_ACTION_COUNT} +
                   int{SW_OUTCOME_COUNT} * int{SW_ACTION_COUNT}));
static_assert(offsetof(sw_if_stats, syn_no_peer) ==
              8 * (int{SW_CLASS_COUNT} +
                   int{SW_OUTCOME_COUNT} * int{SW_ACTION_COUNT} + 8));
static_assert(offsetof(sw_if_stats, split_tcp) ==
              offsetof(sw_if_stats, syn_no_peer) +
                  sizeof(sw_if_stats{}.syn_no_peer));
static_assert(offsetof(sw_if_stats, probes) + sizeof(sw_if_stats{}.probes) ==
              sizeof(sw_if_stats));
static_assert(sizeof(sw_flood) == 32);
static_assert(sizeof(sw_rule_key) == 24);
static_assert(offsetof(sw_rule_key, addr) == 8);
static_assert(sizeof(sw_rule_value) == 4);
static_assert(offsetof(sw_rule_value, flags) == 1);
static_assert(sizeof(sw_verdict) == 40);
static_assert(offsetof(sw_verdict, version) == 16);
static_assert(offsetof(sw_verdict, memo_until) == 28);
static_assert(offsetof(sw_verdict, dec_until) == 36);
static_assert(sizeof(sw_peer_key) == 24);
static_assert(offsetof(sw_peer_key, addr) == 8);
static_assert(SW_PEER_ADMIT_SLOTS == 65536 && SW_PEER_ADMIT_BITS < 32);
static_assert(sizeof(sw_scan_key) == 20);
static_assert(SW_SCAN_ADMIT_SLOTS == 65536);  // README, "Port scans"
static_assert(sizeof(sw_scan_state) == 8 * SW_SCAN_SLOTS);
static_assert(sizeof(sw_block) == 16);
static_assert(sizeof(sw_decision_key) == 24);
static_assert(offsetof(sw_decision_key, addr) == 8);
static_assert(sizeof(sw_decision) == 16);
static_assert(offsetof(sw_decision, origin) == 8);
static_assert(offsetof(sw_decision, prefix_len) == 12);
static_assert(sizeof(sw_decision_host) == 20);
static_assert(offsetof(sw_decision_key, family) + sizeof(sw_decision_host) ==
              sizeof(sw_decision_key));  // the program keys the hash with it
static_assert(SW_DEC_BANNED > SW_DEC_CLEAR && SW_DEC_CLEAR >= SW_ORIGIN_SLOTS);
static_assert((SW_ORIGIN_SLOTS & (SW_ORIGIN_SLOTS - 1)) == 0);
static_assert(sizeof(sw_origin_syns) == 8 * SW_ACTION_COUNT);
static_assert(sizeof(sw_origin_name) == SW_ORIGIN_NAME_LEN);
static_assert(offsetof(sw_params, decisions) == 6);
static_assert(offsetof(sw_event, src) == 8);
static_assert(offsetof(sw_event, sport) == 40);
static_assert(offsetof(sw_event, block_ns) == 48);
static_assert(sizeof(sw_event) == 56 + 2 * (SW_SCAN_SLOTS + 3));
static_assert(sizeof(sw_handover_note) == 32);
static_assert(offsetof(sw_handover_note, ifindex) == 24);

// Bits of sw_rule_key.prefixlen that precede the address (gen, family, pad).
inline constexpr uint32_t kRuleKeyHeaderBits = 32;

// Places ifindex in the open-addressed slot table of cfg (the same probe
// sequence the XDP program walks). Returns the slot, or -1 when every probe
// position is taken by another interface. Idempotent.
inline int PlaceIfindex(sw_config& cfg, uint32_t ifindex) {
  for (uint32_t i = 0; i < SW_IF_PROBES; ++i) {
    const uint32_t slot = (ifindex + i) & (SW_IF_SLOTS - 1);
    if (cfg.if_slots[slot] == ifindex) return static_cast<int>(slot);
  }
  for (uint32_t i = 0; i < SW_IF_PROBES; ++i) {
    const uint32_t slot = (ifindex + i) & (SW_IF_SLOTS - 1);
    if (cfg.if_slots[slot] == 0) {
      cfg.if_slots[slot] = ifindex;
      return static_cast<int>(slot);
    }
  }
  return -1;
}

// The rules_version for the next rule set written into cfg: above both
// halves', so that no verdict the XDP program cached under an earlier rule
// set (this process's or, with pinned maps, an earlier synwatch's) matches
// it. Never 0, which the program does not cache under.
inline uint32_t NextRulesVersion(const sw_config& cfg) {
  const uint32_t v =
      std::max(cfg.params[0].rules_version, cfg.params[1].rules_version) + 1;
  return v == 0 ? 1 : v;
}

// Now on the clock of the program's times (expires_ns, detected_ns, event
// times): CLOCK_MONOTONIC, which bpf_ktime_get_ns() and, a tick behind,
// bpf_ktime_get_coarse_ns() read.
inline uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL +
         static_cast<uint64_t>(ts.tv_nsec);
}

// sw_scan_fingerprint() of key as the XDP program takes it: the key's five
// 32-bit words as they lie in memory.
inline uint64_t ScanFingerprint(const sw_scan_key& key) {
  uint32_t w[5];
  static_assert(sizeof(w) == sizeof(key));
  std::memcpy(w, &key, sizeof(w));
  return sw_scan_fingerprint(w[0], w[1], w[2], w[3], w[4]);
}

// The slot of ifindex, or SW_IF_UNKNOWN.
inline uint32_t FindIfindexSlot(const sw_config& cfg, uint32_t ifindex) {
  for (uint32_t i = 0; i < SW_IF_PROBES; ++i) {
    const uint32_t slot = (ifindex + i) & (SW_IF_SLOTS - 1);
    if (cfg.if_slots[slot] == ifindex) return slot;
  }
  return SW_IF_UNKNOWN;
}

inline void RemoveIfindex(sw_config& cfg, uint32_t ifindex) {
  const uint32_t slot = FindIfindexSlot(cfg, ifindex);
  if (slot != SW_IF_UNKNOWN) cfg.if_slots[slot] = 0;
}

}  // namespace synwatch
