// SPDX-License-Identifier: Apache-2.0
// The real XDP program, loaded from its skeleton for each test, with the
// policy written into its maps the way the exporter writes it, frames run
// through BPF_PROG_TEST_RUN, and counters read back as readable name -> value
// maps (so a failed expectation prints which counter moved).
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <gtest/gtest.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/abi.h"
#include "base/net.h"
#include "crowdsec/bouncer.h"
#include "synwatch.skel.h"
#include "xdp/bpf_program.h"
#include "xdp/rules.h"
#include "xdp_run.h"

namespace synwatch {

// Loopback exists in every network namespace, so BPF_PROG_TEST_RUN accepts
// it as the ingress device.
inline constexpr uint32_t kLoIfindex = 1;

// What the exporter derives from [rules] and [peers] for one generation.
// The verdict cache's two tables: "verdicts" (one entry per source) and
// "verdict_blocks" (one per /24 or /48 block).
enum class VerdictTable { kSources, kBlocks };

struct TestPolicy {
  std::vector<std::string> allow = {};
  std::vector<std::string> deny = {};
  bool default_drop = false;
  bool dry_run = false;
  uint8_t ipv4_prefix_len = 32;
  uint8_t ipv6_prefix_len = 128;
  // New peers per second and CPU that start flood admission; 0 = never.
  uint32_t flood_new_peers = SW_DEFAULT_FLOOD_NEW_PEERS;
  // [port_scan] and [log]; off unless a test turns them on.
  bool scan_enabled = false;
  uint32_t scan_max_ports = 3;
  uint64_t scan_window_ns = 60'000'000'000;
  uint64_t block_ns = 600'000'000'000;
  bool log_connections = false;
  uint32_t connections_per_second = 100;
  // [crowdsec] enabled: unmatched sources are looked up in "decisions".
  bool decisions = false;
};

inline const char* ClassName(unsigned cls) {
  switch (cls) {
    case SW_CLASS_SYN:
      return "syn";
    case SW_CLASS_TCP_OTHER:
      return "tcp_other";
    case SW_CLASS_OTHER_IP:
      return "other_ip";
    case SW_CLASS_NON_IP:
      return "non_ip";
    case SW_CLASS_MALFORMED:
      return "malformed";
  }
  return "?";
}

// "if1 192.0.2.0/24 denied drop": every field of the key, so a wrong mask,
// family, interface or label shows up in the diff.
inline std::string PeerLabel(const sw_peer_key& key) {
  char text[INET6_ADDRSTRLEN] = "?";
  const int af = key.family == SW_FAMILY_IPV4 ? AF_INET : AF_INET6;
  inet_ntop(af, key.addr, text, sizeof(text));
  std::string label = "if" + std::to_string(key.ifindex) + " " + text + "/" +
                      std::to_string(key.prefix_len) + " " +
                      OutcomeName(key.outcome) + " " + ActionName(key.action);
  // Bytes past an IPv4 address are part of the hash key too.
  if (af == AF_INET) {
    for (int i = 4; i < 16; ++i) {
      if (key.addr[i] != 0) return label + " (nonzero tail)";
    }
  }
  return label;
}

// The label the table rows expect: "if1 <peer> <outcome> <action>".
inline std::string ExpectedPeer(const std::string& peer, unsigned outcome,
                                unsigned action) {
  return "if" + std::to_string(kLoIfindex) + " " + peer + " " +
         OutcomeName(outcome) + " " + ActionName(action);
}

// An address of an event or key as text: "192.0.2.56", "2001:db8::1".
inline std::string AddrText(uint8_t family, const uint8_t* addr) {
  char text[INET6_ADDRSTRLEN] = "?";
  inet_ntop(family == SW_FAMILY_IPV4 ? AF_INET : AF_INET6, addr, text,
            sizeof(text));
  return text;
}

// The ports[] an event lists, nports of them.
inline std::vector<uint16_t> EventPorts(const sw_event& event) {
  const size_t n = std::min<size_t>(event.nports, std::size(event.ports));
  return std::vector<uint16_t>(event.ports, event.ports + n);
}

// Pins the calling thread to one CPU for its lifetime (per-CPU state such
// as the connection-log token bucket), and restores the old mask.
class CpuPin {
 public:
  explicit CpuPin(int cpu) {
    ok_ = pthread_getaffinity_np(pthread_self(), sizeof(old_), &old_) == 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    ok_ = ok_ && pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
  }
  ~CpuPin() {
    if (ok_) pthread_setaffinity_np(pthread_self(), sizeof(old_), &old_);
  }
  CpuPin(const CpuPin&) = delete;
  CpuPin& operator=(const CpuPin&) = delete;
  bool ok() const { return ok_; }

 private:
  cpu_set_t old_{};
  bool ok_ = false;
};

struct SkelDeleter {
  void operator()(synwatch_bpf* skel) const { synwatch_bpf__destroy(skel); }
};
using SkelPtr = std::unique_ptr<synwatch_bpf, SkelDeleter>;

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

class XdpProgram {
 public:
  // Opens and loads the embedded program with a peer table of peer_entries
  // and a scan tracking table of scan_track_entries (set before load, as the
  // exporter does). Returns 0 or an errno value.
  int Load(uint32_t peer_entries = SW_DEFAULT_PEER_ENTRIES,
           uint32_t scan_track_entries = SW_DEFAULT_SCAN_TRACK_ENTRIES) {
    skel_.reset(synwatch_bpf__open());
    if (!skel_) return errno;
    if (bpf_map__set_max_entries(skel_->maps.peers, peer_entries) != 0 ||
        bpf_map__set_max_entries(skel_->maps.scan_track, scan_track_entries) !=
            0) {
      return errno;
    }
    if (synwatch_bpf__load(skel_.get()) != 0) return errno;
    ncpus_ = libbpf_num_possible_cpus();
    return ncpus_ > 0 ? 0 : -ncpus_;
  }

  // Read-modify-write of the single config entry.
  sw_config ReadConfig() const {
    sw_config cfg{};
    const uint32_t key = 0;
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.config), &key, &cfg), 0);
    return cfg;
  }

  void WriteConfig(const sw_config& cfg) const {
    const uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.config), &key, &cfg, BPF_ANY),
              0)
        << std::strerror(errno);
  }

  // Returns the slot PlaceIfindex chose.
  int RegisterIfindex(uint32_t ifindex) const {
    sw_config cfg = ReadConfig();
    cfg.abi_version = SW_ABI_VERSION;
    const int slot = PlaceIfindex(cfg, ifindex);
    WriteConfig(cfg);
    return slot;
  }

  // Writes generation gen's params and rules; does not flip gen.
  void WritePolicy(uint8_t gen, const TestPolicy& policy) const {
    sw_config cfg = ReadConfig();
    sw_params& params = cfg.params[gen];
    const uint32_t version = NextRulesVersion(cfg);
    params = sw_params{};
    params.rules_version = version;
    params.default_drop = policy.default_drop;
    params.dry_run = policy.dry_run;
    params.ipv4_prefix_len = policy.ipv4_prefix_len;
    params.ipv6_prefix_len = policy.ipv6_prefix_len;
    params.flood_new_peers = policy.flood_new_peers;
    params.scan_enabled = policy.scan_enabled;
    params.scan_max_ports = policy.scan_max_ports;
    params.scan_window_ns = policy.scan_window_ns;
    params.block_ns = policy.block_ns;
    params.log_connections = policy.log_connections;
    params.connections_per_second = policy.connections_per_second;
    params.decisions = policy.decisions ? 1 : 0;
    WriteConfig(cfg);

    const std::vector<RuleEntry> entries =
        BuildRuleEntries(ParseAll(policy.allow), ParseAll(policy.deny), gen);
    for (const RuleEntry& entry : entries) {
      ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.rules), &entry.key,
                                    &entry.value, BPF_ANY),
                0)
          << std::strerror(errno);
    }
  }

  // Removes one prefix of generation gen from the trie behind the
  // program's back: the rules_version stays, so cached verdicts stay valid.
  void DeleteRuleBehindTheCache(const std::string& cidr, uint8_t gen) const {
    const sw_rule_key key = MakeRuleKey(ParseAll({cidr}).at(0), gen);
    ASSERT_EQ(bpf_map_delete_elem(Fd(skel_->maps.rules), &key), 0)
        << cidr << ": " << std::strerror(errno);
  }

  void SetGen(uint32_t gen) const {
    sw_config cfg = ReadConfig();
    cfg.gen = gen;
    WriteConfig(cfg);
  }

  RunResult Run(const std::vector<uint8_t>& frame, uint32_t ifindex,
                int repeat = 1) const {
    return RunXdp(bpf_program__fd(skel_->progs.xdp_synwatch), frame, ifindex,
                  repeat);
  }

  // One if_stats slot, per CPU.
  std::vector<sw_if_stats> PerCpuStats(uint32_t slot) const {
    std::vector<sw_if_stats> values(static_cast<size_t>(ncpus_));
    if (bpf_map_lookup_elem(Fd(skel_->maps.if_stats), &slot, values.data())) {
      ADD_FAILURE() << "if_stats[" << slot << "]: " << std::strerror(errno);
      return {};
    }
    return values;
  }

  // The non-zero counters of one if_stats slot, summed over CPUs:
  // "class.syn", "syn.denied.drop", "peer_insert_failures", "port_scans",
  // "scan_track_inserts", ..., "events_rate_limited",
  // "split.first.denied.drop", "split.later.unmatched.pass",
  // "probe.blocked.drop". The per-peer gap and inserts have their own
  // (NoPeerCounters, PeerInserts).
  std::map<std::string, uint64_t> SlotCounters(uint32_t slot) const {
    const std::vector<sw_if_stats> values = PerCpuStats(slot);
    std::map<std::string, uint64_t> out;
    const auto add = [&out](const std::string& name, uint64_t v) {
      if (v != 0) out[name] += v;
    };
    for (const sw_if_stats& s : values) {
      for (unsigned c = 0; c < SW_CLASS_COUNT; ++c) {
        add(std::string("class.") + ClassName(c), s.classes[c]);
      }
      for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
        for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
          add(std::string("syn.") + OutcomeName(o) + "." + ActionName(a),
              s.syn[o][a]);
        }
      }
      add("peer_insert_failures", s.peer_insert_failures);
      add("port_scans", s.port_scans);
      add("scan_track_inserts", s.scan_track_inserts);
      add("scan_track_failures", s.scan_track_failures);
      add("block_inserts", s.block_inserts);
      add("events_ring_full", s.events_ring_full);
      add("events_rate_limited", s.events_rate_limited);
      for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
        for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
          const std::string oa =
              std::string(OutcomeName(o)) + "." + ActionName(a);
          add("split.first." + oa, s.split_tcp[SW_SPLIT_FIRST][o][a]);
          add("split.later." + oa, s.split_tcp[SW_SPLIT_LATER][o][a]);
          add("probe." + oa, s.probes[o][a]);
        }
      }
    }
    return out;
  }

  // The SYNs of slot's totals that no peer series counts
  // (syn_no_peer), as "outcome.action", zeros left out.
  std::map<std::string, uint64_t> NoPeerCounters(uint32_t slot) const {
    std::map<std::string, uint64_t> out;
    for (const sw_if_stats& s : PerCpuStats(slot)) {
      for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
        for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
          if (s.syn_no_peer[o][a] == 0) continue;
          out[std::string(OutcomeName(o)) + "." + ActionName(a)] +=
              s.syn_no_peer[o][a];
        }
      }
    }
    return out;
  }

  uint64_t PeerInserts(uint32_t slot) const {
    uint64_t n = 0;
    for (const sw_if_stats& s : PerCpuStats(slot)) n += s.peer_inserts;
    return n;
  }

  // Checks that, for every outcome and action, the peer series of ifindex
  // plus syn_no_peer of slot add up to the totals of slot (true while no
  // peer was evicted). Returns the number of SYNs checked.
  uint64_t ExpectPeerIdentity(uint32_t slot, uint32_t ifindex) const {
    uint64_t series[SW_OUTCOME_COUNT][SW_ACTION_COUNT] = {};
    ForEachPeer([&](const sw_peer_key& key, uint64_t count) {
      if (key.ifindex == ifindex && key.outcome < SW_OUTCOME_COUNT &&
          key.action < SW_ACTION_COUNT) {
        series[key.outcome][key.action] += count;
      }
    });
    uint64_t total = 0;
    uint64_t syn[SW_OUTCOME_COUNT][SW_ACTION_COUNT] = {};
    uint64_t gap[SW_OUTCOME_COUNT][SW_ACTION_COUNT] = {};
    for (const sw_if_stats& s : PerCpuStats(slot)) {
      for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
        for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
          syn[o][a] += s.syn[o][a];
          gap[o][a] += s.syn_no_peer[o][a];
        }
      }
    }
    for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
      for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
        EXPECT_EQ(series[o][a] + gap[o][a], syn[o][a])
            << OutcomeName(o) << "." << ActionName(a) << ": series "
            << series[o][a] << " + without a peer " << gap[o][a];
        total += syn[o][a];
      }
    }
    return total;
  }

  // This CPU's flood state ("flood"), or all zero.
  sw_flood Flood(unsigned cpu) const {
    std::vector<sw_flood> values(static_cast<size_t>(ncpus_));
    const uint32_t zero = 0;
    if (bpf_map_lookup_elem(Fd(skel_->maps.flood), &zero, values.data())) {
      ADD_FAILURE() << "flood: " << std::strerror(errno);
      return {};
    }
    return cpu < values.size() ? values[cpu] : sw_flood{};
  }

  // Slots other than `slot` that counted anything.
  std::vector<uint32_t> OtherBusySlots(uint32_t slot) const {
    std::vector<uint32_t> busy;
    for (uint32_t s = 0; s < SW_IF_STATS_ENTRIES; ++s) {
      if (s != slot && !SlotCounters(s).empty()) busy.push_back(s);
    }
    return busy;
  }

  // Every peer entry, summed over CPUs, keyed by PeerLabel().
  std::map<std::string, uint64_t> Peers() const {
    std::map<std::string, uint64_t> out;
    ForEachPeer([&out](const sw_peer_key& key, uint64_t count) {
      out[PeerLabel(key)] += count;
    });
    return out;
  }

  // Calls f(key, count summed over CPUs) for every peer entry.
  template <class F>
  void ForEachPeer(F f) const {
    const int fd = Fd(skel_->maps.peers);
    std::vector<uint64_t> values(static_cast<size_t>(ncpus_));
    sw_peer_key key{};
    sw_peer_key next{};
    const sw_peer_key* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, &next) == 0) {
      key = next;
      prev = &key;
      if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) continue;
      uint64_t sum = 0;
      for (uint64_t v : values) sum += v;
      f(key, sum);
    }
  }

  // Every record in the "events" ring buffer since the last call, in order.
  std::vector<sw_event> DrainEvents() {
    if (!ring_) {
      ring_.reset(ring_buffer__new(Fd(skel_->maps.events), &XdpProgram::OnEvent,
                                   &events_, nullptr));
      if (!ring_) {
        ADD_FAILURE() << "ring_buffer__new: " << std::strerror(errno);
        return {};
      }
    }
    std::vector<sw_event> out;
    events_.clear();
    const int n = ring_buffer__consume(ring_.get());
    EXPECT_GE(n, 0) << "ring_buffer__consume: " << std::strerror(-n);
    out.swap(events_);
    return out;
  }

  // The "blocked" entry of a peer ("192.0.2.0" and its prefix length), if
  // any.
  std::optional<sw_block> Blocked(const std::string& addr,
                                  uint8_t prefix_len) const {
    const sw_scan_key key = ScanKey(addr, prefix_len);
    sw_block block{};
    if (bpf_map_lookup_elem(Fd(skel_->maps.blocked), &key, &block) != 0) {
      return std::nullopt;
    }
    return block;
  }

  // Writes a fleet decision on cidr ("203.0.113.0/24") ending at
  // expires_ns (CLOCK_MONOTONIC), as the bouncer does; and removes it.
  // Through the bouncer's writer (DecisionMaps): single addresses to the
  // hash, ranges to the trie, the program's kept answers ended.
  void WriteDecision(const std::string& cidr, uint64_t expires_ns,
                     uint32_t origin = 0) const {
    DecisionMaps maps(DecisionFds());
    sw_decision value{};
    value.expires_ns = expires_ns;
    value.origin = origin;
    ASSERT_TRUE(maps.Write(Prefix(cidr), value))
        << cidr << ": " << std::strerror(errno);
    ASSERT_TRUE(maps.Commit()) << std::strerror(errno);
  }
  void DeleteDecision(const std::string& cidr) const {
    DecisionMaps maps(DecisionFds());
    ASSERT_TRUE(maps.Erase(Prefix(cidr)))
        << cidr << ": " << std::strerror(errno);
    ASSERT_TRUE(maps.Commit()) << std::strerror(errno);
  }
  DecisionMapFds DecisionFds() const {
    DecisionMapFds fds;
    fds.ranges = DecisionsFd();
    fds.hosts = Fd(skel_->maps.decision_hosts);
    fds.epochs = Fd(skel_->maps.decision_epochs);
    fds.names = OriginNamesFd();
    return fds;
  }
  int DecisionHostsFd() const { return Fd(skel_->maps.decision_hosts); }
  int DecisionsFd() const { return Fd(skel_->maps.decisions); }
  int OriginSynsFd() const { return Fd(skel_->maps.origin_syns); }
  int OriginNamesFd() const { return Fd(skel_->maps.origin_names); }
  // Banned SYNs of each origin slot that counted any, summed over CPUs:
  // slot -> {pass, drop}.
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> OriginSyns() const {
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> out;
    std::vector<sw_origin_syns> values(static_cast<size_t>(ncpus_));
    for (uint32_t slot = 0; slot < SW_ORIGIN_SLOTS; ++slot) {
      if (bpf_map_lookup_elem(OriginSynsFd(), &slot, values.data()) != 0) {
        ADD_FAILURE() << "origin_syns: " << std::strerror(errno);
        return out;
      }
      std::pair<uint64_t, uint64_t> sum{};
      for (const sw_origin_syns& v : values) {
        sum.first += v.syn[SW_ACTION_PASS];
        sum.second += v.syn[SW_ACTION_DROP];
      }
      if (sum.first + sum.second != 0) out[slot] = sum;
    }
    return out;
  }
  static Cidr Prefix(const std::string& cidr) { return ParseAll({cidr}).at(0); }

  // Removes a peer's "blocked" entry behind the program's back.
  void DeleteBlock(const std::string& addr, uint8_t prefix_len) const {
    const sw_scan_key key = ScanKey(addr, prefix_len);
    ASSERT_EQ(bpf_map_delete_elem(Fd(skel_->maps.blocked), &key), 0)
        << std::strerror(errno);
  }

  // The door slot of a peer in "scan_admit", and writing it.
  uint64_t DoorSlot(const std::string& addr, uint8_t prefix_len) const {
    const uint32_t idx = DoorIndex(addr, prefix_len);
    uint64_t v = 0;
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.scan_admit), &idx, &v), 0);
    return v;
  }
  void WriteDoorSlot(const std::string& addr, uint8_t prefix_len,
                     uint64_t v) const {
    const uint32_t idx = DoorIndex(addr, prefix_len);
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.scan_admit), &idx, &v, 0), 0)
        << std::strerror(errno);
  }

  // The "scan_track" entry of a peer, if any.
  std::optional<sw_scan_state> ScanState(const std::string& addr,
                                         uint8_t prefix_len) const {
    const sw_scan_key key = ScanKey(addr, prefix_len);
    sw_scan_state state{};
    if (bpf_map_lookup_elem(Fd(skel_->maps.scan_track), &key, &state) != 0) {
      return std::nullopt;
    }
    return state;
  }

  size_t ScanTrackEntries() const {
    return CountKeys<sw_scan_key>("scan_track");
  }
  size_t BlockedEntries() const { return CountKeys<sw_scan_key>("blocked"); }

  // Writes addr ("192.0.2.56", "2001:db8::1") into out (16 bytes, network
  // order, IPv4 in the first 4) and returns its sw_family.
  static uint8_t ParseAddr(const std::string& addr, void* out) {
    const bool v4 = addr.find(':') == std::string::npos;
    EXPECT_EQ(inet_pton(v4 ? AF_INET : AF_INET6, addr.c_str(), out), 1) << addr;
    return v4 ? SW_FAMILY_IPV4 : SW_FAMILY_IPV6;
  }

  // The rules_version of the generation in force.
  uint32_t RulesVersion() const {
    const sw_config cfg = ReadConfig();
    return cfg.params[cfg.gen & 1].rules_version;
  }

  // The slot of `table` holding an entry for addr (a block's first address
  // in kBlocks) in cpu's cache, if any, with that entry. Callers pin
  // themselves to cpu (CpuPin), so that BPF_PROG_TEST_RUN runs there.
  std::optional<std::pair<uint32_t, sw_verdict>> CachedVerdict(
      const std::string& addr, int cpu,
      VerdictTable table = VerdictTable::kSources) const {
    if (cpu < 0 || cpu >= ncpus_) {
      ADD_FAILURE() << "no CPU " << cpu;
      return std::nullopt;
    }
    const sw_verdict want = Verdict(addr, 0, 0);
    std::vector<sw_verdict> values(static_cast<size_t>(ncpus_));
    for (uint32_t slot = 0; slot < SW_VERDICT_SLOTS; ++slot) {
      if (bpf_map_lookup_elem(VerdictsFd(table), &slot, values.data()) != 0) {
        ADD_FAILURE() << "read verdict slot " << slot;
        return std::nullopt;
      }
      const sw_verdict& v = values[static_cast<size_t>(cpu)];
      if (v.family == want.family &&
          std::memcmp(v.addr, want.addr, sizeof(v.addr)) == 0) {
        return std::make_pair(slot, v);
      }
    }
    return std::nullopt;
  }

  // Writes value into slot of `table` on every CPU.
  void WriteVerdict(uint32_t slot, const sw_verdict& value,
                    VerdictTable table = VerdictTable::kSources) const {
    const std::vector<sw_verdict> values(static_cast<size_t>(ncpus_), value);
    ASSERT_EQ(
        bpf_map_update_elem(VerdictsFd(table), &slot, values.data(), BPF_ANY),
        0)
        << std::strerror(errno);
  }

  // A cache entry; in kBlocks, addr is the block's first address.
  static sw_verdict Verdict(const std::string& addr, uint32_t version,
                            uint8_t outcome) {
    sw_verdict v{};
    v.family = ParseAddr(addr, v.addr);
    v.version = version;
    v.outcome = outcome;
    return v;
  }

  static uint32_t DoorIndex(const std::string& addr, uint8_t prefix_len) {
    return static_cast<uint32_t>(ScanFingerprint(ScanKey(addr, prefix_len)) >>
                                 (64 - SW_SCAN_ADMIT_BITS));
  }

  static sw_scan_key ScanKey(const std::string& addr, uint8_t prefix_len) {
    sw_scan_key key{};
    key.family = ParseAddr(addr, key.addr);
    key.prefix_len = prefix_len;
    return key;
  }

 private:
  static int Fd(const bpf_map* map) { return bpf_map__fd(map); }

  int VerdictsFd(VerdictTable table) const {
    return Fd(table == VerdictTable::kBlocks ? skel_->maps.verdict_blocks
                                             : skel_->maps.verdicts);
  }

  static int OnEvent(void* ctx, void* data, size_t size) {
    auto* events = static_cast<std::vector<sw_event>*>(ctx);
    EXPECT_EQ(size, sizeof(sw_event));
    sw_event event{};
    std::memcpy(&event, data, std::min(size, sizeof(event)));
    events->push_back(event);
    return 0;
  }

  template <typename Key>
  size_t CountKeys(const char* map_name) const {
    const bpf_map* map = bpf_object__find_map_by_name(skel_->obj, map_name);
    if (map == nullptr) {
      ADD_FAILURE() << "no map " << map_name;
      return 0;
    }
    size_t n = 0;
    Key key{};
    Key next{};
    const Key* prev = nullptr;
    while (bpf_map_get_next_key(Fd(map), prev, &next) == 0) {
      key = next;
      prev = &key;
      ++n;
    }
    return n;
  }

  static std::vector<Cidr> ParseAll(const std::vector<std::string>& texts) {
    std::vector<Cidr> out;
    for (const std::string& text : texts) {
      std::string error;
      const std::optional<Cidr> cidr = ParseCidr(text, &error);
      EXPECT_TRUE(cidr.has_value()) << text << ": " << error;
      if (cidr) out.push_back(*cidr);
    }
    return out;
  }

  SkelPtr skel_;
  int ncpus_ = 0;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
  std::vector<sw_event> events_;
};

// Loads a fresh program per test (no counts leak between rows) with the
// loopback interface registered, the way the exporter registers the
// interfaces it attaches to.
class XdpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A kernel older than the program: skipped, with the line the exporter
    // refuses to start with (the kernel matrix checks both).
    if (const std::string missing = synwatch::MissingKernelFeatures();
        !missing.empty()) {
      GTEST_SKIP() << missing;
    }
    const int err = prog_.Load(PeerEntries(), ScanTrackEntries());
    if (err == EPERM || err == ENOSYS) {
      GTEST_SKIP() << "kernel refused to load the XDP program: "
                   << std::strerror(err);
    }
    ASSERT_EQ(err, 0) << "load XDP program: " << std::strerror(err);
    slot_ = prog_.RegisterIfindex(kLoIfindex);
    ASSERT_GE(slot_, 0);
  }

  virtual uint32_t PeerEntries() const { return SW_DEFAULT_PEER_ENTRIES; }
  virtual uint32_t ScanTrackEntries() const {
    return SW_DEFAULT_SCAN_TRACK_ENTRIES;
  }

  // Installs policy as generation 0 and puts it in force.
  void Apply(const TestPolicy& policy) {
    prog_.WritePolicy(0, policy);
    prog_.SetGen(0);
  }

  uint32_t Slot() const { return static_cast<uint32_t>(slot_); }

  XdpProgram prog_;
  int slot_ = -1;
};

}  // namespace synwatch
