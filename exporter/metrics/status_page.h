// SPDX-License-Identifier: Apache-2.0
// The live status page at "/": one host at a glance, without Grafana.
// Server-rendered HTML, no external assets, no JavaScript. Bounded work per
// request: one read of the interfaces, the port-scan tables and the per-peer
// table (what a scrape reads, at most peers.max_entries rows), a partial sort
// for the top kTopPeers, and the last RecentScans::kCapacity scans.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "metrics/collector.h"
#include "metrics/recent_scans.h"

namespace synwatch {

class StatusPage {
 public:
  static constexpr std::size_t kTopPeers = 10;

  // Holds references: all outlive the HTTP server.
  StatusPage(const RowSource& source, const ExporterState& state,
             const RecentScans& scans, std::string version,
             std::string metrics_path);

  std::string Render() const;

 private:
  const RowSource& source_;
  const ExporterState& state_;
  const RecentScans& scans_;
  const std::string version_;
  const std::string metrics_path_;
};

// "&<>\"'" escaped for HTML text and attribute values.
void AppendHtmlText(std::string& out, std::string_view s);

}  // namespace synwatch
