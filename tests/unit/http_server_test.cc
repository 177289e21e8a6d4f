// SPDX-License-Identifier: Apache-2.0
#include "web/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_response.h"

namespace synwatch {
namespace {

using testing::ParseResponseHead;
using testing::Response;

// A blocking HTTP/1.1 client over one TCP connection, just enough to test
// the server: requests are written verbatim, responses are read by
// Content-Length.
class Client {
 public:
  explicit Client(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    if (fd_ < 0) throw std::runtime_error("socket");
    timeval timeout{};
    timeout.tv_sec = 10;  // a hung server fails the test, not the run
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) !=
        0) {
      close(fd_);
      throw std::runtime_error("connect");
    }
  }
  ~Client() { close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Response Request(std::string_view method, std::string_view path,
                   const std::vector<std::string>& headers = {}) {
    std::string request = std::string(method) + " " + std::string(path) +
                          " HTTP/1.1\r\nHost: localhost\r\n";
    for (const auto& header : headers) request += header + "\r\n";
    request += "\r\n";
    std::string_view rest = request;
    while (!rest.empty()) {
      const ssize_t n = send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n <= 0) throw std::runtime_error("send");
      rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return ReadResponse(method == "HEAD");
  }

 private:
  Response ReadResponse(bool head) {
    std::size_t header_end;
    while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      Fill();
    }
    Response response =
        ParseResponseHead(std::string_view(buffer_.data(), header_end));
    buffer_.erase(0, header_end + 4);
    std::size_t length = 0;
    if (!head && response.headers.count("content-length") != 0) {
      length = std::stoul(response.headers["content-length"]);
    }
    while (buffer_.size() < length) Fill();
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  void Fill() {
    char chunk[65536];
    const ssize_t n = recv(fd_, chunk, sizeof(chunk), 0);
    if (n <= 0) throw std::runtime_error("recv: connection closed or timeout");
    buffer_.append(chunk, static_cast<std::size_t>(n));
  }

  int fd_;
  std::string buffer_;
};

Response Fetch(int port, std::string_view method, std::string_view path,
               const std::vector<std::string>& headers = {}) {
  Client client(port);
  return client.Request(method, path, headers);
}

std::string Gunzip(std::string_view data) {
  z_stream stream{};
  inflateInit2(&stream, 16 + MAX_WBITS);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    stream.next_out = reinterpret_cast<Bytef*>(buf);
    stream.avail_out = sizeof(buf);
    rc = inflate(&stream, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - stream.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&stream);
  if (rc != Z_STREAM_END) throw std::runtime_error("inflate failed");
  return out;
}

std::vector<prometheus::MetricFamily> TestFamilies() {
  prometheus::MetricFamily family;
  family.name = "synwatch_syn_packets_total";
  family.help = "SYN packets.";
  family.type = prometheus::MetricType::Counter;
  prometheus::ClientMetric metric;
  metric.label = {{"interface", "eth0"}};
  metric.counter.value = 5;
  family.metric.push_back(metric);
  return {family};
}

constexpr char kTextBody[] =
    "# HELP synwatch_syn_packets_total SYN packets.\n"
    "# TYPE synwatch_syn_packets_total counter\n"
    "synwatch_syn_packets_total{interface=\"eth0\"} 5\n";

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpOptions options;
    options.listen_address = testing::Listening("127.0.0.1:0");
    options.version = "1.2.3<test>";
    server_ = std::make_unique<HttpServer>(
        options, GatherFamilies([this] {
          ++gathers_;
          if (fail_) throw std::runtime_error("map read failed\nsecond line");
          return TestFamilies();
        }),
        [this] { return ready_.load(); });
    ASSERT_EQ(server_->ports().size(), 1u);
    port_ = server_->ports()[0];
    ASSERT_GT(port_, 0);
  }

  std::atomic<bool> ready_{false};
  std::atomic<bool> fail_{false};
  std::atomic<int> gathers_{0};
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
};

TEST_F(HttpServerTest, ServesTextFormatByDefault) {
  const Response response = Fetch(port_, "GET", "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(response.Header("content-length"),
            std::to_string(response.body.size()));
  EXPECT_EQ(response.Header("content-encoding"), "");
  EXPECT_EQ(response.body, kTextBody);
  EXPECT_EQ(gathers_.load(), 1);
}

TEST_F(HttpServerTest, ServesOpenMetricsWhenAsked) {
  const Response response = Fetch(
      port_, "GET", "/metrics",
      {"Accept: application/openmetrics-text;version=1.0.0,application/"
       "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
       "*/*;q=0.1"});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("content-type"),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_EQ(response.body,
            "# HELP synwatch_syn_packets SYN packets.\n"
            "# TYPE synwatch_syn_packets counter\n"
            "synwatch_syn_packets_total{interface=\"eth0\"} 5\n"
            "# EOF\n");
}

TEST_F(HttpServerTest, GzipWhenAccepted) {
  const Response response =
      Fetch(port_, "GET", "/metrics", {"Accept-Encoding: gzip, deflate"});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("content-encoding"), "gzip");
  EXPECT_NE(response.Header("vary").find("Accept-Encoding"), std::string::npos);
  EXPECT_EQ(response.Header("content-length"),
            std::to_string(response.body.size()));
  EXPECT_EQ(Gunzip(response.body), kTextBody);
}

TEST_F(HttpServerTest, HeadHasHeadersButNoBody) {
  Client client(port_);
  const Response head = client.Request("HEAD", "/metrics");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("content-type"),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(head.Header("content-length"),
            std::to_string(std::string_view(kTextBody).size()));
  EXPECT_EQ(head.body, "");
  // The connection stays usable: no stray body bytes were sent.
  const Response get = client.Request("GET", "/-/healthy");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "Healthy\n");
}

TEST_F(HttpServerTest, KeepAliveServesSeveralRequests) {
  Client client(port_);
  for (int i = 0; i < 3; ++i) {
    const Response response = client.Request("GET", "/metrics");
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, kTextBody);
  }
  EXPECT_EQ(gathers_.load(), 3);
}

TEST_F(HttpServerTest, LandingPage) {
  const Response response = Fetch(port_, "GET", "/");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(response.body.find("href=\"./metrics\""), std::string::npos);
  EXPECT_NE(response.body.find("href=\"./-/healthy\""), std::string::npos);
  EXPECT_NE(response.body.find("href=\"./-/ready\""), std::string::npos);
  EXPECT_NE(response.body.find("1.2.3&lt;test&gt;"), std::string::npos);
  EXPECT_EQ(gathers_.load(), 0);
}

TEST_F(HttpServerTest, Healthy) {
  const Response response = Fetch(port_, "GET", "/-/healthy");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "Healthy\n");
}

TEST_F(HttpServerTest, DateHeaderIsAnImfFixdate) {
  const std::time_t before = std::time(nullptr);
  const Response response = Fetch(port_, "GET", "/-/healthy");
  const std::time_t after = std::time(nullptr);
  const std::string date = response.Header("date");
  ASSERT_EQ(date.size(), 29u) << date;  // "Sun, 06 Nov 1994 08:49:37 GMT"
  std::tm parsed{};
  const char* end =
      strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parsed);
  ASSERT_NE(end, nullptr) << date;
  EXPECT_EQ(*end, '\0') << date;
  const std::time_t when = timegm(&parsed);
  EXPECT_GE(when, before);
  EXPECT_LE(when, after);
  EXPECT_NE(Fetch(port_, "GET", "/nope").Header("date"), "");  // every answer
}

TEST_F(HttpServerTest, ReadyFollowsCheck) {
  Response response = Fetch(port_, "GET", "/-/ready");
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(response.body, "Not ready\n");
  ready_ = true;
  response = Fetch(port_, "GET", "/-/ready");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "Ready\n");
  ready_ = false;
  EXPECT_EQ(Fetch(port_, "GET", "/-/ready").status, 503);
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  for (const char* path : {"/nope", "/metrics/", "/metricsx", "/-/"}) {
    const Response response = Fetch(port_, "GET", path);
    EXPECT_EQ(response.status, 404) << path;
  }
  EXPECT_EQ(Fetch(port_, "HEAD", "/nope").status, 404);
  EXPECT_EQ(gathers_.load(), 0);
}

TEST_F(HttpServerTest, OtherMethodsAre405) {
  for (const char* method : {"POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
    for (const char* path : {"/metrics", "/", "/-/healthy", "/-/ready"}) {
      const Response response =
          Fetch(port_, method, path, {"Content-Length: 0"});
      EXPECT_EQ(response.status, 405) << method << " " << path;
      EXPECT_EQ(response.Header("allow"), "GET, HEAD") << method << " " << path;
    }
  }
  EXPECT_EQ(gathers_.load(), 0);
}

TEST_F(HttpServerTest, GathererThrowingGives500) {
  fail_ = true;
  Response response = Fetch(port_, "GET", "/metrics");
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(response.body,
            "error gathering metrics: map read failed second line\n");
  // The next scrape works again.
  fail_ = false;
  response = Fetch(port_, "GET", "/metrics");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, kTextBody);
}

TEST_F(HttpServerTest, ConcurrentScrapes) {
  constexpr int kThreads = 6;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::atomic<int> ok{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 5; ++i) {
        if (Fetch(port_, "GET", "/metrics", {"Accept-Encoding: gzip"}).status ==
            200) {
          ++ok;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 30);
  // Scrapes that overlap share a gather; never more gathers than scrapes.
  EXPECT_GE(gathers_.load(), 1);
  EXPECT_LE(gathers_.load(), 30);
}

// Scrapes that arrive while a gather runs wait for the next one, and share
// it: each answer was gathered after its request came in, and three
// waiting scrapes cost one gather, not three.
class HttpServerBatchTest : public ::testing::TestWithParam<bool> {};

TEST_P(HttpServerBatchTest, WaitingScrapesShareTheNextGather) {
  const bool second_fails = GetParam();
  HttpStats stats;
  HttpOptions options;
  options.listen_address = testing::Listening("127.0.0.1:0");
  options.stats = &stats;
  std::mutex mutex;
  std::condition_variable changed;
  int gathers = 0;
  bool gate_open = false;
  HttpServer server(
      options,
      [&](ExpositionFormat, std::string& out) {
        int n = 0;
        {
          std::unique_lock lock(mutex);
          n = ++gathers;
          changed.notify_all();
          changed.wait(lock, [&] { return gate_open; });
        }
        if (second_fails && n == 2) throw std::runtime_error("gather 2 failed");
        out = "gather " + std::to_string(n) + "\n";
      },
      [] { return true; });
  const int port = server.ports().at(0);

  Response first;
  std::thread leader([&] { first = Fetch(port, "GET", "/metrics"); });
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, std::chrono::seconds(10),
                                 [&] { return gathers == 1; }));
  }
  // Three more, while the first gather is held (one per remaining worker).
  constexpr int kWaiting = 3;
  std::vector<Response> later(kWaiting);
  std::vector<std::thread> threads;
  for (int i = 0; i < kWaiting; ++i) {
    threads.emplace_back([&, i] { later[i] = Fetch(port, "GET", "/metrics"); });
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  // The first is being gathered for; the three wait.
  while (stats.scrapes_waiting.load() < kWaiting &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stats.scrapes_waiting.load(), kWaiting);
  {
    std::lock_guard lock(mutex);
    gate_open = true;
  }
  changed.notify_all();
  leader.join();
  for (auto& thread : threads) thread.join();

  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "gather 1\n");
  for (const Response& response : later) {
    if (second_fails) {
      EXPECT_EQ(response.status, 500);
      EXPECT_EQ(response.body, "error gathering metrics: gather 2 failed\n");
    } else {
      EXPECT_EQ(response.status, 200);
      EXPECT_EQ(response.body, "gather 2\n");
    }
  }
  EXPECT_EQ(gathers, 2);
  EXPECT_EQ(stats.scrapes_waiting.load(), 0);
  // The next scrape starts a batch of its own.
  EXPECT_EQ(Fetch(port, "GET", "/metrics").body, "gather 3\n");
}

INSTANTIATE_TEST_SUITE_P(GatherSucceedsOrFails, HttpServerBatchTest,
                         ::testing::Bool());

TEST(HttpServerOptionsTest, CustomMetricsPath) {
  HttpOptions options;
  options.listen_address = testing::Listening("127.0.0.1:0");
  options.metrics_path = "/custom/metrics";
  HttpServer server(options, GatherFamilies(TestFamilies), [] { return true; });
  const int port = server.ports().at(0);
  EXPECT_EQ(Fetch(port, "GET", "/custom/metrics").body, kTextBody);
  EXPECT_EQ(Fetch(port, "GET", "/metrics").status, 404);
  EXPECT_NE(Fetch(port, "GET", "/").body.find("href=\"./custom/metrics\""),
            std::string::npos);
}

TEST(HttpServerOptionsTest, CountsResponsesByClass) {
  HttpStats stats;
  HttpOptions options;
  options.listen_address = testing::Listening("127.0.0.1:0");
  options.stats = &stats;
  HttpServer server(options, GatherFamilies(TestFamilies),
                    [] { return false; });
  const int port = server.ports().at(0);
  EXPECT_EQ(Fetch(port, "GET", "/metrics").status, 200);
  EXPECT_EQ(Fetch(port, "GET", "/-/ready").status, 503);
  EXPECT_EQ(Fetch(port, "GET", "/nope").status, 404);
  EXPECT_EQ(Fetch(port, "POST", "/metrics").status, 405);
  // Counted once the response is written, which the client may see first.
  for (int i = 0; i < 200 && stats.requests_in_flight.load() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(stats.responses[2].load(), 1U);
  EXPECT_EQ(stats.responses[4].load(), 2U);
  EXPECT_EQ(stats.responses[5].load(), 1U);
  EXPECT_EQ(stats.requests_in_flight.load(), 0);
  EXPECT_EQ(stats.scrapes_waiting.load(), 0);
  EXPECT_EQ(stats.write_failures.load(), 0U);

  const auto families = CollectHttpStats(stats);
  ASSERT_EQ(families.size(), 8U);
  EXPECT_EQ(families[0].name, "synwatch_http_requests_in_flight");
  EXPECT_EQ(families[2].name, "synwatch_http_responses_total");
  ASSERT_EQ(families[2].metric.size(), 5U);
  EXPECT_EQ(families[2].metric[3].label.at(0).value, "4xx");
  EXPECT_EQ(families[2].metric[3].counter.value, 2.0);
  EXPECT_EQ(families[3].name, "synwatch_http_response_write_failures_total");
  EXPECT_EQ(families[4].name, "synwatch_http_connections_open");
  EXPECT_EQ(families[5].name, "synwatch_http_connections_dropped_total");
  ASSERT_EQ(families[5].metric.size(), 3U);
  EXPECT_EQ(families[5].metric[1].label.at(0).value, "request_timeout");
  EXPECT_EQ(families[6].name, "synwatch_http_scrapes_queued");
  EXPECT_EQ(families[7].name, "synwatch_http_password_checks_waiting");
  EXPECT_EQ(stats.scrapes_queued.load(), 0);
}

TEST(HttpServerOptionsTest, AllAddressesForm) {
  HttpOptions options;
  options.listen_address = testing::Listening(":0");
  HttpServer server(options, GatherFamilies(TestFamilies), [] { return true; });
  ASSERT_EQ(server.ports().size(), 1u);
  EXPECT_GT(server.ports()[0], 0);
  EXPECT_EQ(Fetch(server.ports()[0], "GET", "/-/healthy").status, 200);
}

TEST(HttpServerOptionsTest, BusyPortThrowsWithReason) {
  HttpOptions options;
  options.listen_address = testing::Listening("127.0.0.1:0");
  HttpServer first(options, GatherFamilies(TestFamilies), [] { return true; });
  const std::string address =
      "127.0.0.1:" + std::to_string(first.ports().at(0));
  options.listen_address = testing::Listening(address);
  try {
    HttpServer second(options, GatherFamilies(TestFamilies),
                      [] { return true; });
    FAIL() << "second server on the same port started";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "listen on " + address + ": address already in use");
  }
  // The first server is unaffected.
  EXPECT_EQ(Fetch(first.ports().at(0), "GET", "/-/healthy").status, 200);
}

TEST(HttpServerOptionsTest, RejectsBadAddresses) {
  // The syntax is config's, checked once (ParseListenAddress; its messages
  // are in config_test): none of these reaches a server.
  for (const char* text : {"9632", "127.0.0.1:", "127.0.0.1:65536",
                           "127.0.0.1:80s", "::1:0", "[::1]", "a,b:0"}) {
    ListenAddress parsed;
    std::string error;
    EXPECT_FALSE(ParseListenAddress(text, &parsed, &error)) << text;
    EXPECT_FALSE(error.empty()) << text;
  }
  // What only binding tells is the server's to say.
  HttpOptions options;
  options.listen_address = testing::Listening("192.0.2.1:0");
  try {
    HttpServer server(options, GatherFamilies(TestFamilies),
                      [] { return true; });
    ADD_FAILURE() << "192.0.2.1:0 was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()),
              "listen on 192.0.2.1:0: cannot assign requested address");
  }
}

TEST(HttpServerOptionsTest, Ipv6Loopback) {
  HttpOptions options;
  options.listen_address = testing::Listening("[::1]:0");
  HttpServer server(options, GatherFamilies(TestFamilies), [] { return true; });
  EXPECT_GT(server.ports().at(0), 0);
}

TEST(HttpServerOptionsTest, ServersOutliveEachOther) {
  // Nothing process-wide is torn down when one server stops.
  HttpOptions options;
  options.listen_address = testing::Listening("127.0.0.1:0");
  auto first = std::make_unique<HttpServer>(
      options, GatherFamilies(TestFamilies), [] { return true; });
  HttpServer second(options, GatherFamilies(TestFamilies), [] { return true; });
  first.reset();
  EXPECT_EQ(Fetch(second.ports().at(0), "GET", "/metrics").body, kTextBody);
}

}  // namespace
}  // namespace synwatch
