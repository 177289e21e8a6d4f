// SPDX-License-Identifier: Apache-2.0
// The reporter against a scripted fake LAPI (the Post function): login,
// token renewal on 401 and on expiry, 4xx and 5xx answers, the bounded
// queue; and the alerts' JSON as LAPI 1.4.6 requires it.
#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "crowdsec/reporter.h"

namespace synwatch {
namespace {

using nlohmann::json;

// A LAPI that answers requests from a script and records what it got.
class FakeLapi {
 public:
  struct Request {
    std::string path, body, token;
  };
  void Answer(long status, std::string body) {
    answers_.push_back({status, std::move(body), ""});
  }
  void Down() { answers_.push_back({0, "", "Connection refused"}); }
  Reporter::Post post() {
    return [this](const std::string& path, const std::string& body,
                  const std::string& token) {
      requests.push_back({path, body, token});
      if (answers_.empty()) return LapiAnswer{500, "unscripted", ""};
      LapiAnswer a = answers_.front();
      answers_.pop_front();
      return a;
    };
  }
  std::vector<Request> requests;

 private:
  std::deque<LapiAnswer> answers_;
};

std::string Token(const std::string& t, const std::string& expire) {
  return json{{"code", 200}, {"expire", expire}, {"token", t}}.dump();
}

ScanReport Scan(const char* source, std::vector<uint16_t> ports) {
  ScanReport r;
  std::string error;
  r.source = *ParseCidr(source, &error);
  r.target = "192.0.2.1";
  r.interface = "eth0";
  r.ports = std::move(ports);
  r.unix_time = 1'800'000'000;  // 2027-01-15T08:00:00Z
  return r;
}

ReportSettings Settings() {
  ReportSettings s;
  s.machine_id = "web-1";
  s.capacity = 3;
  s.window = std::chrono::seconds(60);
  s.max_queued = 4;
  s.batch = 2;
  return s;
}

double Now() { return 1'800'000'000; }
constexpr char kLater[] = "2027-01-15T09:00:00Z";  // Now() + 1 h

double Sample(const Reporter& r, const std::string& name,
              const std::string& result) {
  for (const auto& f : r.Collect()) {
    if (f.name != name) continue;
    for (const auto& m : f.metric) {
      if (result.empty() || (!m.label.empty() && m.label[0].value == result)) {
        return f.type == prometheus::MetricType::Counter ? m.counter.value
                                                         : m.gauge.value;
      }
    }
  }
  return -1;
}

TEST(CrowdsecReporterTest, AlertJsonHasWhatTheLapiRequires) {
  ScanReport v4 = Scan("192.0.2.66", {22, 80, 443});
  ScanReport v6 = Scan("2001:db8:1:2::/64", {22, 23, 25});
  v6.simulated = true;
  const json a = json::parse(AlertsJson({v4, v6}, Settings()));
  ASSERT_TRUE(a.is_array());
  ASSERT_EQ(a.size(), 2U);
  const json& x = a[0];
  EXPECT_EQ(x["scenario"], "synwatch/port-scan");
  EXPECT_EQ(x["scenario_version"], "1");
  EXPECT_EQ(x["scenario_hash"].get<std::string>().size(), 64U);
  EXPECT_EQ(x["events_count"], 3);
  EXPECT_EQ(x["capacity"], 3);
  EXPECT_EQ(x["leakspeed"], "60s");
  EXPECT_EQ(x["start_at"], "2027-01-15T07:59:00Z");
  EXPECT_EQ(x["stop_at"], "2027-01-15T08:00:00Z");
  EXPECT_EQ(x["simulated"], false);
  EXPECT_EQ(x["remediation"], true);
  EXPECT_EQ(x["decisions"], json::array());  // the profiles decide
  EXPECT_EQ(
      x["source"],
      (json{{"scope", "Ip"}, {"value", "192.0.2.66"}, {"ip", "192.0.2.66"}}));
  EXPECT_NE(x["message"].get<std::string>().find("22,80,443"),
            std::string::npos);
  ASSERT_EQ(x["events"].size(), 1U);
  EXPECT_EQ(x["events"][0]["timestamp"], "2027-01-15T08:00:00Z");
  bool ports = false;
  for (const json& m : x["events"][0]["meta"]) {
    if (m["key"] == "ports") ports = m["value"] == "22,80,443";
  }
  EXPECT_TRUE(ports);
  // A prefix is a Range, and dry run is simulated.
  EXPECT_EQ(a[1]["source"], (json{{"scope", "Range"},
                                  {"value", "2001:db8:1:2::/64"},
                                  {"range", "2001:db8:1:2::/64"}}));
  EXPECT_EQ(a[1]["simulated"], true);
}

TEST(CrowdsecReporterTest, EventMaskedToThePeerPrefix) {
  sw_event e{};
  e.type = SW_EVENT_SCAN;
  e.family = SW_FAMILY_IPV6;
  std::array<uint8_t, 16> src{};
  Family f{};
  ASSERT_TRUE(ParseAddress("2001:db8:1:2:aa::66", &f, &src));
  std::memcpy(e.src, src.data(), 16);
  ASSERT_TRUE(ParseAddress("2001:db8::1", &f, &src));
  std::memcpy(e.dst, src.data(), 16);
  e.nports = 2;
  e.ports[0] = 22;
  e.ports[1] = 80;
  PeersConfig peers;  // IPv6 by /64, IPv4 by address
  ScanReport r = ScanReportFromEvent(e, "eth0", peers, 5, true);
  EXPECT_EQ(FormatCidr(r.source), "2001:db8:1:2::/64");
  EXPECT_EQ(r.target, "2001:db8::1");
  EXPECT_EQ(r.ports, (std::vector<uint16_t>{22, 80}));
  EXPECT_TRUE(r.simulated);
  peers.ipv6_prefix_length = 128;
  r = ScanReportFromEvent(e, "eth0", peers, 5, false);
  EXPECT_EQ(FormatCidr(r.source), "2001:db8:1:2:aa::66/128");
  EXPECT_EQ(json::parse(AlertsJson({r}, Settings()))[0]["source"]["scope"],
            "Ip");
}

TEST(CrowdsecReporterTest, LogsInThenSendsWithTheToken) {
  FakeLapi lapi;
  lapi.Answer(200, Token("t1", kLater));
  lapi.Answer(201, R"(["1"])");
  Reporter r(Settings(), "s3cret", lapi.post(), Now);
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kIdle);  // nothing queued
  EXPECT_TRUE(lapi.requests.empty());
  ASSERT_TRUE(r.Enqueue(Scan("192.0.2.66", {1, 2, 3})));
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  ASSERT_EQ(lapi.requests.size(), 2U);
  EXPECT_EQ(lapi.requests[0].path, "v1/watchers/login");
  EXPECT_EQ(lapi.requests[0].token, "");
  const json login = json::parse(lapi.requests[0].body);
  EXPECT_EQ(login["machine_id"], "web-1");
  EXPECT_EQ(login["password"], "s3cret");
  EXPECT_EQ(login["scenarios"], json::array({"synwatch/port-scan"}));
  EXPECT_EQ(lapi.requests[1].path, "v1/alerts");
  EXPECT_EQ(lapi.requests[1].token, "t1");
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "sent"), 1);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 0);
  // The token is reused while valid.
  lapi.Answer(201, R"(["2"])");
  r.Enqueue(Scan("192.0.2.67", {1, 2, 3}));
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  ASSERT_EQ(lapi.requests.size(), 3U);
  EXPECT_EQ(lapi.requests[2].token, "t1");
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_logins_total", "ok"), 1);
  // The password is in no metric.
  for (const auto& f : r.Collect()) {
    EXPECT_EQ(prometheus::TextSerializer().Serialize({f}).find("s3cret"),
              std::string::npos);
  }
}

TEST(CrowdsecReporterTest, RenewsTheTokenOn401AndNearExpiry) {
  FakeLapi lapi;
  double now = Now();
  Reporter r(Settings(), "pw", lapi.post(), [&now] { return now; });
  lapi.Answer(200, Token("t1", kLater));
  lapi.Answer(201, "[]");
  r.Enqueue(Scan("192.0.2.66", {1, 2, 3}));
  ASSERT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  // Revoked: 401, a new login, the same batch again with the new token.
  lapi.Answer(401, R"({"code":401,"message":"Token is expired"})");
  lapi.Answer(200, Token("t2", kLater));
  lapi.Answer(201, "[]");
  r.Enqueue(Scan("192.0.2.67", {1, 2, 3}));
  ASSERT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  ASSERT_EQ(lapi.requests.size(), 5U);
  EXPECT_EQ(lapi.requests[2].token, "t1");
  EXPECT_EQ(lapi.requests[3].path, "v1/watchers/login");
  EXPECT_EQ(lapi.requests[4].token, "t2");
  EXPECT_EQ(lapi.requests[4].body, lapi.requests[2].body);
  // Within a minute of the stated expiry: logs in before sending.
  now = Now() + 3600 - 30;
  lapi.Answer(200, Token("t3", "2027-01-15T10:00:00Z"));
  lapi.Answer(201, "[]");
  r.Enqueue(Scan("192.0.2.68", {1, 2, 3}));
  ASSERT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  ASSERT_EQ(lapi.requests.size(), 7U);
  EXPECT_EQ(lapi.requests[5].path, "v1/watchers/login");
  EXPECT_EQ(lapi.requests[6].token, "t3");
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "sent"), 3);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_logins_total", "ok"), 3);
}

TEST(CrowdsecReporterTest, RejectedDropsTheBatchServerErrorsKeepIt) {
  FakeLapi lapi;
  Reporter r(Settings(), "pw", lapi.post(), Now);
  lapi.Answer(200, Token("t1", kLater));
  lapi.Answer(400, R"({"message":"validation failure"})");
  r.Enqueue(Scan("192.0.2.66", {1, 2, 3}));
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRejected);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "failed"), 1);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 0);
  // A 5xx and a transport error keep the batch for the retry.
  r.Enqueue(Scan("192.0.2.67", {1, 2, 3}));
  lapi.Answer(503, "");
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
  lapi.Down();
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 1);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alert_request_failures_total", ""), 2);
  lapi.Answer(201, "[]");
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  EXPECT_EQ(json::parse(lapi.requests.back().body)[0]["source"]["value"],
            "192.0.2.67");
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "sent"), 1);
  // Down for good: given up after kMaxAttempts, counted failed.
  r.Enqueue(Scan("192.0.2.68", {1, 2, 3}));
  for (unsigned i = 1; i < Reporter::kMaxAttempts; ++i) {
    lapi.Down();
    EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
    EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 1);
  }
  lapi.Down();
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 0);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "failed"), 2);
  // The next batch gets its own attempts.
  r.Enqueue(Scan("192.0.2.69", {1, 2, 3}));
  lapi.Down();
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 1);
}

TEST(CrowdsecReporterTest, FailedLoginKeepsTheBatch) {
  FakeLapi lapi;
  Reporter r(Settings(), "wrong", lapi.post(), Now);
  lapi.Answer(401,
              R"({"code":401,"message":"incorrect Username or Password"})");
  r.Enqueue(Scan("192.0.2.66", {1, 2, 3}));
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
  ASSERT_EQ(lapi.requests.size(), 1U);  // no alert POST without a token
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_logins_total", "failed"), 1);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 1);
  lapi.Answer(200, R"({"code":200})");  // no token in it
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kRetry);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_logins_total", "failed"), 2);
}

TEST(CrowdsecReporterTest, BoundedQueueDropsAndBatches) {
  FakeLapi lapi;
  Reporter r(Settings(), "pw", lapi.post(), Now);  // 4 queued, 2 a POST
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(r.Enqueue(Scan("192.0.2.66", {1})));
  EXPECT_FALSE(r.Enqueue(Scan("192.0.2.66", {1})));
  EXPECT_FALSE(r.Enqueue(Scan("192.0.2.66", {1})));
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "dropped"), 2);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_queued", ""), 4);
  lapi.Answer(200, Token("t", kLater));
  lapi.Answer(201, "[]");
  lapi.Answer(201, "[]");
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  EXPECT_EQ(json::parse(lapi.requests.back().body).size(), 2U);
  EXPECT_EQ(r.SendOnce(), Reporter::SendResult::kSent);
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "sent"), 4);
  EXPECT_TRUE(r.Enqueue(Scan("192.0.2.66", {1})));  // room again
}

TEST(CrowdsecReporterTest, WorkerThreadSendsAndStops) {
  FakeLapi lapi;
  lapi.Answer(200, Token("t", kLater));
  lapi.Answer(201, "[]");
  std::mutex mu;
  Reporter::Post post = lapi.post();
  Reporter r(
      Settings(), "pw",
      [&](const std::string& p, const std::string& b, const std::string& t) {
        std::lock_guard lock(mu);
        return post(p, b, t);
      },
      Now);
  r.Start();
  r.Enqueue(Scan("192.0.2.66", {1, 2, 3}));
  for (int i = 0;
       i < 200 && Sample(r, "synwatch_crowdsec_alerts_total", "sent") < 1;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(Sample(r, "synwatch_crowdsec_alerts_total", "sent"), 1);
  r.Stop();
}

TEST(CrowdsecReporterTest, PasswordFileMustBeOwnerOnly) {
  char path[] = "/tmp/synwatch-machine-pw.XXXXXX";
  const int fd = mkstemp(path);  // 0600
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "hunter2\n", 8), 8);
  close(fd);
  EXPECT_EQ(ReadMachinePassword(path), "hunter2");
  ASSERT_EQ(chmod(path, 0640), 0);
  try {
    ReadMachinePassword(path);
    ADD_FAILURE() << "accepted mode 0640";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("has mode 0640"), std::string::npos);
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos);
  }
  ASSERT_EQ(chmod(path, 0600), 0);
  ASSERT_EQ(truncate(path, 0), 0);
  EXPECT_THROW(ReadMachinePassword(path), std::runtime_error);
  unlink(path);
  EXPECT_THROW(ReadMachinePassword(path), std::runtime_error);
}

}  // namespace
}  // namespace synwatch
