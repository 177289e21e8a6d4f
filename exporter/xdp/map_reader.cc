// SPDX-License-Identifier: Apache-2.0
#include "xdp/map_reader.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "base/abi.h"
#include "base/huge_pages.h"

namespace synwatch {
namespace {

// Entries per batched lookup: large enough that a 65,536-entry table takes a
// few dozen syscalls, small enough that the buffers stay in the hundreds of
// kilobytes on many-CPU hosts.
constexpr uint32_t kBatchEntries = 4096;

}  // namespace

// sw_if_stats is nothing but __u64 counters: summed as an array, so a
// counter added to the ABI is summed without touching this code.
static_assert(sizeof(sw_if_stats) % sizeof(uint64_t) == 0);
constexpr size_t kStatsWords = sizeof(sw_if_stats) / sizeof(uint64_t);

sw_if_stats SumStats(const std::vector<sw_if_stats>& per_cpu) {
  uint64_t sum[kStatsWords] = {};
  for (const sw_if_stats& s : per_cpu) {
    uint64_t words[kStatsWords];
    std::memcpy(words, &s, sizeof(words));
    for (size_t i = 0; i < kStatsWords; ++i) sum[i] += words[i];
  }
  sw_if_stats out;
  std::memcpy(&out, sum, sizeof(out));
  return out;
}

// Keeps the best `limit` rows in rows (a heap whose top is the worst kept
// row): O(log limit) a row, memory bounded by limit.
template <typename Row, typename Better>
void KeepTop(std::vector<Row>& rows, Row row, std::size_t limit,
             Better better) {
  if (rows.size() < limit) {
    rows.push_back(std::move(row));
    std::push_heap(rows.begin(), rows.end(), better);
  } else if (better(row, rows.front())) {
    std::pop_heap(rows.begin(), rows.end(), better);
    rows.back() = std::move(row);
    std::push_heap(rows.begin(), rows.end(), better);
  }
}

MapRowSource::MapRowSource(const Maps& maps, InterfaceSnapshot interfaces)
    : maps_(maps),
      interfaces_(std::move(interfaces)),
      ncpus_(libbpf_num_possible_cpus()) {}

bool MapRowSource::ReadInterfaces(std::vector<InterfaceRow>* rows) const {
  // A handful of interfaces: one lookup per attached slot reads less than a
  // batch over all SW_IF_STATS_ENTRIES x CPUs would.
  bool ok = true;
  std::vector<sw_if_stats> per_cpu(static_cast<size_t>(ncpus_));
  for (const InterfaceView& s : interfaces_()) {
    InterfaceRow row;
    row.name = s.name;
    row.ifindex = s.ifindex;
    row.mode = s.mode;
    row.attached = s.attached;
    row.attach = s.attach;
    row.run_priority = s.run_priority;
    const uint32_t slot = s.slot;
    if (slot != SW_IF_UNKNOWN) {
      if (bpf_map_lookup_elem(maps_.if_stats_fd, &slot, per_cpu.data()) == 0) {
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
  // The table's capacity bounds its rows: one allocation, no regrowth.
  rows->reserve(rows->size() + std::max<size_t>(maps_.peers_capacity, 1024));
  AdviseHugePages(rows->data(), rows->capacity() * sizeof(PeerRow));
  for (;;) {
    uint32_t count = kBatchEntries;
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    const int rc = bpf_map_lookup_batch(
        maps_.peers_fd, first ? nullptr : &out_batch, &out_batch, keys.data(),
        values.data(), &count, &opts);
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

namespace synwatch {
namespace {

// Walks a hash map with batched lookups, calling visit(key, value) for each
// entry. Returns false when a read failed.
template <typename Key, typename Value, typename Visit>
bool WalkBatched(int fd, uint32_t batch, Visit visit) {
  std::vector<Key> keys(batch);
  std::vector<Value> values(batch);
  uint32_t cursor = 0;
  bool first = true;
  for (;;) {
    uint32_t count = batch;
    bpf_map_batch_opts opts{};
    opts.sz = sizeof(opts);
    const int rc =
        bpf_map_lookup_batch(fd, first ? nullptr : &cursor, &cursor,
                             keys.data(), values.data(), &count, &opts);
    const int err = rc == 0 ? 0 : errno;
    if (rc != 0 && err != ENOENT) {
      spdlog::debug("batched map read: {}", std::strerror(err));
      return false;
    }
    for (uint32_t i = 0; i < count; ++i) visit(keys[i], values[i]);
    if (err == ENOENT) return true;
    first = false;
  }
}

}  // namespace

bool MapRowSource::ReadScanTables(ScanTables* tables) const {
  tables->track_capacity = maps_.scan_track_capacity;
  tables->block_capacity = maps_.blocked_capacity;
  bool ok = true;
  const uint64_t now = MonotonicNs();
  const double unix_now =
      std::chrono::duration<double>(
          std::chrono::system_clock::now().time_since_epoch())
          .count();
  const auto to_unix = [&](uint64_t mono_ns) {
    return unix_now -
           (static_cast<double>(now) - static_cast<double>(mono_ns)) / 1e9;
  };
  // Bounded detail: kept while walking, so memory stays at the bound
  // however full the tables are.
  const auto newer = [](const BlockRow& a, const BlockRow& b) {
    return a.detected_unix > b.detected_unix;
  };
  const auto more_ports = [](const TrackedRow& a, const TrackedRow& b) {
    return a.ports > b.ports;
  };
  if (maps_.blocked_fd >= 0) {
    ok &= WalkBatched<sw_scan_key, sw_block>(
        maps_.blocked_fd, 1024, [&](const sw_scan_key& k, const sw_block& b) {
          ++tables->blocked_entries;
          if (b.expires_ns <= now) return;
          ++tables->blocked_active;
          KeepTop(tables->blocks,
                  BlockRow{k, to_unix(b.detected_ns), to_unix(b.expires_ns)},
                  kMaxBlockRows, newer);
        });
    std::sort(tables->blocks.begin(), tables->blocks.end(), newer);
  }
  if (maps_.scan_track_fd >= 0) {
    const uint64_t window_ms =
        maps_.scan_window_ms != nullptr ? maps_.scan_window_ms->load() : 0;
    const uint64_t now_ms = now / 1000000;
    // The values are half a kilobyte each: small batches keep the buffer small.
    ok &= WalkBatched<sw_scan_key, sw_scan_state>(
        maps_.scan_track_fd, 256,
        [&](const sw_scan_key& k, const sw_scan_state& state) {
          ++tables->tracked;
          uint32_t ports = 0;
          for (const uint64_t slot : state.slots) {
            if (slot == 0) continue;
            const uint64_t ms = SW_SLOT_MS(slot);
            if (window_ms == 0 || ms + window_ms >= now_ms) ++ports;
          }
          if (ports > 0) {
            KeepTop(tables->tracked_peers, TrackedRow{k, ports},
                    kMaxTrackedRows, more_ports);
          }
        });
    std::sort(tables->tracked_peers.begin(), tables->tracked_peers.end(),
              more_ports);
  }
  return ok;
}

bool MapRowSource::ReadOriginSyns(std::vector<OriginRow>* rows) const {
  rows->clear();
  if (maps_.origin_syns_fd < 0 || maps_.origin_names_fd < 0) return true;
  std::vector<sw_origin_syns> per_cpu(static_cast<size_t>(ncpus_));
  for (uint32_t slot = 0; slot < SW_ORIGIN_SLOTS; ++slot) {
    sw_origin_name name{};
    if (bpf_map_lookup_elem(maps_.origin_names_fd, &slot, &name) != 0 ||
        bpf_map_lookup_elem(maps_.origin_syns_fd, &slot, per_cpu.data()) != 0) {
      spdlog::debug("read origin slot {}: {}", slot, std::strerror(errno));
      return false;
    }
    OriginRow row;
    row.origin =
        slot == SW_ORIGIN_OTHER
            ? std::string("other")
            : std::string(name.name, strnlen(name.name, sizeof(name.name)));
    for (const sw_origin_syns& c : per_cpu) {
      for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) row.syn[a] += c.syn[a];
    }
    // A free slot has counted nothing; "other" shows once it has.
    if (row.origin.empty() ||
        (slot == SW_ORIGIN_OTHER && row.syn[0] + row.syn[1] == 0)) {
      continue;
    }
    rows->push_back(std::move(row));
  }
  return true;
}

bool MapRowSource::ReadFlood(FloodState* flood) const {
  *flood = FloodState{};
  if (maps_.flood_fd < 0) return true;
  std::vector<sw_flood> per_cpu(static_cast<size_t>(ncpus_));
  const uint32_t zero = 0;
  if (bpf_map_lookup_elem(maps_.flood_fd, &zero, per_cpu.data()) != 0) {
    spdlog::debug("read flood: {}", std::strerror(errno));
    return false;
  }
  const uint64_t now = MonotonicNs();
  for (const sw_flood& f : per_cpu) {
    if (f.until_ns > now) ++flood->cpus_admitting;
    flood->periods += f.periods;
  }
  return true;
}

}  // namespace synwatch
