// SPDX-License-Identifier: Apache-2.0
#include "metrics/collector.h"

#include <spdlog/spdlog.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "base/abi.h"
#include "base/interface_view.h"
#include "base/net.h"
#include "metrics/family.h"

namespace synwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::array<std::string_view, SW_CLASS_COUNT> kClassNames = {
    "syn", "tcp_other", "other_ip", "non_ip", "malformed"};
constexpr std::array<std::string_view, SW_SPLIT_COUNT> kSplitNames = {"first",
                                                                      "later"};

}  // namespace

void SynwatchCollector::LogReadErrorRateLimited() const {
  // A broken map would otherwise log on every scrape of every Prometheus.
  constexpr int64_t kIntervalNs = 60'000'000'000;
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_error_log_ns_.load();
  if (last != 0 && now - last < kIntervalNs) return;
  if (!last_error_log_ns_.compare_exchange_strong(last, now)) return;
  spdlog::warn(
      "A BPF map read failed during a scrape; the scrape answered with what "
      "it could read (synwatch_scrape_errors_total counts them; details at "
      "debug level; logged at most once a minute)");
}

SynwatchCollector::SynwatchCollector(const RowSource& source,
                                     const ExporterState& state,
                                     BuildInfo build_info)
    : source_(source), state_(state), build_info_(std::move(build_info)) {}

SynwatchCollector::Scrape SynwatchCollector::Build() const {
  const auto start = std::chrono::steady_clock::now();
  std::vector<InterfaceRow> interfaces;
  std::vector<PeerRow> peers;
  {
    // Last scrape's rows, kept with their memory: refilling pages that are
    // already mapped is cheaper than faulting in fresh ones every scrape.
    std::lock_guard lock(spare_rows_mutex_);
    peers.swap(spare_rows_);
  }
  peers.clear();
  int failed = 0;
  if (!source_.ReadInterfaces(&interfaces)) ++failed;
  if (!source_.ReadPeers(&peers)) ++failed;
  ScanTables scan;
  if (!source_.ReadScanTables(&scan)) ++failed;
  FloodState flood;
  if (!source_.ReadFlood(&flood)) ++failed;
  std::vector<OriginRow> origins;
  if (!source_.ReadOriginSyns(&origins)) ++failed;
  if (failed > 0) {
    scrape_errors_ += static_cast<uint64_t>(failed);
    LogReadErrorRateLimited();
  }
  const double read_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();

  Scrape scrape;
  std::vector<MetricFamily>& out = scrape.families;
  out.reserve(20);

  auto syn =
      MakeFamily("synwatch_syn_packets_total",
                 "SYN packets (SYN set, ACK clear) by rule outcome and the "
                 "action taken; exact, never evicted.",
                 MetricType::Counter);
  auto no_peer = MakeFamily(
      "synwatch_syn_packets_without_peer_total",
      "SYN packets counted in synwatch_syn_packets_total but in no "
      "per-peer series: under flood admission, or when the kernel refused "
      "a per-peer insert. With the peer series, adds up to the totals until "
      "a peer is evicted.",
      MetricType::Counter);
  auto classes =
      MakeFamily("synwatch_packets_total",
                 "Packets the XDP program saw, by class.", MetricType::Counter);
  auto scans = MakeFamily("synwatch_port_scans_detected_total",
                          "Port scans detected.", MetricType::Counter);
  auto split = MakeFamily(
      "synwatch_split_tcp_fragments_total",
      "IP fragments that split a TCP header (no real stack sends them), "
      "judged by their source: the first fragment (also counted as a SYN "
      "when its ports are visible) or a later one that starts inside the "
      "header.",
      MetricType::Counter);
  auto probes = MakeFamily(
      "synwatch_stealth_probes_total",
      "TCP segments with none of SYN, ACK and RST (NULL, FIN and Xmas "
      "probes), judged by their source like SYNs.",
      MetricType::Counter);
  auto attached =
      MakeFamily("synwatch_xdp_attached",
                 "1 while the XDP program is attached to the interface.",
                 MetricType::Gauge);
  auto attach_info = MakeFamily(
      "synwatch_xdp_attach_info",
      "1 per interface, labelled with how synwatch's program is attached: "
      "attach=\"direct\" (the interface's one XDP program) or "
      "\"dispatcher\" (in libxdp's multi-program dispatcher).",
      MetricType::Gauge);
  auto run_priority =
      MakeFamily("synwatch_xdp_run_priority",
                 "The position of synwatch's program in the interface's libxdp "
                 "dispatcher (xdp.run_priority; lower runs first). Only with "
                 "xdp.attach = \"dispatcher\".",
                 MetricType::Gauge);
  uint64_t insert_failures = 0;
  uint64_t peer_inserts = 0;
  uint64_t track_inserts = 0;
  uint64_t ring_full = state_.events_dropped_ring_full.load();
  uint64_t rate_limited = state_.events_dropped_rate_limit.load();
  std::unordered_map<uint32_t, std::string> names;
  for (const InterfaceRow& row : interfaces) {
    names.emplace(row.ifindex, row.name);
    AddSample(attached, row.attached ? 1 : 0,
              {{"interface", row.name}, {"mode", row.mode}});
    AddSample(attach_info, 1,
              {{"interface", row.name}, {"attach", row.attach}});
    if (row.attach == "dispatcher") {
      AddSample(run_priority, row.run_priority, {{"interface", row.name}});
    }
    if (!row.has_stats) continue;
    for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
      for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
        AddSample(syn, static_cast<double>(row.stats.syn[o][a]),
                  {{"interface", row.name},
                   {"outcome", std::string(kOutcomeNames[o])},
                   {"action", std::string(kActionNames[a])}});
        AddSample(no_peer, static_cast<double>(row.stats.syn_no_peer[o][a]),
                  {{"interface", row.name},
                   {"outcome", std::string(kOutcomeNames[o])},
                   {"action", std::string(kActionNames[a])}});
      }
    }
    for (unsigned c = 0; c < SW_CLASS_COUNT; ++c) {
      AddSample(
          classes, static_cast<double>(row.stats.classes[c]),
          {{"interface", row.name}, {"class", std::string(kClassNames[c])}});
    }
    AddSample(scans, static_cast<double>(row.stats.port_scans),
              {{"interface", row.name}});
    for (unsigned o = 0; o < SW_OUTCOME_COUNT; ++o) {
      for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
        for (unsigned f = 0; f < SW_SPLIT_COUNT; ++f) {
          AddSample(split, static_cast<double>(row.stats.split_tcp[f][o][a]),
                    {{"interface", row.name},
                     {"fragment", std::string(kSplitNames[f])},
                     {"outcome", std::string(kOutcomeNames[o])},
                     {"action", std::string(kActionNames[a])}});
        }
        AddSample(probes, static_cast<double>(row.stats.probes[o][a]),
                  {{"interface", row.name},
                   {"outcome", std::string(kOutcomeNames[o])},
                   {"action", std::string(kActionNames[a])}});
      }
    }
    insert_failures += row.stats.peer_insert_failures;
    peer_inserts += row.stats.peer_inserts;
    track_inserts += row.stats.scan_track_inserts;
    ring_full += row.stats.events_ring_full;
    rate_limited += row.stats.events_rate_limited;
  }
  out.push_back(std::move(syn));
  out.push_back(std::move(no_peer));
  out.push_back(std::move(classes));
  out.push_back(std::move(scans));
  out.push_back(std::move(split));
  out.push_back(std::move(probes));

  // Written sample by sample (exposition.h): a full table is 1,000,000 rows
  // or more, and a ClientMetric per row would cost a kilobyte or two each.
  StreamedFamily& peer = scrape.peers;
  peer.family =
      MakeFamily("synwatch_peer_syn_packets_total",
                 "SYN packets per peer (address, or prefix when "
                 "peers.*_prefix_length is shorter than the address), "
                 "bounded by peers.max_entries (least recently seen "
                 "peers are evicted).",
                 MetricType::Counter);
  peer.size = peers.size();
  scrape.peers_at = out.size();
  // Given back for the next scrape once the last copy of fill is gone.
  const std::shared_ptr<const std::vector<PeerRow>> rows(
      std::make_unique<std::vector<PeerRow>>(std::move(peers)).release(),
      [this](std::vector<PeerRow>* done) {
        const std::unique_ptr<std::vector<PeerRow>> owned(done);
        if (owned->capacity() * sizeof(PeerRow) > kMaxSpareRowBytes) return;
        std::lock_guard lock(spare_rows_mutex_);
        spare_rows_.swap(*owned);
      });
  auto ifnames =
      std::make_shared<const std::unordered_map<uint32_t, std::string>>(names);
  peer.fill = [rows, ifnames](std::size_t i, ClientMetric& sample) {
    const sw_peer_key& k = (*rows)[i].key;
    const Family family =
        k.family == SW_FAMILY_IPV6 ? Family::kIpv6 : Family::kIpv4;
    sample.label.resize(4);
    sample.label[0].name = "interface";
    if (auto it = ifnames->find(k.ifindex); it != ifnames->end()) {
      sample.label[0].value = it->second;
    } else {
      sample.label[0].value = UnknownInterfaceName(k.ifindex);
    }
    sample.label[1].name = "peer";
    sample.label[1].value = FormatPeer(family, k.addr, k.prefix_len);
    sample.label[2].name = "outcome";
    sample.label[2].value = OutcomeName(k.outcome);
    sample.label[3].name = "action";
    sample.label[3].value = ActionName(k.action);
    sample.counter.value = static_cast<double>((*rows)[i].packets);
  };
  out.push_back(std::move(attached));
  out.push_back(std::move(attach_info));
  if (!run_priority.metric.empty()) out.push_back(std::move(run_priority));

  auto entries =
      MakeFamily("synwatch_peer_table_entries",
                 "Entries in the per-peer table.", MetricType::Gauge);
  AddSample(entries, static_cast<double>(peer.size));
  out.push_back(std::move(entries));
  auto capacity = MakeFamily("synwatch_peer_table_capacity",
                             "Size of the per-peer table (peers.max_entries).",
                             MetricType::Gauge);
  AddSample(capacity, source_.PeerCapacity());
  out.push_back(std::move(capacity));
  auto failures = MakeFamily("synwatch_peer_table_insert_failures_total",
                             "Per-peer counter updates the kernel refused.",
                             MetricType::Counter);
  AddSample(failures, static_cast<double>(insert_failures));
  out.push_back(std::move(failures));
  auto evicted = MakeFamily(
      "synwatch_peer_table_evictions_total",
      "Peers pushed out of a full per-peer table (entries created minus "
      "entries now); their series end, the totals stay exact.",
      MetricType::Counter);
  AddSample(evicted, static_cast<double>(peer_inserts > peer.size
                                             ? peer_inserts - peer.size
                                             : 0));
  out.push_back(std::move(evicted));
  auto admitting = MakeFamily(
      "synwatch_peer_flood_admission",
      "CPUs admitting new peers through the doorkeeper now: more than "
      "peers.flood_new_peers_per_second new peers arrived there (a "
      "spoofed-source flood).",
      MetricType::Gauge);
  AddSample(admitting, flood.cpus_admitting);
  out.push_back(std::move(admitting));
  auto periods = MakeFamily("synwatch_peer_flood_periods_total",
                            "Flood admission periods begun, summed over CPUs.",
                            MetricType::Counter);
  AddSample(periods, static_cast<double>(flood.periods));
  out.push_back(std::move(periods));

  if (!origins.empty()) {
    auto banned = MakeFamily(
        "synwatch_crowdsec_banned_syns_total",
        "SYN packets banned by a CrowdSec decision, by the decision's origin "
        "(of a prefix's decisions, the one that ends last) and the action "
        "taken (pass: dry run); adds up to synwatch_syn_packets_total"
        "{outcome=\"banned\"} over interfaces.",
        MetricType::Counter);
    for (const OriginRow& o : origins) {
      for (unsigned a = 0; a < SW_ACTION_COUNT; ++a) {
        AddSample(
            banned, static_cast<double>(o.syn[a]),
            {{"origin", o.origin}, {"action", std::string(kActionNames[a])}});
      }
    }
    out.push_back(std::move(banned));
  }

  auto blocked = MakeFamily("synwatch_blocked_peers",
                            "Peers in the port-scan block table now (not "
                            "expired).",
                            MetricType::Gauge);
  AddSample(blocked, scan.blocked_active);
  out.push_back(std::move(blocked));
  auto scan_entries = MakeFamily(
      "synwatch_port_scan_table_entries",
      "Entries in the port-scan tables: track (peers whose ports are being "
      "counted) and block (blocked peers, expired or not).",
      MetricType::Gauge);
  AddSample(scan_entries, scan.tracked, {{"table", "track"}});
  AddSample(scan_entries, scan.blocked_entries, {{"table", "block"}});
  out.push_back(std::move(scan_entries));
  auto scan_capacity =
      MakeFamily("synwatch_port_scan_table_capacity",
                 "Size of the port-scan tables.", MetricType::Gauge);
  AddSample(scan_capacity, scan.track_capacity, {{"table", "track"}});
  AddSample(scan_capacity, scan.block_capacity, {{"table", "block"}});
  out.push_back(std::move(scan_capacity));
  auto evictions = MakeFamily(
      "synwatch_port_scan_track_evictions_total",
      "Tracked peers pushed out of the full track table (oldest first).",
      MetricType::Counter);
  AddSample(evictions, static_cast<double>(track_inserts > scan.tracked
                                               ? track_inserts - scan.tracked
                                               : 0));
  out.push_back(std::move(evictions));
  const auto scan_peer = [](const sw_scan_key& k) {
    return FormatPeer(
        k.family == SW_FAMILY_IPV6 ? Family::kIpv6 : Family::kIpv4, k.addr,
        k.prefix_len);
  };
  auto block_expiry = MakeFamily(
      "synwatch_port_scan_block_expiry_timestamp_seconds",
      "When each block in force ends (Unix time), by peer: the 64 most "
      "recently detected blocks at most; synwatch_blocked_peers counts all.",
      MetricType::Gauge);
  for (const BlockRow& b : scan.blocks) {
    AddSample(block_expiry, b.expires_unix, {{"peer", scan_peer(b.key)}});
  }
  out.push_back(std::move(block_expiry));
  auto tracked_ports = MakeFamily(
      "synwatch_port_scan_tracked_peer_ports",
      "Distinct destination ports a tracked peer sent SYNs to within "
      "port_scan.window, by peer: the 64 peers with the most ports at most.",
      MetricType::Gauge);
  for (const TrackedRow& t : scan.tracked_peers) {
    AddSample(tracked_ports, t.ports, {{"peer", scan_peer(t.key)}});
  }
  out.push_back(std::move(tracked_ports));
  auto dropped = MakeFamily("synwatch_events_dropped_total",
                            "Events not logged, by reason: ring_full (the "
                            "ring buffer was full), rate_limit (over "
                            "log.connections_per_second).",
                            MetricType::Counter);
  AddSample(dropped, static_cast<double>(ring_full), {{"reason", "ring_full"}});
  AddSample(dropped, static_cast<double>(rate_limited),
            {{"reason", "rate_limit"}});
  out.push_back(std::move(dropped));

  auto rules = MakeFamily("synwatch_rules", "Rules in force, by list.",
                          MetricType::Gauge);
  AddSample(rules, state_.allow_rules.load(), {{"list", "allow"}});
  AddSample(rules, state_.deny_rules.load(), {{"list", "deny"}});
  out.push_back(std::move(rules));
  auto dry = MakeFamily("synwatch_dry_run", "1 when nothing is dropped.",
                        MetricType::Gauge);
  AddSample(dry, state_.dry_run.load() ? 1 : 0);
  out.push_back(std::move(dry));

  auto reload_ok = MakeFamily("synwatch_config_last_reload_successful",
                              "0 after a failed reload.", MetricType::Gauge);
  AddSample(reload_ok, state_.last_reload_ok.load() ? 1 : 0);
  out.push_back(std::move(reload_ok));
  auto reload_ts = MakeFamily(
      "synwatch_config_last_reload_success_timestamp_seconds",
      "Time of the last successful (re)load of the config.", MetricType::Gauge);
  AddSample(reload_ts, state_.last_reload_success_time.load());
  out.push_back(std::move(reload_ts));

  auto duration =
      MakeFamily("synwatch_scrape_duration_seconds",
                 "Time to read the maps for this scrape.", MetricType::Gauge);
  AddSample(duration, read_seconds);
  out.push_back(std::move(duration));
  auto errors = MakeFamily("synwatch_scrape_errors_total",
                           "Map reads that failed (the scrape still answers).",
                           MetricType::Counter);
  AddSample(errors, static_cast<double>(scrape_errors_.load()));
  out.push_back(std::move(errors));

  auto build = MakeFamily("synwatch_build_info",
                          "A metric with a constant 1 labelled by version, "
                          "revision and libbpf version.",
                          MetricType::Gauge);
  AddSample(build, 1,
            {{"version", build_info_.version},
             {"revision", build_info_.revision},
             {"libbpf_version", build_info_.libbpf_version}});
  out.push_back(std::move(build));
  return scrape;
}

std::vector<MetricFamily> SynwatchCollector::Collect() const {
  Scrape scrape = Build();
  MetricFamily peers = scrape.peers.family;
  peers.metric.resize(scrape.peers.size);
  for (std::size_t i = 0; i < scrape.peers.size; ++i) {
    scrape.peers.fill(i, peers.metric[i]);
  }
  scrape.families.insert(
      scrape.families.begin() + static_cast<std::ptrdiff_t>(scrape.peers_at),
      std::move(peers));
  return std::move(scrape.families);
}

void SynwatchCollector::Write(ExpositionFormat format, std::string& out) const {
  const Scrape scrape = Build();
  const std::span<const MetricFamily> families(scrape.families);
  AppendFamilies(families.first(scrape.peers_at), format, out);
  AppendFamily(scrape.peers, format, out);
  AppendFamilies(families.subspan(scrape.peers_at), format, out);
}

}  // namespace synwatch
