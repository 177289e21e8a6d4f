// SPDX-License-Identifier: Apache-2.0
// The production row source: reads the BPF maps on each scrape. The
// per-peer table is read with batched lookups (one syscall per few thousand
// entries, not one per key); per-CPU values are summed here.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "base/interface_view.h"
#include "metrics/collector.h"

namespace synwatch {

class MapRowSource : public RowSource {
 public:
  // Holds non-owning references: both outlive the HTTP server.
  struct Maps {
    int if_stats_fd = -1;
    int peers_fd = -1;
    int scan_track_fd = -1;
    int blocked_fd = -1;
    int flood_fd = -1;
    int origin_syns_fd = -1;  // -1: [crowdsec] off
    int origin_names_fd = -1;
    uint32_t peers_capacity = 0;
    uint32_t scan_track_capacity = 0;
    uint32_t blocked_capacity = 0;
    // port_scan.window in ms (ExporterState): the tracked ports that count.
    const std::atomic<uint64_t>* scan_window_ms = nullptr;
  };
  MapRowSource(const Maps& maps, InterfaceSnapshot interfaces);

  bool ReadInterfaces(std::vector<InterfaceRow>* rows) const override;
  bool ReadPeers(std::vector<PeerRow>* rows) const override;
  uint32_t PeerCapacity() const override { return maps_.peers_capacity; }
  bool ReadScanTables(ScanTables* tables) const override;
  bool ReadFlood(FloodState* flood) const override;
  bool ReadOriginSyns(std::vector<OriginRow>* rows) const override;

 private:
  const Maps maps_;
  const InterfaceSnapshot interfaces_;
  const int ncpus_;
};

// Sums per-CPU copies of sw_if_stats.
sw_if_stats SumStats(const std::vector<sw_if_stats>& per_cpu);

}  // namespace synwatch
