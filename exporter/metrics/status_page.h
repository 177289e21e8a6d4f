// SPDX-License-Identifier: Apache-2.0
// The live status page at "/": one host at a glance, without Grafana.
// Server-rendered HTML, no external assets, no JavaScript. Bounded work per
// request: one read of the interfaces and the port-scan tables (a few
// entries), the last RecentScans::kCapacity scans, and the top kTopPeers of
// the per-peer table. That table (up to peers.max_entries rows, what a scrape
// reads) is read at most once per kPeersMaxAge whatever the request rate:
// requests in between show the last read, whose time the page gives.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/collector.h"
#include "metrics/recent_scans.h"

namespace synwatch {

// What another room adds to the page when it renders (the CrowdSec bouncer,
// wired by main.cc): rows of "Rules in force" and of "Table fill".
struct StatusExtra {
  struct Table {
    std::string name;
    uint64_t entries = 0;
    uint64_t capacity = 0;
  };
  std::vector<std::pair<std::string, std::string>> rules;  // setting, value
  std::vector<Table> tables;
};
using StatusExtras = std::function<StatusExtra()>;

class StatusPage {
 public:
  static constexpr std::size_t kTopPeers = 10;
  static constexpr std::chrono::seconds kPeersMaxAge{10};

  // Holds references: all outlive the HTTP server.
  StatusPage(const RowSource& source, const ExporterState& state,
             const RecentScans& scans, std::string version,
             std::string metrics_path, StatusExtras extras = {});

  std::string Render() const;

 private:
  // The top kTopPeers of one read of the per-peer table.
  struct PeerView {
    bool read = false;  // false until the first read
    bool ok = false;    // the read succeeded
    std::vector<PeerRow> top;
    std::size_t entries = 0;
    std::chrono::steady_clock::time_point at;
    double unix_time = 0;
  };
  PeerView Peers() const;

  const RowSource& source_;
  const ExporterState& state_;
  const RecentScans& scans_;
  const std::string version_;
  const std::string metrics_path_;
  const StatusExtras extras_;
  // Held while the table is read, so concurrent requests wait for that one
  // read rather than each starting their own.
  mutable std::mutex peers_mutex_;
  mutable PeerView peers_;
};

}  // namespace synwatch
