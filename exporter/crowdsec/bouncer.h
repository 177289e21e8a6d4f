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

#include "base/net.h"
#include "config/config.h"
#include "crowdsec/decisions.h"
#include "crowdsec/lapi_client.h"
#include "crowdsec/origins.h"
#include "metrics/status_page.h"

namespace synwatch {

// The kernel's table as the bouncer sees it (production: the pinned LPM
// trie, KernelDecisionTable; tests: a map).
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
};

// The "decisions" map at fd and the origin slots' names at names_fd (not
// owned): the slots an earlier synwatch gave out are read once and kept.
class KernelDecisionTable final : public DecisionTable {
 public:
  KernelDecisionTable(int fd, int names_fd);
  bool Write(const Cidr& prefix, uint64_t expires_ns,
             const std::string& origin) override;
  bool Erase(const Cidr& prefix) override;
  std::vector<Cidr> List() const override;

 private:
  int fd_;
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
