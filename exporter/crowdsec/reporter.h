// SPDX-License-Identifier: Apache-2.0
// The CrowdSec reporter: port scans detected in XDP become alerts on a
// CrowdSec Local API (scenario synwatch/port-scan), sent by a watcher
// (machine) that logs in with a password for a JWT. Alerts carry no
// decision: the LAPI's profiles decide the ban, and every bouncer of the
// fleet enforces it. The event thread only queues (bounded, never blocks);
// one worker thread sends batches and backs off while the LAPI is down.
#pragma once

#include <prometheus/metric_family.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/abi.h"
#include "base/net.h"
#include "config/config.h"
#include "crowdsec/lapi_client.h"

namespace synwatch {

inline constexpr char kScanScenario[] = "synwatch/port-scan";

// One detection, as the alert tells it.
struct ScanReport {
  Cidr source;         // the scanner: full width (scope Ip) or the prefix
                       // synwatch tracks peers by (scope Range)
  std::string target;  // the address scanned
  std::string interface;
  std::vector<uint16_t> ports;  // distinct ports in the window, ascending
  double unix_time = 0;         // when it was detected
  bool simulated = false;       // rules.dry_run was on: nothing dropped
};

// The report of a SW_EVENT_SCAN record: the source masked to the length
// synwatch tracks peers by (peers.ipv4/ipv6_prefix_length).
ScanReport ScanReportFromEvent(const sw_event& event, const std::string& ifname,
                               const PeersConfig& peers, double unix_time,
                               bool simulated);

// What the alert says beyond the detection.
struct ReportSettings {
  std::string machine_id;
  uint32_t capacity = 0;              // port_scan.max_ports
  std::chrono::nanoseconds window{};  // port_scan.window (the leak speed)
  size_t max_queued = 1024;
  size_t batch = 50;  // alerts a POST carries at most
};

// The alerts of a batch as POST /v1/alerts wants them (a JSON array).
std::string AlertsJson(const std::vector<ScanReport>& reports,
                       const ReportSettings& settings);

// The machine password from crowdsec.machine_password_file: a regular file
// that neither group nor others may read (else it refuses), trimmed, not
// empty. Throws std::runtime_error with context, never with the password.
std::string ReadMachinePassword(const std::string& path);

class Reporter {
 public:
  // What the worker asks of the LAPI: production wraps LapiClient::Post.
  // token "" for the login.
  using Post =
      std::function<LapiAnswer(const std::string& path, const std::string& json,
                               const std::string& token)>;
  // unix seconds.
  using Clock = std::function<double()>;

  // cancel, if given, ends a request under way (Stop() calls it).
  Reporter(ReportSettings settings, std::string password, Post post,
           Clock clock = UnixNowSeconds, std::function<void()> cancel = {});
  ~Reporter();  // stops the thread
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  // From the event thread: queues and wakes the worker. Never blocks on
  // the LAPI; false (counted as dropped) when the queue is full.
  bool Enqueue(ScanReport report);

  // The outcome of one attempt at the oldest batch.
  enum class SendResult { kIdle, kSent, kRejected, kRetry };
  // Logs in when there is no valid token, POSTs the oldest batch (up to
  // settings.batch alerts) and on 401 logs in again once. Sent or
  // rejected (a 4xx other than 401) alerts leave the queue; on a
  // transport error, a 5xx or a failed login they stay for the retry. In
  // the caller's thread (what the worker runs; tests call it).
  SendResult SendOnce();
  // A batch that failed this many times in a row is given up (failed).
  static constexpr unsigned kMaxAttempts = 10;  // about 4 min

  void Start();
  void Stop();

  // synwatch_crowdsec_alerts_* and logins; never throws.
  std::vector<prometheus::MetricFamily> Collect() const;

  static double UnixNowSeconds();

 private:
  bool Login();  // with mu_ not held
  void Run();

  ReportSettings settings_;
  std::string password_;  // never logged
  Post post_;
  Clock clock_;
  std::function<void()> cancel_;

  // The worker's own: the token and when it expires (unix seconds).
  std::string token_;
  double token_expires_ = 0;

  mutable std::mutex mu_;  // guards the queue and the counters
  std::condition_variable wake_;
  std::deque<ScanReport> queue_;
  bool stop_ = false;
  unsigned failures_in_row_ = 0;
  uint64_t sent_ = 0;
  uint64_t failed_ = 0;
  uint64_t dropped_ = 0;
  uint64_t logins_ok_ = 0;
  uint64_t logins_failed_ = 0;
  uint64_t requests_failed_ = 0;
  std::thread thread_;
};

}  // namespace synwatch
