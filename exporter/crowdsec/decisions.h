// SPDX-License-Identifier: Apache-2.0
// CrowdSec decisions: the LAPI's stream answers parsed into prefixes, and
// the store that keeps every decision apart and works out what the kernel's
// "decisions" trie must hold (one entry per prefix, the latest expiry of the
// decisions in force on it; gone only when none remains).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/net.h"

namespace synwatch {

// Parses a Go time.Duration ("3h59m59.9s", "1m0.5s", "500ms", "-2s").
bool ParseGoDuration(std::string_view text, std::chrono::nanoseconds* out);

struct Decision {
  int64_t id = 0;
  std::string origin;    // "crowdsec", "cscli", "CAPI", "lists", ...
  std::string scenario;  // origin "lists": the list's name
  std::string scope;     // "ip" or "range" (lower case)
  Cidr prefix;           // host bits zero; IPv4-mapped IPv6 as IPv4
  std::chrono::nanoseconds duration{};
};

// Which decisions to enforce (crowdsec.origins, crowdsec.scopes).
struct DecisionFilter {
  std::vector<std::string> origins;  // empty: all
  std::vector<std::string> scopes = {"ip", "range"};
};

// One answer of GET /v1/decisions/stream.
struct StreamDelta {
  std::vector<Decision> added;
  std::vector<Decision> deleted;
  uint64_t ignored = 0;  // another type, scope or origin (counted, left alone)
  uint64_t malformed = 0;  // a record that could not be read (logged once each)
};

// Parses the stream's JSON ({"new": [...], "deleted": [...]}, either may be
// null). Throws std::runtime_error when the text is not such an object;
// a bad record only counts as malformed, with the first reason in *error.
StreamDelta ParseStream(std::string_view json, const DecisionFilter& filter,
                        std::string* error);

// What the kernel's table must change: expires_ns for a prefix to write
// (CLOCK_MONOTONIC), or nullopt for one to delete. origin: the OriginLabel
// of the decision that ends last on the prefix (of those, the one sent
// last: the highest id), the one its banned SYNs are counted under.
struct KernelChange {
  Cidr prefix;
  std::optional<uint64_t> expires_ns;
  std::string origin;
};

class DecisionStore {
 public:
  // Applies a stream answer at now_ns (CLOCK_MONOTONIC). A deleted record
  // removes its own decision; one whose id was never sent (the LAPI sends
  // one decision per value and reports a value deleted once none remains)
  // clears its prefix. startup: the answer
  // is the whole set, so decisions it lacks go (the kernel keeps enforcing
  // through the switch: only the difference is written). Expired decisions
  // go too. Returns the changes of the kernel's view, in prefix order.
  std::vector<KernelChange> Apply(const StreamDelta& delta, uint64_t now_ns,
                                  bool startup);

  // The prefixes as the kernel should hold them.
  const std::map<Cidr, uint64_t>& kernel() const { return kernel_; }
  // Their origin labels (KernelChange::origin).
  const std::map<Cidr, std::string>& kernel_origins() const {
    return kernel_origins_;
  }
  size_t decisions() const { return by_id_.size(); }

  // Decisions in force by origin, scope and family ("ipv4"/"ipv6"), kept
  // as they change: a scrape does not walk 100,000 decisions.
  using Key = std::tuple<std::string, std::string, std::string>;
  const std::map<Key, uint64_t>& Counts() const { return counts_; }

 private:
  struct Entry {
    Cidr prefix;
    uint64_t expires_ns = 0;
    std::string origin;
    std::string scope;
    std::string label;  // OriginLabel
  };
  void Remove(int64_t id, std::set<Cidr>* touched);
  static Key CountKey(const Entry& e);
  std::map<int64_t, Entry> by_id_;
  std::map<Cidr, std::set<int64_t>> by_prefix_;
  std::map<Cidr, uint64_t> kernel_;
  std::map<Cidr, std::string> kernel_origins_;
  std::map<Key, uint64_t> counts_;  // by_id_ by CountKey
  // by_id_ in order of expiry: a poll finds the expired without a walk.
  std::set<std::pair<uint64_t, int64_t>> by_expiry_;
};

}  // namespace synwatch
