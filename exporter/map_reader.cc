// SPDX-License-Identifier: Apache-2.0
#include "map_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "interfaces.h"

namespace synwatch {
namespace {

// Entries per batched lookup: large enough that a 65,536-entry table takes a
// few dozen syscalls, small enough that the buffers stay in the hundreds of
// kilobytes on many-CPU hosts.
constexpr uint32_t kBatchEntries = 4096;

}  // namespace

sw_if_stats SumStats(const std::vector<sw_if_stats>& per_cpu) {
  sw_if_stats sum{};
  for (const sw_if_stats& s : per_cpu) {
    for (int c = 0; c < SW_CLASS_COUNT; ++c) sum.classes[c] += s.classes[c];
    for (int o = 0; o < SW_OUTCOME_COUNT; ++o) {
      for (int a = 0; a < SW_ACTION_COUNT; ++a) sum.syn[o][a] += s.syn[o][a];
    }
    sum.peer_insert_failures += s.peer_insert_failures;
    sum.port_scans += s.port_scans;
  }
  return sum;
}

MapRowSource::MapRowSource(int if_stats_fd, int peers_fd,
                           uint32_t peers_capacity,
                           const InterfaceManager& interfaces)
    : if_stats_fd_(if_stats_fd),
      peers_fd_(peers_fd),
      peers_capacity_(peers_capacity),
      interfaces_(interfaces),
      ncpus_(libbpf_num_possible_cpus()) {}

bool MapRowSource::ReadInterfaces(std::vector<InterfaceRow>* rows) const {
  // A handful of interfaces: one lookup per attached slot reads less than a
  // batch over all SW_IF_STATS_ENTRIES x CPUs would.
  bool ok = true;
  std::vector<sw_if_stats> per_cpu(static_cast<size_t>(ncpus_));
  for (const InterfaceState& s : interfaces_.Snapshot()) {
    InterfaceRow row;
    row.name = s.name;
    row.ifindex = s.ifindex;
    row.mode = s.mode;
    row.attached = s.attached;
    const uint32_t slot = s.slot;
    if (slot != SW_IF_UNKNOWN) {
      if (bpf_map_lookup_elem(if_stats_fd_, &slot, per_cpu.data()) == 0) {
        row.stats = SumStats(per_cpu);
        row.has_stats = true;
      } else {
        ok = false;
        spdlog::debug("read if_stats slot {}: {}", slot, std::strerror(errno));
      }
    }
    rows->push_back(std::move(row));
  }
  return ok;
}

bool MapRowSource::ReadPeers(std::vector<PeerRow>* rows) const {
  const size_t ncpus = static_cast<size_t>(ncpus_);
  std::vector<sw_peer_key> keys(kBatchEntries);
  std::vector<uint64_t> values(kBatchEntries * ncpus);
  uint32_t out_batch = 0;
  bool first = true;
  rows->reserve(rows->size() + 1024);
  for (;;) {
    uint32_t count = kBatchEntries;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int rc = bpf_map_lookup_batch(peers_fd_, first ? nullptr : &out_batch,
                                        &out_batch, keys.data(), values.data(),
                                        &count, &opts);
    const int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err != ENOENT) {
      spdlog::debug("batched read of peer table: {}", std::strerror(err));
      return false;
    }
    for (uint32_t i = 0; i < count; ++i) {
      PeerRow row;
      row.key = keys[i];
      const uint64_t* v = &values[i * ncpus];
      for (size_t c = 0; c < ncpus; ++c) row.packets += v[c];
      rows->push_back(row);
    }
    if (err == ENOENT) return true;  // end of table
    first = false;
  }
}

}  // namespace synwatch
