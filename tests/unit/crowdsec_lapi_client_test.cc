// SPDX-License-Identifier: Apache-2.0
// LapiClient against a fake LAPI on 127.0.0.1: what it sends (path, query,
// X-Api-Key, User-Agent), how each kind of bad answer comes back, and what
// the bouncer does with each (keeps what is enforced, counts the failure).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crowdsec/bouncer.h"
#include "crowdsec/lapi_client.h"

namespace synwatch {
namespace {

// Answers one connection with a fixed reply (after delay), then closes.
class FakeLapi {
 public:
  FakeLapi(std::string reply, std::chrono::milliseconds delay = {})
      : reply_(std::move(reply)), delay_(delay) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    EXPECT_EQ(listen(fd_, 4), 0);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeLapi() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
  }
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/";
  }
  const std::string& request() const { return request_; }

 private:
  void Serve() {
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos) {
      const ssize_t n = read(c, buf, sizeof(buf));
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    // A POST's body, as long as its Content-Length says.
    const size_t head = request_.find("\r\n\r\n");
    const size_t cl = request_.find("Content-Length: ");
    if (head != std::string::npos && cl != std::string::npos && cl < head) {
      const size_t want = head + 4 + std::stoul(request_.substr(cl + 16));
      while (request_.size() < want) {
        const ssize_t n = read(c, buf, sizeof(buf));
        if (n <= 0) break;
        request_.append(buf, static_cast<size_t>(n));
      }
    }
    std::this_thread::sleep_for(delay_);
    size_t off = 0;
    while (off < reply_.size()) {
      const ssize_t n = write(c, reply_.data() + off, reply_.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    close(c);
  }

  std::string reply_;
  std::chrono::milliseconds delay_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::string request_;
  std::thread thread_;
};

std::string Http(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

CrowdsecConfig Config(const std::string& url) {
  CrowdsecConfig c;
  c.enabled = true;
  c.lapi_url = url;
  c.api_key = "k3y-0f-the-b0uncer";
  c.origins = {"cscli", "crowdsec"};
  return c;
}

TEST(LapiClientTest, SendsKeyAgentAndQuery) {
  FakeLapi lapi(Http(200, R"({"new":null,"deleted":null})"));
  LapiClient client(Config(lapi.url()), "crowdsec-synwatch-bouncer/v9");
  const LapiAnswer a = client.Stream(true, std::chrono::seconds(5));
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.body, R"({"new":null,"deleted":null})");
  const std::string& r = lapi.request();
  EXPECT_EQ(r.rfind("GET /v1/decisions/stream?startup=true&scopes=ip,range&"
                    "origins=cscli,crowdsec HTTP/1.1\r\n",
                    0),
            0U)
      << r;
  EXPECT_NE(r.find("\r\nX-Api-Key: k3y-0f-the-b0uncer\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nUser-Agent: crowdsec-synwatch-bouncer/v9\r\n"),
            std::string::npos);
  EXPECT_EQ(client.StreamUrl(false).find("k3y"), std::string::npos);
}

TEST(LapiClientTest, PostsJsonWithABearerTokenAndNoApiKey) {
  FakeLapi lapi(Http(201, R"(["1"])"));
  LapiClient client(Config(lapi.url()), "synwatch/v9");
  const std::string body = R"([{"scenario":"synwatch/port-scan"}])";
  const LapiAnswer a =
      client.Post("v1/alerts", body, "jwt.t0ken", std::chrono::seconds(5));
  EXPECT_EQ(a.error, "");
  EXPECT_EQ(a.status, 201);
  const std::string& r = lapi.request();
  EXPECT_EQ(r.rfind("POST /v1/alerts HTTP/1.1\r\n", 0), 0U) << r;
  EXPECT_NE(r.find("\r\nAuthorization: Bearer jwt.t0ken\r\n"),
            std::string::npos);
  EXPECT_NE(r.find("\r\nContent-Type: application/json\r\n"),
            std::string::npos);
  EXPECT_EQ(r.find("X-Api-Key"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - body.size()), body);
  // A login carries no Authorization header; a token with a line break is
  // refused before anything is sent.
  FakeLapi login(Http(200, "{}"));
  LapiClient c2(Config(login.url()), "ua");
  EXPECT_EQ(
      c2.Post("v1/watchers/login", "{}", "", std::chrono::seconds(5)).status,
      200);
  EXPECT_EQ(login.request().find("Authorization"), std::string::npos);
  EXPECT_EQ(
      c2.Post("v1/alerts", "[]", "a\r\nX: y", std::chrono::seconds(5)).error,
      "the token has a line break");
}

TEST(LapiClientTest, ReportsStatusesAndBrokenAnswers) {
  {
    FakeLapi lapi(Http(403, R"({"message":"access forbidden"})"));
    LapiClient client(Config(lapi.url()), "ua");
    const LapiAnswer a = client.Stream(false, std::chrono::seconds(5));
    EXPECT_EQ(a.status, 403);
    EXPECT_EQ(a.error, "");
  }
  {
    FakeLapi lapi(Http(500, "oops"));
    LapiClient client(Config(lapi.url()), "ua");
    EXPECT_EQ(client.Stream(false, std::chrono::seconds(5)).status, 500);
  }
  {
    // Truncated: the connection closes before Content-Length bytes.
    std::string reply = Http(200, R"({"new":[{"id":1}]})");
    reply.resize(reply.size() - 5);
    FakeLapi lapi(reply);
    LapiClient client(Config(lapi.url()), "ua");
    const LapiAnswer a = client.Stream(false, std::chrono::seconds(5));
    EXPECT_NE(a.error, "");
  }
  {
    FakeLapi lapi(Http(200, std::string(4096, ' ')));
    LapiClient client(Config(lapi.url()), "ua", 1024);
    const LapiAnswer a = client.Stream(false, std::chrono::seconds(5));
    EXPECT_EQ(a.error, "answer larger than 1024 bytes");
  }
  {
    FakeLapi lapi(Http(200, "{}"), std::chrono::milliseconds(2500));
    LapiClient client(Config(lapi.url()), "ua");
    const auto start = std::chrono::steady_clock::now();
    const LapiAnswer a = client.Stream(false, std::chrono::seconds(1));
    EXPECT_NE(a.error, "");
    EXPECT_LT(std::chrono::steady_clock::now() - start,
              std::chrono::milliseconds(2400));
  }
}

TEST(LapiClientTest, CancelEndsARequestUnderWay) {
  FakeLapi lapi(Http(200, "{}"), std::chrono::milliseconds(3000));
  LapiClient client(Config(lapi.url()), "ua");
  std::thread canceller([&client] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    client.Cancel();
  });
  const auto start = std::chrono::steady_clock::now();
  const LapiAnswer a = client.Stream(false, std::chrono::seconds(30));
  canceller.join();
  EXPECT_NE(a.error, "");
  EXPECT_LT(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(2500));
}

class MapTable final : public DecisionTable {
 public:
  bool Write(const Cidr& p, uint64_t e, const std::string&) override {
    entries[p] = e;
    return true;
  }
  bool Erase(const Cidr& p) override {
    entries.erase(p);
    return true;
  }
  std::vector<Cidr> List() const override { return {}; }
  std::map<Cidr, uint64_t> entries;
};

double Polls(const Bouncer& b, const std::string& result) {
  for (const auto& f : b.Collect()) {
    if (f.name != "synwatch_crowdsec_polls_total") continue;
    for (const auto& m : f.metric) {
      if (m.label.size() == 1 && m.label[0].value == result) {
        return m.counter.value;
      }
    }
  }
  return -1;
}

// Every kind of failure from a real HTTP exchange, one poll each, through
// the bouncer: the ban in force stays in the table untouched, the failure
// is counted by kind, and the next good answer is applied as a delta.
TEST(LapiClientTest, TheBouncerKeepsItsBansThroughEveryKindOfFailure) {
  constexpr size_t kMaxBody = 1024;
  struct Step {
    std::string reply;
    std::chrono::milliseconds delay{0};
  };
  std::string truncated =
      Http(200, R"({"new":[{"duration":"1h","id":2,"origin":"cscli",)"
                R"("scope":"Ip","type":"ban","value":"192.0.2.2"}]})");
  truncated.resize(truncated.size() - 20);
  const std::vector<Step> steps = {
      {Http(200, R"({"new":[{"duration":"1h","id":1,"origin":"cscli",)"
                 R"("scope":"Ip","type":"ban","value":"192.0.2.1"}]})")},
      {Http(403, R"({"message":"access forbidden"})")},
      {Http(500, R"({"message":"database is locked"})")},
      {truncated},
      {Http(200, R"({"new":[)" + std::string(2 * kMaxBody, ' ') + "]}")},
      {Http(200, R"({"new":null,"deleted":null})"),
       std::chrono::milliseconds(2500)},
      {Http(200, R"({"new":null,"deleted":[{"duration":"-1s","id":1,)"
                 R"("origin":"cscli","scope":"Ip","type":"ban",)"
                 R"("value":"192.0.2.1"}]})")},
  };
  size_t next = 0;
  std::vector<bool> startups;
  Bouncer::Fetch fetch = [&](bool startup) {
    startups.push_back(startup);
    const Step& step = steps.at(next++);
    FakeLapi lapi(step.reply, step.delay);
    LapiClient client(Config(lapi.url()), "ua", kMaxBody);
    return client.Stream(startup, std::chrono::seconds(1));
  };
  MapTable table;
  CrowdsecConfig config = Config("http://127.0.0.1:1/");
  Bouncer b(config, fetch, &table, [] { return 1000000000ULL; });
  ASSERT_EQ(b.PollOnce(), PollResult::kOk);
  ASSERT_EQ(table.entries.size(), 1U);
  const auto enforced = table.entries;
  EXPECT_EQ(b.PollOnce(), PollResult::kHttpError);       // 403
  EXPECT_EQ(b.PollOnce(), PollResult::kHttpError);       // 500
  EXPECT_EQ(b.PollOnce(), PollResult::kTransportError);  // truncated
  EXPECT_EQ(b.PollOnce(), PollResult::kTransportError);  // oversized
  EXPECT_EQ(b.PollOnce(), PollResult::kTransportError);  // slow
  EXPECT_EQ(table.entries, enforced);
  EXPECT_EQ(Polls(b, "http_error"), 2);
  EXPECT_EQ(Polls(b, "transport_error"), 3);
  EXPECT_EQ(Polls(b, "ok"), 1);
  // Back: a delta (the full set was had once), which lifts the ban.
  EXPECT_EQ(b.PollOnce(), PollResult::kOk);
  EXPECT_TRUE(table.entries.empty());
  EXPECT_EQ(startups, (std::vector<bool>{true, false, false, false, false,
                                         false, false}));
}

TEST(LapiClientTest, ReadsTheKeyFileAndRefusesAnEmptyOne) {
  char path[] = "/tmp/synwatch-lapi-key.XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "from-file\n", 10), 10);
  close(fd);
  FakeLapi lapi(Http(200, "{}"));
  CrowdsecConfig c = Config(lapi.url());
  c.api_key.clear();
  c.api_key_file = path;
  LapiClient client(c, "ua");
  EXPECT_EQ(client.Stream(true, std::chrono::seconds(5)).status, 200);
  EXPECT_NE(lapi.request().find("\r\nX-Api-Key: from-file\r\n"),
            std::string::npos);
  ASSERT_EQ(truncate(path, 0), 0);
  EXPECT_THROW(LapiClient(c, "ua"), std::runtime_error);
  unlink(path);
}

}  // namespace
}  // namespace synwatch
