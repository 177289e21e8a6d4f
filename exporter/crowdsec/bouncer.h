// SPDX-License-Identifier: Apache-2.0
// The CrowdSec bouncer: a thread that polls the LAPI's decision stream
// (startup=true until one succeeds, then deltas), keeps every decision in a
// DecisionStore and writes the difference to the kernel's "decisions" trie.
// The kernel expires entries by itself, so the LAPI or this thread being
// down never lifts a ban early nor keeps one late.
#pragma once

#include <prometheus/metric_family.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/abi.h"
#include "base/net.h"
#include "config/config.h"
#include "crowdsec/decisions.h"
#include "crowdsec/lapi_client.h"
#include "crowdsec/origins.h"
#include "metrics/status_page.h"

namespace synwatch {

// The kernel's table as the bouncer sees it (production: the pinned maps,
// KernelDecisionTable; tests: a map).
class DecisionTable {
 public:
  virtual ~DecisionTable() = default;
  // False with errno set when the kernel refused (table full: E2BIG).
  // origin: the OriginLabel its banned SYNs are counted under.
  virtual bool Write(const Cidr& prefix, uint64_t expires_ns,
                     const std::string& origin) = 0;
  virtual bool Erase(const Cidr& prefix) = 0;
  // Every prefix in the table (entries an earlier synwatch left pinned).
  virtual std::vector<Cidr> List() const = 0;
  // Makes the writes since the last call seen by sources whose answer the
  // program keeps (sw_verdict.dec). False with errno set on failure.
  virtual bool Commit() { return true; }
};

// The kernel's decision maps (descriptors not owned): single addresses in
// the hash "decision_hosts", ranges in the trie "decisions", the epochs of
// the answers the program keeps in "decision_epochs", and the origin slots'
// names in "origin_names".
struct DecisionMapFds {
  int ranges = -1;
  int hosts = -1;
  int epochs = -1;
  int names = -1;
};

// Writes decisions where the program looks for them, and raises the epochs
// that end the answers it kept: the slot of each single address written
// (sw_verdict_hash), every slot once a range was. Entries an earlier
// synwatch (ABI 6, one trie for all) left pinned are moved on construction:
// single addresses to the hash, ranges given their prefix_len, each written
// in its new place before it leaves the old one.
class DecisionMaps {
 public:
  explicit DecisionMaps(const DecisionMapFds& fds);
  // value.prefix_len is set from prefix.
  bool Write(const Cidr& prefix, sw_decision value);
  bool Erase(const Cidr& prefix);
  std::vector<Cidr> List() const;
  bool Commit();

  // The epoch slot of a single address (IPv4 or IPv6).
  static uint32_t EpochSlot(const Cidr& host);

 private:
  void Touch(const Cidr& prefix);

  DecisionMapFds fds_;
  std::vector<uint32_t> epochs_;  // what the kernel's array holds
  std::vector<uint32_t> dirty_;   // slots to raise
  bool all_dirty_ = false;
};

// The decision maps with the origin slots' names: the slots an earlier
// synwatch gave out are read once and kept.
class KernelDecisionTable final : public DecisionTable {
 public:
  explicit KernelDecisionTable(const DecisionMapFds& fds);
  bool Write(const Cidr& prefix, uint64_t expires_ns,
             const std::string& origin) override;
  bool Erase(const Cidr& prefix) override;
  std::vector<Cidr> List() const override;
  bool Commit() override;

 private:
  DecisionMaps maps_;
  int names_fd_;
  OriginTable origins_;
};

// One poll's result: what the bouncer did with one answer.
enum class PollResult { kOk, kTransportError, kHttpError, kBadAnswer };

class Bouncer {
 public:
  // What a poll asks of the LAPI: production wraps LapiClient::Stream.
  using Fetch = std::function<LapiAnswer(bool startup)>;
  // CLOCK_MONOTONIC in ns (the kernel's bpf_ktime_get_coarse_ns clock).
  using Clock = std::function<uint64_t()>;

  // cancel, if given, ends a fetch under way (Stop() calls it, so that
  // shutting down never waits for a slow LAPI).
  Bouncer(const CrowdsecConfig& config, Fetch fetch, DecisionTable* table,
          Clock clock = MonotonicNs, std::function<void()> cancel = {});
  ~Bouncer();  // stops the thread
  Bouncer(const Bouncer&) = delete;
  Bouncer& operator=(const Bouncer&) = delete;

  // One poll, in the caller's thread (what the thread runs; tests call it).
  PollResult PollOnce();
  // Polls every update_interval (plus per-host jitter), backing off on
  // errors, until Stop() or destruction.
  void Start();
  void Stop();

  // synwatch_crowdsec_* families; never throws.
  std::vector<prometheus::MetricFamily> Collect() const;
  // The status page's rows: the bans in force, the last good poll, and the
  // kernel's decision table.
  StatusExtra Status() const;

  static uint64_t MonotonicNs();

 private:
  void Run();

  CrowdsecConfig config_;
  DecisionFilter filter_;
  Fetch fetch_;
  DecisionTable* table_;
  Clock clock_;
  std::function<void()> cancel_;

  mutable std::mutex mu_;  // guards everything below but the stop flag
  DecisionStore store_;
  bool synced_ = false;        // a startup=true answer was applied
  uint64_t last_full_ns_ = 0;  // clock_() at the last full answer applied
  // What periodic full answers changed: prefixes the delta stream had not
  // brought, and prefixes it had not taken away.
  uint64_t resync_added_ = 0;
  uint64_t resync_removed_ = 0;
  std::vector<Cidr> inherited_;  // pinned entries found at start
  std::map<PollResult, uint64_t> polls_;
  uint64_t ignored_ = 0;
  uint64_t malformed_ = 0;
  uint64_t write_failures_ = 0;
  double last_success_ = 0;  // unix seconds, 0 = never
  unsigned failures_in_row_ = 0;

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace synwatch
