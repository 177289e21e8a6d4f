// SPDX-License-Identifier: Apache-2.0
// Events from the XDP program (port scans, and connection attempts when
// log.connections is on), read from the BPF ring buffer by one thread that
// sleeps in epoll until there is something to read: no polling.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/abi.h"
#include "base/interface_view.h"
#include "metrics/recent_scans.h"

struct ring_buffer;

namespace synwatch {

// Turns ifindexes into names for the log lines.

// "Port scan detected: 192.0.2.56 -> 192.0.2.1 on ports 80,81,82,83
// interface=eth0 action=drop blocked_for=10m"
std::string FormatScanEvent(const sw_event& event, const std::string& ifname);
// "New connection: 192.0.2.56:5973 -> 192.0.2.1:80 interface=eth0
// outcome=unmatched action=pass" ([addr]:port for IPv6).
std::string FormatConnectionEvent(const sw_event& event,
                                  const std::string& ifname);

// A token bucket: at most rate events a second, bursts of one second's worth.
// Not thread-safe: the event thread owns it.
class RateLimiter {
 public:
  explicit RateLimiter(uint32_t per_second) { SetRate(per_second); }
  void SetRate(uint32_t per_second);
  // now_ns: a monotonic clock.
  bool Allow(uint64_t now_ns);

 private:
  double rate_ = 1;
  double tokens_ = 1;
  uint64_t last_ns_ = 0;
};

class EventReader {
 public:
  // Starts the thread. Throws std::runtime_error when the ring buffer cannot
  // be set up. rate_limit_drops is bumped for connection lines that the
  // user-space limit held back (the XDP program limits per CPU as well).
  // recent, when given, keeps the last scans detected (the status page).
  // on_scan, when given, is called in the event thread with each scan and
  // its interface's name; it must not block (the CrowdSec reporter queues).
  using ScanSink =
      std::function<void(const sw_event& event, const std::string& ifname)>;
  EventReader(int events_fd, InterfaceSnapshot interfaces,
              uint32_t connections_per_second,
              std::atomic<uint64_t>& rate_limit_drops,
              RecentScans* recent = nullptr, ScanSink on_scan = {});
  ~EventReader();  // stops and joins the thread
  EventReader(const EventReader&) = delete;
  EventReader& operator=(const EventReader&) = delete;

  // Applied by the event thread at its next event.
  void SetConnectionsPerSecond(uint32_t per_second) {
    connections_per_second_ = per_second;
  }

 private:
  struct RingBufferDeleter {
    void operator()(ring_buffer* rb) const;
  };
  static int OnEvent(void* ctx, void* data, size_t size);
  void Handle(const sw_event& event);
  void Run();

  InterfaceSnapshot interfaces_;
  std::atomic<uint32_t> connections_per_second_;
  std::atomic<uint64_t>& rate_limit_drops_;
  RecentScans* const recent_;
  const ScanSink on_scan_;
  RateLimiter limiter_;
  uint32_t limiter_rate_ = 0;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace synwatch
