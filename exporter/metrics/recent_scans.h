// SPDX-License-Identifier: Apache-2.0
// The last port scans detected, for the status page: the event thread adds
// each detection's log line, the HTTP workers read a copy. Bounded: the
// newest kCapacity lines, each cut at kMaxLine bytes.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace synwatch {

struct RecentScan {
  double unix_time = 0;
  std::string line;  // "Port scan detected: ..." (xdp/events.h)
};

class RecentScans {
 public:
  static constexpr std::size_t kCapacity = 16;
  static constexpr std::size_t kMaxLine = 512;

  void Add(double unix_time, std::string line) {
    if (line.size() > kMaxLine) line.resize(kMaxLine);
    std::lock_guard lock(mutex_);
    if (scans_.size() == kCapacity) scans_.pop_front();
    scans_.push_back({unix_time, std::move(line)});
  }
  // Newest first.
  std::vector<RecentScan> Newest() const {
    std::lock_guard lock(mutex_);
    return {scans_.rbegin(), scans_.rend()};
  }

 private:
  mutable std::mutex mutex_;
  std::deque<RecentScan> scans_;
};

}  // namespace synwatch
