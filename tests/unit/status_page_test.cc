// SPDX-License-Identifier: Apache-2.0
#include "metrics/status_page.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace synwatch {
namespace {

class CountingRows : public RowSource {
 public:
  bool ReadInterfaces(std::vector<InterfaceRow>* rows) const override {
    InterfaceRow row;
    row.name = "veth<0>";
    row.ifindex = 7;
    row.mode = "native";
    row.attached = true;
    row.has_stats = true;
    row.stats.syn[SW_OUTCOME_UNMATCHED][SW_ACTION_PASS] = 40;
    row.stats.syn[SW_OUTCOME_DENIED][SW_ACTION_DROP] = 2;
    InterfaceRow shared = row;
    shared.name = "eth1";
    shared.ifindex = 8;
    shared.attach = "dispatcher";
    shared.run_priority = 10;
    *rows = {row, shared};
    return true;
  }
  bool ReadPeers(std::vector<PeerRow>* rows) const override {
    ++peer_reads;
    rows->clear();
    for (uint32_t i = 1; i <= 50; ++i) {
      PeerRow row;
      row.key.ifindex = 7;
      row.key.family = SW_FAMILY_IPV4;
      row.key.prefix_len = 32;
      row.key.outcome = SW_OUTCOME_UNMATCHED;
      row.key.action = SW_ACTION_PASS;
      const uint32_t addr = htonl(0xc0000200u + i);  // 192.0.2.i
      std::memcpy(row.key.addr, &addr, sizeof(addr));
      row.packets = (i * 37) % 50 + 1 + extra;  // 1..50, scrambled
      rows->push_back(row);
    }
    return true;
  }
  uint32_t PeerCapacity() const override { return 1000; }
  bool ReadScanTables(ScanTables* tables) const override {
    *tables = ScanTables{};
    tables->tracked = 3;
    tables->blocked_entries = 1;
    tables->blocked_active = 1;
    tables->track_capacity = 8192;
    tables->block_capacity = 16384;
    return true;
  }
  bool ReadFlood(FloodState* flood) const override {
    *flood = {};
    return true;
  }
  mutable std::atomic<int> peer_reads{0};
  uint64_t extra = 0;
};

TEST(StatusPage, ShowsTheTopPeersMostFirstAndTheTables) {
  CountingRows rows;
  ExporterState state;
  state.dry_run = false;
  state.deny_rules = 2;
  RecentScans scans;
  scans.Add(1.8e9, "Port scan detected: 203.0.113.9 -> 192.0.2.1 <x>");
  const StatusPage page(rows, state, scans, "1.2.3", "/metrics");
  const std::string html = page.Render();

  // The ten largest of 50 series (50 down to 41), most first.
  std::size_t at = html.find("<h2 id=\"peers\">");
  ASSERT_NE(at, std::string::npos);
  for (int syns = 50; syns > 40; --syns) {
    const std::size_t next =
        html.find("<td>" + std::to_string(syns) + "</td></tr>", at);
    ASSERT_NE(next, std::string::npos) << syns;
    at = next;
  }
  EXPECT_EQ(html.find("<td>40</td></tr>", html.find("<h2 id=\"peers\">")),
            std::string::npos);
  EXPECT_NE(html.find("<td>per-peer</td><td>50</td><td>1000</td>"),
            std::string::npos);
  EXPECT_NE(html.find("<td>blocks in force</td><td>1</td><td>16384</td>"),
            std::string::npos);
  EXPECT_NE(html.find("off: rules are enforced"), std::string::npos);
  // What the page shows is escaped.
  EXPECT_NE(
      html.find("veth&lt;0&gt;</td><td>7</td><td>native</td><td>direct</td>"),
      std::string::npos);
  EXPECT_NE(html.find("eth1</td><td>8</td><td>native</td><td>dispatcher, "
                      "priority 10</td>"),
            std::string::npos);
  EXPECT_NE(html.find("192.0.2.1 &lt;x&gt;"), std::string::npos);
  EXPECT_EQ(html.find("<x>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(StatusPage, ShowsWhatAnotherRoomAdds) {
  CountingRows rows;
  ExporterState state;
  RecentScans scans;
  const StatusPage plain(rows, state, scans, "1.2.3", "/metrics");
  EXPECT_EQ(plain.Render().find("CrowdSec"), std::string::npos);
  int calls = 0;
  const StatusPage page(rows, state, scans, "1.2.3", "/metrics", [&calls] {
    ++calls;
    StatusExtra extra;
    extra.rules.emplace_back("CrowdSec bans", "3 decisions <on> 2 prefixes");
    extra.tables.push_back({"CrowdSec decisions", 2, 1000});
    return extra;
  });
  const std::string html = page.Render();
  EXPECT_EQ(calls, 1);
  EXPECT_NE(html.find("<tr><td>CrowdSec bans</td><td>3 decisions &lt;on&gt; 2 "
                      "prefixes</td></tr>"),
            std::string::npos);
  EXPECT_NE(html.find("<tr><td>CrowdSec decisions</td><td>2</td><td>1000</"
                      "td><td>0.20 %</td></tr>"),
            std::string::npos);
}

TEST(StatusPage, ReadsThePeerTableAtMostOncePerMaxAge) {
  CountingRows rows;
  ExporterState state;
  RecentScans scans;
  const StatusPage page(rows, state, scans, "1.2.3", "/metrics");
  const std::string first = page.Render();
  EXPECT_EQ(rows.peer_reads.load(), 1);
  // A burst of requests, some concurrent: still the one read, same figures.
  rows.extra = 1000;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&page] {
      for (int j = 0; j < 25; ++j) (void)page.Render();
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(rows.peer_reads.load(), 1);
  EXPECT_EQ(page.Render().find("<td>1050</td>"), std::string::npos);
}

}  // namespace
}  // namespace synwatch
