// SPDX-License-Identifier: Apache-2.0
// sw_scan_fingerprint() (bpf/synwatch.h): how evenly its top bits spread
// peers over the door of "scan_track" and over "block_hint". Clustered
// peers share slots: a shared door slot delays admissions, and a shared
// hint makes a peer look "blocked" up for nothing. That the exporter and the
// program agree on it is tested in tests/bpf/pinning_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <unordered_set>
#include <vector>

#include "base/abi.h"

namespace synwatch {
namespace {

sw_scan_key V4Key(uint32_t addr, uint8_t prefix_len = 32) {
  sw_scan_key key{};
  key.family = SW_FAMILY_IPV4;
  key.prefix_len = prefix_len;
  for (int i = 0; i < 4; ++i) {
    key.addr[i] = static_cast<uint8_t>(addr >> (24 - 8 * i));
  }
  return key;
}

// A /64 (prefix_len 64) whose upper 64 address bits are top.
sw_scan_key V6Key(uint64_t top) {
  sw_scan_key key{};
  key.family = SW_FAMILY_IPV6;
  key.prefix_len = 64;
  for (int i = 0; i < 8; ++i) {
    key.addr[i] = static_cast<uint8_t>(top >> (56 - 8 * i));
  }
  return key;
}

// Slots taken by keys hashed to their fingerprint's top bits, as a fraction
// of what keys.size() random values would take: 1 is random, below is
// clustered.
double Spread(const std::vector<sw_scan_key>& keys, int bits) {
  std::unordered_set<uint64_t> slots;
  for (const sw_scan_key& key : keys) {
    slots.insert(ScanFingerprint(key) >> (64 - bits));
  }
  const double bins = std::ldexp(1.0, bits);
  const double expected =
      bins *
      (1.0 - std::pow(1.0 - 1.0 / bins, static_cast<double>(keys.size())));
  return static_cast<double>(slots.size()) / expected;
}

// 65,536 keys into the 65,536 slots of the door: random values take 41,427
// of them (1 - 1/e). Without the fold, consecutive IPv4 addresses took 0.64
// of that: their last byte is the top byte of a little-endian word.
constexpr double kMinSpread = 0.97;

TEST(ScanFingerprintTest, ConsecutiveIpv4PeersSpreadOverTheDoor) {
  std::vector<sw_scan_key> keys;
  for (uint32_t i = 0; i < 65536; ++i) keys.push_back(V4Key(0xc6120000 + i));
  EXPECT_GE(Spread(keys, SW_SCAN_ADMIT_BITS), kMinSpread);
}

TEST(ScanFingerprintTest, Ipv4PrefixesSpreadOverTheDoor) {
  std::vector<sw_scan_key> keys;
  for (uint32_t i = 0; i < 65536; ++i) keys.push_back(V4Key(i << 8, 24));
  EXPECT_GE(Spread(keys, SW_SCAN_ADMIT_BITS), kMinSpread);
}

TEST(ScanFingerprintTest, Ipv6PrefixesSpreadOverTheDoor) {
  std::vector<sw_scan_key> consecutive;
  std::vector<sw_scan_key> one_per_site;
  for (uint64_t i = 0; i < 65536; ++i) {
    consecutive.push_back(V6Key(0x20010db800000000ULL + i));
    one_per_site.push_back(V6Key(0x20010db800000000ULL + (i << 16)));
  }
  EXPECT_GE(Spread(consecutive, SW_SCAN_ADMIT_BITS), kMinSpread);
  EXPECT_GE(Spread(one_per_site, SW_SCAN_ADMIT_BITS), kMinSpread);
}

TEST(ScanFingerprintTest, ConsecutivePeersSpreadOverTheHints) {
  std::vector<sw_scan_key> keys;
  for (uint32_t i = 0; i < SW_BLOCK_HINT_SLOTS; ++i) {
    keys.push_back(V4Key(0xc0000200 + i));
  }
  EXPECT_GE(Spread(keys, SW_BLOCK_HINT_BITS), kMinSpread);
}

// Door index and check together (the top 32 bits) tell peers apart: two
// peers that share both pass for each other at the door.
TEST(ScanFingerprintTest, TopHalfTellsConsecutivePeersApart) {
  std::unordered_set<uint64_t> seen;
  for (uint32_t i = 0; i < 65536; ++i) {
    seen.insert(ScanFingerprint(V4Key(0xc6120000 + i)) >> 32);
  }
  EXPECT_GE(seen.size(), 65530U);
}

TEST(ScanFingerprintTest, FamilyAndPrefixLengthCount) {
  const sw_scan_key v4 = V4Key(0xc0000209);
  sw_scan_key shorter = v4;
  shorter.prefix_len = 24;
  sw_scan_key v6 = v4;
  v6.family = SW_FAMILY_IPV6;
  EXPECT_NE(ScanFingerprint(v4) >> 32, ScanFingerprint(shorter) >> 32);
  EXPECT_NE(ScanFingerprint(v4) >> 32, ScanFingerprint(v6) >> 32);
}

}  // namespace
}  // namespace synwatch
