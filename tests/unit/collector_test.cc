// SPDX-License-Identifier: Apache-2.0
#include "metrics/collector.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "metrics/exposition.h"

namespace synwatch {
namespace {

using prometheus::MetricFamily;

class FakeRows : public RowSource {
 public:
  bool ReadInterfaces(std::vector<InterfaceRow>* rows) const override {
    *rows = interfaces;
    return interfaces_ok;
  }
  bool ReadPeers(std::vector<PeerRow>* rows) const override {
    *rows = peers;
    return peers_ok;
  }
  uint32_t PeerCapacity() const override { return 65536; }
  bool ReadScanTables(ScanTables* tables) const override {
    *tables = scan;
    return true;
  }
  bool ReadFlood(FloodState* out) const override {
    *out = flood;
    return flood_ok;
  }
  bool ReadOriginSyns(std::vector<OriginRow>* rows) const override {
    *rows = origins;
    return origins_ok;
  }
  ScanTables scan;
  FloodState flood;
  bool flood_ok = true;
  std::vector<OriginRow> origins;
  bool origins_ok = true;

  std::vector<InterfaceRow> interfaces;
  std::vector<PeerRow> peers;
  bool interfaces_ok = true;
  bool peers_ok = true;
};

const MetricFamily* Find(const std::vector<MetricFamily>& families,
                         const std::string& name) {
  auto it = std::find_if(families.begin(), families.end(),
                         [&](const MetricFamily& f) { return f.name == name; });
  return it == families.end() ? nullptr : &*it;
}

// Value of the sample whose labels include all of want; -1 if none.
double Value(const MetricFamily* family,
             const std::map<std::string, std::string>& want) {
  if (family == nullptr) return -1;
  for (const auto& m : family->metric) {
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = std::find_if(m.label.begin(), m.label.end(),
                             [&](const auto& l) { return l.name == k; });
      if (it == m.label.end() || it->value != v) match = false;
    }
    if (match) {
      return family->type == prometheus::MetricType::Counter ? m.counter.value
                                                             : m.gauge.value;
    }
  }
  return -1;
}

InterfaceRow Eth0() {
  InterfaceRow row;
  row.name = "eth0";
  row.ifindex = 2;
  row.mode = "native";
  row.attached = true;
  row.has_stats = true;
  row.stats.syn[SW_OUTCOME_UNMATCHED][SW_ACTION_PASS] = 7;
  row.stats.syn[SW_OUTCOME_DENIED][SW_ACTION_DROP] = 3;
  row.stats.classes[SW_CLASS_SYN] = 10;
  row.stats.classes[SW_CLASS_TCP_OTHER] = 100;
  row.stats.classes[SW_CLASS_MALFORMED] = 1;
  row.stats.peer_insert_failures = 4;
  row.stats.port_scans = 2;
  return row;
}

PeerRow Peer(int family, const char* addr, uint8_t prefix_len, uint8_t outcome,
             uint8_t action, uint64_t packets) {
  PeerRow row;
  row.key.ifindex = 2;
  row.key.family = static_cast<uint8_t>(family);
  row.key.prefix_len = prefix_len;
  row.key.outcome = outcome;
  row.key.action = action;
  inet_pton(family == 4 ? AF_INET : AF_INET6, addr, row.key.addr);
  row.packets = packets;
  return row;
}

TEST(CollectorTest, SplitFragmentsAndProbesByPartOutcomeAndAction) {
  FakeRows rows;
  InterfaceRow row = Eth0();
  row.stats.split_tcp[SW_SPLIT_FIRST][SW_OUTCOME_DENIED][SW_ACTION_DROP] = 5;
  row.stats.split_tcp[SW_SPLIT_LATER][SW_OUTCOME_BLOCKED][SW_ACTION_PASS] = 6;
  row.stats.probes[SW_OUTCOME_UNMATCHED][SW_ACTION_DROP] = 9;
  rows.interfaces.push_back(row);
  ExporterState state;
  SynwatchCollector collector(rows, state, {"1.2.3", "abc", "1.1"});
  const auto families = collector.Collect();

  const auto* split = Find(families, "synwatch_split_tcp_fragments_total");
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->type, prometheus::MetricType::Counter);
  EXPECT_EQ(split->metric.size(), 20u);  // 2 parts x 5 outcomes x 2 actions
  EXPECT_EQ(Value(split, {{"interface", "eth0"},
                          {"fragment", "first"},
                          {"outcome", "denied"},
                          {"action", "drop"}}),
            5);
  EXPECT_EQ(Value(split, {{"fragment", "later"},
                          {"outcome", "blocked"},
                          {"action", "pass"}}),
            6);
  EXPECT_EQ(
      Value(split,
            {{"fragment", "later"}, {"outcome", "denied"}, {"action", "drop"}}),
      0);
  const auto* probes = Find(families, "synwatch_stealth_probes_total");
  ASSERT_NE(probes, nullptr);
  EXPECT_EQ(probes->metric.size(), 10u);
  EXPECT_EQ(Value(probes, {{"interface", "eth0"},
                           {"outcome", "unmatched"},
                           {"action", "drop"}}),
            9);
}

TEST(CollectorTest, InterfaceTotalsByOutcomeActionAndClass) {
  FakeRows rows;
  rows.interfaces.push_back(Eth0());
  ExporterState state;
  SynwatchCollector collector(rows, state, {"1.2.3", "abc", "1.1"});
  const auto families = collector.Collect();

  const auto* syn = Find(families, "synwatch_syn_packets_total");
  ASSERT_NE(syn, nullptr);
  EXPECT_EQ(syn->type, prometheus::MetricType::Counter);
  // Every outcome x action combination is present, zeros included, so that
  // rate() works from the first increment.
  EXPECT_EQ(syn->metric.size(), 10u);  // 5 outcomes x 2 actions
  EXPECT_EQ(
      Value(syn,
            {{"interface", "eth0"}, {"outcome", "banned"}, {"action", "drop"}}),
      0);
  EXPECT_EQ(Value(syn, {{"interface", "eth0"},
                        {"outcome", "unmatched"},
                        {"action", "pass"}}),
            7);
  EXPECT_EQ(
      Value(syn,
            {{"interface", "eth0"}, {"outcome", "denied"}, {"action", "drop"}}),
      3);
  EXPECT_EQ(Value(syn, {{"outcome", "allowed"}, {"action", "drop"}}), 0);

  const auto* classes = Find(families, "synwatch_packets_total");
  EXPECT_EQ(classes->metric.size(), 5u);
  EXPECT_EQ(Value(classes, {{"class", "tcp_other"}}), 100);
  EXPECT_EQ(Value(classes, {{"class", "malformed"}}), 1);
  EXPECT_EQ(Value(classes, {{"class", "non_ip"}}), 0);

  EXPECT_EQ(Value(Find(families, "synwatch_port_scans_detected_total"),
                  {{"interface", "eth0"}}),
            2);
  EXPECT_EQ(
      Value(Find(families, "synwatch_peer_table_insert_failures_total"), {}),
      4);
  EXPECT_EQ(Value(Find(families, "synwatch_xdp_attached"),
                  {{"interface", "eth0"}, {"mode", "native"}}),
            1);
  EXPECT_EQ(Value(Find(families, "synwatch_xdp_attach_info"),
                  {{"interface", "eth0"}, {"attach", "direct"}}),
            1);
  // Direct attach has no place in a chain.
  EXPECT_EQ(Find(families, "synwatch_xdp_run_priority"), nullptr);
  EXPECT_EQ(
      Value(Find(families, "synwatch_build_info"), {{"version", "1.2.3"},
                                                    {"revision", "abc"},
                                                    {"libbpf_version", "1.1"}}),
      1);
}

// An interface in libxdp's dispatcher: its attach mode and its place.
TEST(CollectorTest, DispatcherAttachAndRunPriority) {
  FakeRows rows;
  InterfaceRow row = Eth0();
  row.attach = "dispatcher";
  row.run_priority = 25;
  rows.interfaces.push_back(row);
  ExporterState state;
  SynwatchCollector collector(rows, state, {});
  auto families = collector.Collect();
  EXPECT_EQ(Value(Find(families, "synwatch_xdp_attach_info"),
                  {{"interface", "eth0"}, {"attach", "dispatcher"}}),
            1);
  const auto* prio = Find(families, "synwatch_xdp_run_priority");
  ASSERT_NE(prio, nullptr);
  EXPECT_EQ(prio->type, prometheus::MetricType::Gauge);
  EXPECT_EQ(Value(prio, {{"interface", "eth0"}}), 25);
}

// The per-peer gap (SYNs in the totals but in no series), evictions and
// flood admission.
TEST(CollectorTest, PeerGapEvictionsAndFloodAdmission) {
  FakeRows rows;
  InterfaceRow row = Eth0();
  row.stats.syn_no_peer[SW_OUTCOME_DENIED][SW_ACTION_DROP] = 2;
  row.stats.peer_inserts = 5;
  rows.interfaces.push_back(row);
  rows.peers.push_back(
      Peer(4, "192.0.2.1", 32, SW_OUTCOME_DENIED, SW_ACTION_DROP, 1));
  rows.peers.push_back(
      Peer(4, "192.0.2.2", 32, SW_OUTCOME_UNMATCHED, SW_ACTION_PASS, 7));
  rows.flood = {.cpus_admitting = 1, .periods = 3};
  ExporterState state;
  SynwatchCollector collector(rows, state, {});
  auto families = collector.Collect();

  const auto* gap = Find(families, "synwatch_syn_packets_without_peer_total");
  ASSERT_NE(gap, nullptr);
  EXPECT_EQ(gap->type, prometheus::MetricType::Counter);
  EXPECT_EQ(gap->metric.size(), 10u);
  EXPECT_EQ(
      Value(gap,
            {{"interface", "eth0"}, {"outcome", "denied"}, {"action", "drop"}}),
      2);
  EXPECT_EQ(Value(gap, {{"outcome", "unmatched"}, {"action", "pass"}}), 0);
  // 5 created, 2 in the table now.
  EXPECT_EQ(Value(Find(families, "synwatch_peer_table_evictions_total"), {}),
            3);
  EXPECT_EQ(Value(Find(families, "synwatch_peer_flood_admission"), {}), 1);
  EXPECT_EQ(Value(Find(families, "synwatch_peer_flood_periods_total"), {}), 3);

  // Fewer created than present (a table carried over from an older
  // synwatch): no eviction is made up.
  rows.interfaces[0].stats.peer_inserts = 1;
  rows.flood_ok = false;
  families = collector.Collect();
  EXPECT_EQ(Value(Find(families, "synwatch_peer_table_evictions_total"), {}),
            0);
  EXPECT_EQ(Value(Find(families, "synwatch_scrape_errors_total"), {}), 1);
}

TEST(CollectorTest, PeerLabelsUseAddressOrPrefix) {
  FakeRows rows;
  rows.interfaces.push_back(Eth0());
  rows.peers.push_back(
      Peer(4, "192.0.2.56", 32, SW_OUTCOME_UNMATCHED, SW_ACTION_PASS, 5));
  rows.peers.push_back(
      Peer(4, "198.51.100.0", 24, SW_OUTCOME_DENIED, SW_ACTION_DROP, 2));
  rows.peers.push_back(
      Peer(6, "2001:db8:1:2::", 64, SW_OUTCOME_ALLOWED, SW_ACTION_PASS, 9));
  ExporterState state;
  SynwatchCollector collector(rows, state, {});
  const auto families = collector.Collect();
  const auto* peer = Find(families, "synwatch_peer_syn_packets_total");
  ASSERT_NE(peer, nullptr);
  EXPECT_EQ(peer->metric.size(), 3u);
  EXPECT_EQ(Value(peer, {{"interface", "eth0"},
                         {"peer", "192.0.2.56"},
                         {"outcome", "unmatched"},
                         {"action", "pass"}}),
            5);
  EXPECT_EQ(Value(peer, {{"peer", "198.51.100.0/24"},
                         {"outcome", "denied"},
                         {"action", "drop"}}),
            2);
  EXPECT_EQ(
      Value(peer, {{"peer", "2001:db8:1:2::/64"}, {"outcome", "allowed"}}), 9);
  EXPECT_EQ(Value(Find(families, "synwatch_peer_table_entries"), {}), 3);
  EXPECT_EQ(Value(Find(families, "synwatch_peer_table_capacity"), {}), 65536);
}

// The text without the one sample that differs between two reads.
std::string WithoutReadTime(const std::string& text) {
  std::string out;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start + 1);
    if (line.rfind("synwatch_scrape_duration_seconds ", 0) != 0) out += line;
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}

TEST(CollectorTest, WriteStreamsTheSameBytesAsCollect) {
  FakeRows rows;
  rows.interfaces.push_back(Eth0());
  for (int i = 0; i < 300; ++i) {
    const std::string v4 = "192.0.2." + std::to_string(i % 256);
    rows.peers.push_back(Peer(4, v4.c_str(), 32, SW_OUTCOME_UNMATCHED,
                              SW_ACTION_PASS, static_cast<uint64_t>(i)));
    const std::string v6 = "2001:db8:" + std::to_string(i) + "::";
    rows.peers.push_back(Peer(6, v6.c_str(), 48, SW_OUTCOME_DENIED,
                              SW_ACTION_DROP, 1000000 + i));
  }
  rows.peers.back().key.ifindex = 99;  // an interface no longer configured
  ExporterState state;
  SynwatchCollector collector(rows, state, {"1.0", "abc", "1.2"});
  for (const ExpositionFormat format :
       {ExpositionFormat::kText004, ExpositionFormat::kOpenMetrics100}) {
    std::string collected;
    Serialize(collector.Collect(), format, collected);
    std::string written = "# before\n";
    collector.Write(format, written);
    AppendEnd(format, written);
    EXPECT_EQ(WithoutReadTime(written),
              "# before\n" + WithoutReadTime(collected));
    EXPECT_NE(written.find("synwatch_peer_syn_packets_total{interface="
                           "\"ifindex99\",peer=\"2001:db8:299::/48\","
                           "outcome=\"denied\",action=\"drop\"} 1000299\n"),
              std::string::npos);
  }
}

TEST(CollectorTest, FailedReadIsCountedAndScrapeStillAnswers) {
  FakeRows rows;
  rows.interfaces.push_back(Eth0());
  rows.peers_ok = false;
  ExporterState state;
  SynwatchCollector collector(rows, state, {});
  auto families = collector.Collect();
  EXPECT_EQ(Value(Find(families, "synwatch_scrape_errors_total"), {}), 1);
  // The interface totals were read and are still served.
  EXPECT_EQ(Value(Find(families, "synwatch_syn_packets_total"),
                  {{"outcome", "unmatched"}, {"action", "pass"}}),
            7);
  families = collector.Collect();
  EXPECT_EQ(Value(Find(families, "synwatch_scrape_errors_total"), {}), 2);
  EXPECT_NE(Find(families, "synwatch_scrape_duration_seconds"), nullptr);
}

TEST(CollectorTest, BannedSynsByOriginAndAction) {
  FakeRows rows;
  ExporterState state;
  SynwatchCollector collector(rows, state, {});
  // [crowdsec] off: no family at all.
  EXPECT_EQ(Find(collector.Collect(), "synwatch_crowdsec_banned_syns_total"),
            nullptr);
  OriginRow cscli;
  cscli.origin = "cscli";
  cscli.syn[SW_ACTION_DROP] = 5;
  OriginRow list;
  list.origin = "lists:tor_exit";
  list.syn[SW_ACTION_PASS] = 2;
  rows.origins = {cscli, list};
  const auto families = collector.Collect();
  const MetricFamily* banned =
      Find(families, "synwatch_crowdsec_banned_syns_total");
  ASSERT_NE(banned, nullptr);
  EXPECT_EQ(banned->metric.size(), 4U);
  EXPECT_EQ(Value(banned, {{"origin", "cscli"}, {"action", "drop"}}), 5);
  EXPECT_EQ(Value(banned, {{"origin", "cscli"}, {"action", "pass"}}), 0);
  EXPECT_EQ(Value(banned, {{"origin", "lists:tor_exit"}, {"action", "pass"}}),
            2);
  rows.origins_ok = false;
  EXPECT_EQ(
      Value(Find(collector.Collect(), "synwatch_scrape_errors_total"), {}), 1);
}

TEST(CollectorTest, DetachedInterfaceReportsZeroAndNoTotals) {
  FakeRows rows;
  InterfaceRow row;
  row.name = "veth9";
  row.ifindex = 9;
  row.mode = "auto";
  rows.interfaces.push_back(row);
  ExporterState state;
  SynwatchCollector collector(rows, state, {});
  const auto families = collector.Collect();
  EXPECT_EQ(
      Value(Find(families, "synwatch_xdp_attached"), {{"interface", "veth9"}}),
      0);
  EXPECT_TRUE(Find(families, "synwatch_syn_packets_total")->metric.empty());
}

TEST(CollectorTest, StateGauges) {
  FakeRows rows;
  ExporterState state;
  state.dry_run = false;
  state.allow_rules = 2;
  state.deny_rules = 5;
  state.last_reload_ok = false;
  state.last_reload_success_time = 1700000000.5;
  SynwatchCollector collector(rows, state, {});
  const auto families = collector.Collect();
  EXPECT_EQ(Value(Find(families, "synwatch_dry_run"), {}), 0);
  EXPECT_EQ(Value(Find(families, "synwatch_rules"), {{"list", "allow"}}), 2);
  EXPECT_EQ(Value(Find(families, "synwatch_rules"), {{"list", "deny"}}), 5);
  EXPECT_EQ(Value(Find(families, "synwatch_config_last_reload_successful"), {}),
            0);
  EXPECT_EQ(Value(Find(families,
                       "synwatch_config_last_reload_success_timestamp_seconds"),
                  {}),
            1700000000.5);
}

TEST(CollectorTest, PortScanTablesAndDroppedEvents) {
  FakeRows rows;
  InterfaceRow row = Eth0();
  row.stats.scan_track_inserts = 120;
  row.stats.events_ring_full = 3;
  row.stats.events_rate_limited = 40;
  rows.interfaces.push_back(row);
  sw_scan_key scanner{};
  scanner.family = SW_FAMILY_IPV4;
  scanner.prefix_len = 32;
  scanner.addr[0] = 192;
  scanner.addr[2] = 2;
  scanner.addr[3] = 14;
  rows.scan = ScanTables{100,
                         7,
                         5,
                         8192,
                         16384,
                         {BlockRow{scanner, 1.8e9, 1.8e9 + 600}},
                         {TrackedRow{scanner, 9}}};
  ExporterState state;
  state.events_dropped_rate_limit = 2;
  SynwatchCollector collector(rows, state, {});
  const auto families = collector.Collect();
  EXPECT_EQ(Value(Find(families, "synwatch_blocked_peers"), {}), 5);
  EXPECT_EQ(
      Value(Find(families, "synwatch_port_scan_block_expiry_timestamp_seconds"),
            {{"peer", "192.0.2.14"}}),
      1.8e9 + 600);
  EXPECT_EQ(Value(Find(families, "synwatch_port_scan_tracked_peer_ports"),
                  {{"peer", "192.0.2.14"}}),
            9);
  EXPECT_EQ(Value(Find(families, "synwatch_port_scan_table_entries"),
                  {{"table", "track"}}),
            100);
  EXPECT_EQ(Value(Find(families, "synwatch_port_scan_table_entries"),
                  {{"table", "block"}}),
            7);
  EXPECT_EQ(Value(Find(families, "synwatch_port_scan_table_capacity"),
                  {{"table", "block"}}),
            16384);
  EXPECT_EQ(
      Value(Find(families, "synwatch_port_scan_track_evictions_total"), {}),
      20);
  EXPECT_EQ(Value(Find(families, "synwatch_events_dropped_total"),
                  {{"reason", "ring_full"}}),
            3);
  EXPECT_EQ(Value(Find(families, "synwatch_events_dropped_total"),
                  {{"reason", "rate_limit"}}),
            42);
}

}  // namespace
}  // namespace synwatch
