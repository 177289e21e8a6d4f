// SPDX-License-Identifier: Apache-2.0
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "crowdsec/bouncer.h"

namespace synwatch {
namespace {

constexpr uint64_t kSec = 1000000000ULL;

Cidr P(const char* text) {
  std::string error;
  return ParseCidr(text, &error).value_or(Cidr{});
}

class FakeTable final : public DecisionTable {
 public:
  bool Write(const Cidr& p, uint64_t e, const std::string& o) override {
    if (full && entries.count(p) == 0) {
      errno = E2BIG;
      return false;
    }
    entries[p] = e;
    origins[p] = o;
    return true;
  }
  bool Erase(const Cidr& p) override {
    entries.erase(p);
    origins.erase(p);
    return true;
  }
  std::vector<Cidr> List() const override {
    std::vector<Cidr> out;
    for (const auto& [p, e] : entries) out.push_back(p);
    return out;
  }
  std::map<Cidr, uint64_t> entries;
  std::map<Cidr, std::string> origins;
  bool full = false;
};

std::string Ban(int id, const char* scope, const char* value,
                const char* duration = "1h") {
  return std::string(R"({"duration":")") + duration + R"(","id":)" +
         std::to_string(id) + R"(,"origin":"cscli","scope":")" + scope +
         R"(","type":"ban","value":")" + value + "\"}";
}

struct Lapi {
  std::vector<LapiAnswer> answers;
  std::vector<bool> asked_startup;
  Bouncer::Fetch Fetch() {
    return [this](bool startup) {
      asked_startup.push_back(startup);
      LapiAnswer a = answers.front();
      answers.erase(answers.begin());
      return a;
    };
  }
};

LapiAnswer Ok(const std::string& body) { return {200, body, ""}; }

double Sample(const std::vector<prometheus::MetricFamily>& families,
              const std::string& name, const std::string& label = "",
              const std::string& value = "") {
  for (const auto& f : families) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      bool match = label.empty();
      for (const auto& l : m.label)
        match = match || (l.name == label && l.value == value);
      if (match) {
        return f.type == prometheus::MetricType::Counter ? m.counter.value
                                                         : m.gauge.value;
      }
    }
  }
  return -1;
}

TEST(BouncerTest, StartsWithTheFullSetThenFollowsDeltas) {
  FakeTable table;
  Lapi lapi;
  lapi.answers = {
      Ok(R"({"new":[)" + Ban(1, "Ip", "203.0.113.9") + "," +
         Ban(2, "Range", "2001:db8:66::/48") + "," +
         Ban(3, "Ip", "203.0.113.9", "2h") + R"(],"deleted":null})"),
      Ok(R"({"new":null,"deleted":[)" + Ban(3, "Ip", "203.0.113.9") + "]}"),
      Ok(R"({"new":null,"deleted":[)" + Ban(1, "Ip", "203.0.113.9") + "]}"),
  };
  uint64_t now = 100 * kSec;
  CrowdsecConfig config;
  Bouncer b(config, lapi.Fetch(), &table, [&now] { return now; });
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  EXPECT_EQ(table.entries.at(P("203.0.113.9")), now + 7200 * kSec);
  EXPECT_EQ(table.entries.at(P("2001:db8:66::/48")), now + 3600 * kSec);
  EXPECT_EQ(table.origins.at(P("203.0.113.9")), "cscli");
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  // One of two decisions on the address deleted: still banned.
  EXPECT_EQ(table.entries.at(P("203.0.113.9")), now + 3600 * kSec);
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  EXPECT_EQ(table.entries.count(P("203.0.113.9")), 0U);
  EXPECT_EQ(lapi.asked_startup, (std::vector<bool>{true, false, false}));
  const auto f = b.Collect();
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_polls_total", "result", "ok"), 3);
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_decisions", "family", "ipv6"), 1);
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_prefixes"), 1);
  EXPECT_GT(Sample(f, "synwatch_crowdsec_last_success_timestamp_seconds"), 0);
}

// The LAPI's delta stream can miss a decision (one created while a poll
// reads the table); a full answer every resync_interval heals it.
TEST(BouncerTest, PeriodicFullAnswerHealsWhatTheStreamMissed) {
  FakeTable table;
  Lapi lapi;
  const std::string none = R"({"new":null,"deleted":null})";
  lapi.answers = {
      Ok(R"({"new":[)" + Ban(1, "Ip", "203.0.113.9") + "," +
         Ban(2, "Ip", "203.0.113.10") + "]}"),
      Ok(none),
      Ok(R"({"new":[)" + Ban(1, "Ip", "203.0.113.9") + "," +
         Ban(3, "Range", "2001:db8:66::/48") + "]}"),
      Ok(none),
  };
  uint64_t now = 100 * kSec;
  CrowdsecConfig config;
  config.resync_interval = std::chrono::minutes(10);
  Bouncer b(config, lapi.Fetch(), &table, [&now] { return now; });
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  now += 599 * kSec;
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);  // a delta: not due yet
  now += 1 * kSec;
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);  // 10 min since the full answer
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);  // deltas again
  EXPECT_EQ(lapi.asked_startup, (std::vector<bool>{true, false, true, false}));
  // The range the stream never brought is in; the address it never took
  // away is gone; the one in both stayed.
  EXPECT_EQ(table.entries.count(P("2001:db8:66::/48")), 1U);
  EXPECT_EQ(table.entries.count(P("203.0.113.10")), 0U);
  EXPECT_EQ(table.entries.count(P("203.0.113.9")), 1U);
  const auto f = b.Collect();
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_resync_corrections_total", "change",
                   "added"),
            1);
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_resync_corrections_total", "change",
                   "removed"),
            1);
}

TEST(BouncerTest, NoPeriodicFullAnswerWithResyncOff) {
  FakeTable table;
  Lapi lapi;
  const std::string none = R"({"new":null,"deleted":null})";
  lapi.answers = {Ok(none), Ok(none), Ok(none)};
  uint64_t now = 100 * kSec;
  CrowdsecConfig config;
  config.resync_interval = std::chrono::nanoseconds(0);
  Bouncer b(config, lapi.Fetch(), &table, [&now] { return now; });
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b.PollOnce(), PollResult::kOk);
    now += 86400 * kSec;
  }
  EXPECT_EQ(lapi.asked_startup, (std::vector<bool>{true, false, false}));
}

TEST(BouncerTest, StatusShowsTheBansThePollAndTheTable) {
  FakeTable table;
  Lapi lapi;
  lapi.answers = {
      {0, "", "Connection refused"},
      Ok(R"({"new":[)" + Ban(1, "Ip", "203.0.113.9") + "," +
         Ban(2, "Ip", "203.0.113.9", "2h") + "," +
         Ban(3, "Range", "2001:db8:66::/48") + "]}"),
  };
  CrowdsecConfig config;
  config.lapi_url = "http://192.0.2.5:8080/";
  config.max_decisions = 1000;
  Bouncer b(config, lapi.Fetch(), &table, [] { return 100 * kSec; });
  EXPECT_EQ(b.PollOnce(), PollResult::kTransportError);
  StatusExtra s = b.Status();
  ASSERT_EQ(s.rules.size(), 1U);
  EXPECT_EQ(s.rules[0].first, "CrowdSec bans");
  EXPECT_EQ(s.rules[0].second,
            "0 decisions on 0 prefixes from http://192.0.2.5:8080/ (never "
            "succeeded since start)");
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  s = b.Status();
  EXPECT_EQ(s.rules[0].second.rfind("3 decisions on 2 prefixes from "
                                    "http://192.0.2.5:8080/ (last good poll ",
                                    0),
            0U)
      << s.rules[0].second;
  ASSERT_EQ(s.tables.size(), 1U);
  EXPECT_EQ(s.tables[0].name, "CrowdSec decisions");
  EXPECT_EQ(s.tables[0].entries, 2U);
  EXPECT_EQ(s.tables[0].capacity, 1000U);
}

TEST(BouncerTest, ErrorsKeepWhatIsEnforcedAndRetryWithStartup) {
  FakeTable table;
  table.entries[P("198.51.100.0/24")] = 500 * kSec;  // pinned by a predecessor
  table.entries[P("192.0.2.1")] = 500 * kSec;
  Lapi lapi;
  lapi.answers = {
      {0, "", "Connection refused"},
      {403, R"({"message":"access forbidden"})", ""},
      Ok("{\"new\": ["),
      Ok(R"({"new":[)" + Ban(1, "Ip", "192.0.2.1") + "]}"),
  };
  CrowdsecConfig config;
  Bouncer b(config, lapi.Fetch(), &table, [] { return 100 * kSec; });
  EXPECT_EQ(b.PollOnce(), PollResult::kTransportError);
  EXPECT_EQ(b.PollOnce(), PollResult::kHttpError);
  EXPECT_EQ(b.PollOnce(), PollResult::kBadAnswer);
  // Nothing lost while the LAPI failed.
  EXPECT_EQ(table.entries.size(), 2U);
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  // The first full answer: the inherited entry it lacks goes, the one it
  // has is rewritten.
  EXPECT_EQ(table.entries.size(), 1U);
  EXPECT_EQ(table.entries.at(P("192.0.2.1")), 3700 * kSec);
  EXPECT_EQ(lapi.asked_startup, (std::vector<bool>{true, true, true, true}));
  const auto f = b.Collect();
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_polls_total", "result", "http_error"),
            1);
  EXPECT_EQ(
      Sample(f, "synwatch_crowdsec_polls_total", "result", "transport_error"),
      1);
  EXPECT_EQ(Sample(f, "synwatch_crowdsec_polls_total", "result", "bad_answer"),
            1);
}

TEST(BouncerTest, CountsTableWriteFailures) {
  FakeTable table;
  table.full = true;
  Lapi lapi;
  lapi.answers = {Ok(R"({"new":[)" + Ban(1, "Ip", "192.0.2.1") + "," +
                     Ban(2, "Ip", "192.0.2.2") + "]}")};
  CrowdsecConfig config;
  Bouncer b(config, lapi.Fetch(), &table, [] { return kSec; });
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  EXPECT_EQ(Sample(b.Collect(), "synwatch_crowdsec_table_write_failures_total"),
            2);
}

TEST(BouncerTest, TheThreadPollsUntilStopped) {
  FakeTable table;
  std::atomic<int> calls{0};
  CrowdsecConfig config;
  config.update_interval = std::chrono::milliseconds(10);
  Bouncer b(
      config,
      [&calls](bool) {
        ++calls;
        return LapiAnswer{200, R"({"new":null,"deleted":null})", ""};
      },
      &table);
  b.Start();
  for (int i = 0; i < 500 && calls < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  b.Stop();
  const int seen = calls;
  EXPECT_GE(seen, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, seen);
}

}  // namespace
}  // namespace synwatch
