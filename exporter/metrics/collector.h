// SPDX-License-Identifier: Apache-2.0
// synwatch's own metrics, built on each scrape from an injected row source
// (production: the BPF maps, batched; tests: vectors). Collect() never
// throws: a failed read is counted and the scrape answers with what it has
// (docs/architecture.md, "Errors").
#pragma once

#include <prometheus/metric_family.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/abi.h"
#include "metrics/exposition.h"

namespace synwatch {

struct InterfaceRow {
  std::string name;
  uint32_t ifindex = 0;
  std::string mode;  // "native" | "generic" | "" while not attached
  bool attached = false;
  std::string attach = "direct";  // "direct" | "dispatcher"
  uint32_t run_priority = 0;      // dispatcher: position, lower runs first
  bool has_stats = false;         // false when the read failed
  sw_if_stats stats{};            // summed over CPUs
};

struct PeerRow {
  sw_peer_key key{};
  uint64_t packets = 0;  // summed over CPUs
};

// A block in force: the peer, and when it was detected and ends, as Unix
// times (converted from CLOCK_MONOTONIC when read).
struct BlockRow {
  sw_scan_key key{};
  double detected_unix = 0;
  double expires_unix = 0;
};

// A tracked peer and the distinct destination ports it sent SYNs to within
// port_scan.window.
struct TrackedRow {
  sw_scan_key key{};
  uint32_t ports = 0;
};

// Fill of the port-scan tables, and the bounded detail the fleet views use:
// at most kMaxBlockRows blocks in force (the most recently detected) and
// kMaxTrackedRows tracked peers (the most ports first).
inline constexpr std::size_t kMaxBlockRows = 64;
inline constexpr std::size_t kMaxTrackedRows = 64;
struct ScanTables {
  uint32_t tracked = 0;          // entries in scan_track
  uint32_t blocked_entries = 0;  // entries in blocked, expired or not
  uint32_t blocked_active = 0;   // entries whose block has not expired
  uint32_t track_capacity = 0;
  uint32_t block_capacity = 0;
  std::vector<BlockRow> blocks;           // sorted, at most kMaxBlockRows
  std::vector<TrackedRow> tracked_peers;  // sorted, at most kMaxTrackedRows
};

// Flood admission of the per-peer table (bpf/synwatch.h), over all CPUs.
struct FloodState {
  uint32_t cpus_admitting = 0;  // CPUs where flood admission holds now
  uint64_t periods = 0;         // flood admission periods begun, summed
};

// Banned SYNs of one decision origin (bpf/synwatch.h, "origin_syns"),
// summed over CPUs.
struct OriginRow {
  std::string origin;  // the slot's label; "other" for the shared slot
  uint64_t syn[SW_ACTION_COUNT] = {};
};

// What a scrape reads. Implementations return false when a read failed
// (partial rows may still be filled in).
class RowSource {
 public:
  virtual ~RowSource() = default;
  virtual bool ReadInterfaces(std::vector<InterfaceRow>* rows) const = 0;
  virtual bool ReadPeers(std::vector<PeerRow>* rows) const = 0;
  virtual uint32_t PeerCapacity() const = 0;
  virtual bool ReadScanTables(ScanTables* tables) const = 0;
  virtual bool ReadFlood(FloodState* flood) const = 0;
  // Only with [crowdsec] on: no rows, no family.
  virtual bool ReadOriginSyns(std::vector<OriginRow>* rows) const {
    rows->clear();
    return true;
  }
};

// State that the daemon changes and the scrape reports.
struct ExporterState {
  std::atomic<bool> dry_run{true};
  std::atomic<uint32_t> allow_rules{0};
  std::atomic<uint32_t> deny_rules{0};
  std::atomic<bool> last_reload_ok{true};
  std::atomic<double> last_reload_success_time{0};
  std::atomic<uint64_t> events_dropped_ring_full{0};
  std::atomic<uint64_t> events_dropped_rate_limit{0};
  // port_scan.window: which ports of a tracked peer still count.
  std::atomic<uint64_t> scan_window_ms{60000};
};

struct BuildInfo {
  std::string version;
  std::string revision;
  std::string libbpf_version;
};

class SynwatchCollector {
 public:
  SynwatchCollector(const RowSource& source, const ExporterState& state,
                    BuildInfo build_info);

  std::vector<prometheus::MetricFamily> Collect() const;

  // What Collect() returns, serialized into out (without the OpenMetrics
  // "# EOF", see AppendEnd): the same bytes as Serialize(Collect()), but
  // the per-peer family is written from the rows read, never built as
  // ClientMetric objects, so a scrape's memory stays near its text.
  void Write(ExpositionFormat format, std::string& out) const;

  uint64_t scrape_errors() const { return scrape_errors_.load(); }

 private:
  // Every family but the per-peer one, in order, and that one streamed;
  // it belongs at families[peers_at].
  struct Scrape {
    std::vector<prometheus::MetricFamily> families;
    StreamedFamily peers;
    std::size_t peers_at = 0;
  };
  Scrape Build() const;
  void LogReadErrorRateLimited() const;

  // The peer rows of the last scrape, for the next one (at most 8 MiB,
  // about 200,000 peers: a larger table is read into fresh memory).
  static constexpr std::size_t kMaxSpareRowBytes = std::size_t{8} << 20;
  mutable std::mutex spare_rows_mutex_;
  mutable std::vector<PeerRow> spare_rows_;

  const RowSource& source_;
  const ExporterState& state_;
  const BuildInfo build_info_;
  mutable std::atomic<uint64_t> scrape_errors_{0};
  mutable std::atomic<int64_t> last_error_log_ns_{0};
};

}  // namespace synwatch
