// SPDX-License-Identifier: Apache-2.0
// The connection log: with log_connections on, every SYN becomes a
// connection event in the ring buffer, limited per CPU to
// connections_per_second (a burst of one second's worth); what is not sent
// is counted, and nothing else is ever logged.
#include <linux/if_ether.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "packet_builder.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

constexpr uint64_t kMs = 1'000'000;

TestPolicy LogPolicy(uint32_t per_second = 100) {
  return {.log_connections = true, .connections_per_second = per_second};
}

// The token bucket is per CPU: every test that counts events runs pinned.
class EventsTest : public XdpTest {
 protected:
  void SetUp() override {
    XdpTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_TRUE(pin_.ok());
  }

  // `n` runs of one frame; returns the verdict.
  uint32_t Send(const std::vector<uint8_t>& frame, int n = 1) {
    const RunResult run = prog_.Run(frame, kLoIfindex, n);
    EXPECT_EQ(run.err, 0) << std::strerror(run.err);
    return run.verdict;
  }

  std::map<std::string, uint64_t> Counters() const {
    return prog_.SlotCounters(Slot());
  }

  CpuPin pin_{0};
};

struct ConnectionCase {
  std::string name;
  TestPolicy policy;
  std::string source;
  uint16_t sport;
  uint16_t dport;
  sw_outcome outcome;
  sw_action action;
};

std::vector<ConnectionCase> ConnectionCases() {
  const auto with = [](TestPolicy policy) {
    policy.log_connections = true;
    return policy;
  };
  return {
      {"unmatched_v4", LogPolicy(), "192.0.2.56", 5973, 80,
       SW_OUTCOME_UNMATCHED, SW_ACTION_PASS},
      {"unmatched_v6", LogPolicy(), "2001:db8:1:2:3:4:5:6", 65535, 443,
       SW_OUTCOME_UNMATCHED, SW_ACTION_PASS},
      {"denied", with({.deny = {"192.0.2.0/24"}}), "192.0.2.56", 1024, 22,
       SW_OUTCOME_DENIED, SW_ACTION_DROP},
      {"allowed", with({.allow = {"2001:db8::/32"}, .default_drop = true}),
       "2001:db8::9", 33000, 0, SW_OUTCOME_ALLOWED, SW_ACTION_PASS},
      {"default_drop", with({.default_drop = true}), "203.0.113.9", 1, 8080,
       SW_OUTCOME_UNMATCHED, SW_ACTION_DROP},
      {"dry_run", with({.deny = {"::/0"}, .dry_run = true}), "2001:db8::7",
       40000, 80, SW_OUTCOME_DENIED, SW_ACTION_PASS},
  };
}

class ConnectionEventTest
    : public EventsTest,
      public ::testing::WithParamInterface<ConnectionCase> {};

TEST_P(ConnectionEventTest, CarriesTheSynAndItsDecision) {
  const ConnectionCase& row = GetParam();
  Apply(row.policy);
  Send(SynFrame(row.source, row.dport, row.sport));

  const std::vector<sw_event> events = prog_.DrainEvents();
  ASSERT_EQ(events.size(), 1u);
  const sw_event& e = events[0];
  const bool v4 = row.source.find(':') == std::string::npos;
  EXPECT_EQ(e.type, SW_EVENT_CONNECTION);
  EXPECT_EQ(e.family, v4 ? SW_FAMILY_IPV4 : SW_FAMILY_IPV6);
  EXPECT_EQ(e.outcome, row.outcome);
  EXPECT_EQ(e.action, row.action);
  EXPECT_EQ(e.ifindex, kLoIfindex);
  EXPECT_EQ(AddrText(e.family, e.src), row.source);
  EXPECT_EQ(AddrText(e.family, e.dst), v4 ? kDst4 : kDst6);
  if (v4) {
    for (int i = 4; i < 16; ++i) {
      EXPECT_EQ(e.src[i], 0) << "src byte " << i;
      EXPECT_EQ(e.dst[i], 0) << "dst byte " << i;
    }
  }
  EXPECT_EQ(e.sport, row.sport);
  EXPECT_EQ(e.dport, row.dport);
  EXPECT_EQ(e.nports, 0);
  EXPECT_EQ(e.pad, 0);
  EXPECT_EQ(e.block_ns, 0u);
  for (uint16_t port : e.ports) EXPECT_EQ(port, 0);
  EXPECT_EQ(Counters()["events_rate_limited"], 0u);
  EXPECT_EQ(Counters()["events_ring_full"], 0u);
}

INSTANTIATE_TEST_SUITE_P(Outcomes, ConnectionEventTest,
                         ::testing::ValuesIn(ConnectionCases()),
                         [](const auto& row) { return row.param.name; });

// A flood logs the burst (one second's worth) and counts the rest, without
// touching the ring buffer for them.
TEST_F(EventsTest, RateLimitLogsExactlyTheBurst) {
  constexpr uint32_t kPerSecond = 5;
  constexpr int kSyns = 40;
  Apply(LogPolicy(kPerSecond));
  Send(SynFrame(kSrc4), kSyns);

  EXPECT_EQ(prog_.DrainEvents().size(), kPerSecond);
  const std::map<std::string, uint64_t> counters = {
      {"class.syn", kSyns},
      {"syn.unmatched.pass", kSyns},
      {"events_rate_limited", kSyns - kPerSecond}};
  EXPECT_EQ(Counters(), counters);
}

// The bucket refills at connections_per_second.
TEST_F(EventsTest, RateLimitRefills) {
  constexpr uint32_t kPerSecond = 10;
  Apply(LogPolicy(kPerSecond));
  const uint64_t start = MonotonicNs();
  Send(SynFrame(kSrc4), 30);
  const uint64_t drained = MonotonicNs();
  ASSERT_EQ(prog_.DrainEvents().size(), kPerSecond);

  std::this_thread::sleep_for(std::chrono::milliseconds(350));
  const uint64_t before = MonotonicNs();
  Send(SynFrame(kSrc4), 30);
  const uint64_t after = MonotonicNs();
  // Credit earned between the two floods at 10 per second: 3 events after
  // 350 ms, more if the sleep overshot, never more than the burst. The
  // program's clock is CLOCK_MONOTONIC_COARSE: allow it a tick either way.
  constexpr uint64_t kTick = 20 * kMs;
  const uint64_t at_least =
      (before - drained - kTick) * kPerSecond / (1000 * kMs);
  const uint64_t at_most =
      (after - start + kTick) * kPerSecond / (1000 * kMs) + 1;
  const size_t logged = prog_.DrainEvents().size();
  EXPECT_GE(at_least, 3u);
  EXPECT_GE(logged, at_least);
  EXPECT_LE(logged, std::min<uint64_t>(at_most, kPerSecond));
  EXPECT_EQ(Counters()["events_rate_limited"], 60 - kPerSecond - logged);
}

TEST_F(EventsTest, LogOffSendsNothing) {
  Apply({.deny = {"198.51.100.0/24"}});
  Send(SynFrame(kSrc4), 10);
  Send(SynFrame("198.51.100.9"), 10);
  EXPECT_TRUE(prog_.DrainEvents().empty());
  const std::map<std::string, uint64_t> counters = {
      {"class.syn", 20}, {"syn.unmatched.pass", 10}, {"syn.denied.drop", 10}};
  EXPECT_EQ(Counters(), counters);
}

// Only SYNs are connection attempts.
TEST_F(EventsTest, NonSynsAreNeverLogged) {
  Apply(LogPolicy());
  Send(PacketBuilder().Eth(ETH_P_IP).Ipv4({}).Tcp(kTcpAck).Build());
  Send(PacketBuilder().Eth(ETH_P_IP).Ipv4({}).Tcp(kTcpSyn | kTcpAck).Build());
  Send(PacketBuilder()
           .Eth(ETH_P_IP)
           .Ipv4({.protocol = IPPROTO_UDP})
           .Udp()
           .Build());
  Send(PacketBuilder().Eth(ETH_P_ARP).Arp().Build());
  EXPECT_TRUE(prog_.DrainEvents().empty());
  EXPECT_EQ(Counters()["events_rate_limited"], 0u);
}

// A ring buffer nobody reads fills up; the program counts what it could not
// send and goes on.
TEST_F(EventsTest, FullRingIsCounted) {
  constexpr int kSyns = 2000;  // a record is ~200 bytes: the ring holds ~650
  Apply(LogPolicy(4'000'000'000u));
  EXPECT_EQ(Send(SynFrame(kSrc4), kSyns), XDP_PASS);

  const std::map<std::string, uint64_t> counters = Counters();
  const uint64_t full =
      counters.count("events_ring_full") ? counters.at("events_ring_full") : 0;
  EXPECT_GT(full, 0u);
  EXPECT_EQ(counters.count("events_rate_limited"), 0u);
  EXPECT_EQ(prog_.DrainEvents().size() + full, static_cast<uint64_t>(kSyns));
  // Drained, the ring takes events again.
  Send(SynFrame(kSrc4));
  EXPECT_EQ(prog_.DrainEvents().size(), 1u);
}

// With both on, the SYN that completes a scan logs the detection and then
// itself; the next SYN is logged as blocked.
TEST_F(EventsTest, ScanAndConnectionEventsTogether) {
  TestPolicy policy = LogPolicy();
  policy.scan_enabled = true;
  Apply(policy);
  for (int port = 1; port <= 4; ++port) {
    Send(SynFrame(kSrc4, static_cast<uint16_t>(port)));
  }
  Send(SynFrame(kSrc4, 5));

  std::vector<std::string> seen;
  for (const sw_event& e : prog_.DrainEvents()) {
    seen.push_back(std::string(e.type == SW_EVENT_SCAN ? "scan" : "conn") +
                   ":" + std::to_string(e.dport) + ":" +
                   OutcomeName(e.outcome) + ":" + ActionName(e.action));
  }
  const std::vector<std::string> expected = {
      "conn:1:unmatched:pass", "conn:2:unmatched:pass", "conn:3:unmatched:pass",
      "scan:4:unmatched:drop", "conn:4:unmatched:pass", "conn:5:blocked:drop"};
  EXPECT_EQ(seen, expected);
}

}  // namespace
}  // namespace synwatch
