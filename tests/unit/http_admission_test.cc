// SPDX-License-Identifier: Apache-2.0
// Admission under floods: a well-behaved scraper at one address keeps
// getting its scrapes while other addresses flood the server with scrapes,
// wrong passwords, made-up passwords or no credentials at all. Every
// client is on loopback; a flood is bounded in time and stops by itself.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "http_response.h"
#include "test_bcrypt.h"
#include "web/http_server.h"

namespace synwatch {
namespace {

using Clock = std::chrono::steady_clock;

// The scraper's address and the flood's: two loopback addresses, so that
// the server can tell them apart as it would two hosts.
constexpr const char* kScraperAddress = "127.0.0.1";
constexpr const char* kFloodAddress = "127.0.0.2";

// One request on a new connection from `from`; the status, or 0 when no
// answer came within `timeout`.
int Status(const char* from, int port, std::string_view path,
           const std::string& authorization, std::chrono::milliseconds timeout,
           bool* complete = nullptr) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  // The port is picked at connect, for this server: thousands of short
  // connections from one address do not run out of ports.
  const int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &server.sin_addr);
  int status = 0;
  std::string request = "GET " + std::string(path) +
                        " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n";
  if (!authorization.empty()) {
    request += "Authorization: " + authorization + "\r\n";
  }
  request += "\r\n";
  const auto deadline = Clock::now() + timeout;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) == 0 &&
      connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof(server)) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    std::string data;
    char chunk[65536];
    for (;;) {
      const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0 || Clock::now() > deadline) break;
      data.append(chunk, static_cast<std::size_t>(n));
    }
    if (data.rfind("HTTP/1.", 0) == 0 && data.size() >= 12 &&
        Clock::now() <= deadline) {
      status = std::stoi(data.substr(9, 3));
      if (complete != nullptr) {
        *complete = data.find("flood_test_last 1\n") != std::string::npos;
      }
    }
  }
  close(fd);
  return status;
}

std::string Basic(const std::string& user, const std::string& password) {
  const std::string plain = user + ":" + password;
  std::string out((plain.size() + 2) / 3 * 4 + 1, '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(plain.data()),
                      static_cast<int>(plain.size()));
  out.resize(static_cast<std::size_t>(n));
  return "Basic " + out;
}

// Counts of statuses, from many threads.
class Tally {
 public:
  void Add(int status) {
    std::lock_guard lock(mutex_);
    ++counts_[status];
  }
  std::map<int, int> counts() const {
    std::lock_guard lock(mutex_);
    return counts_;
  }
  std::string ToString() const {
    std::string out;
    for (const auto& [status, count] : counts()) {
      out += std::to_string(status) + "=" + std::to_string(count) + " ";
    }
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<int, int> counts_;
};

// Threads that each send requests back to back for `seconds` (at most
// kMaxRequests each); make(thread, i) gives the Authorization header.
class Flood {
 public:
  static constexpr int kMaxRequests = 20000;
  template <typename Make>
  Flood(int port, int threads, std::string path, double seconds, Make make) {
    const auto until =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(seconds));
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, port, t, path, until, make] {
        for (int i = 0; i < kMaxRequests && Clock::now() < until; ++i) {
          tally_.Add(Status(kFloodAddress, port, path, make(t, i),
                            std::chrono::milliseconds(5000)));
        }
      });
    }
  }
  ~Flood() { Join(); }
  void Join() {
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  const Tally& tally() const { return tally_; }

 private:
  Tally tally_;
  std::vector<std::thread> threads_;
};

// The well-behaved scraper: `count` scrapes a tenth of a second apart,
// each must be a complete 200 within 2 s (Prometheus' timeout would be
// longer). Returns how many were.
int GoodScrapes(int port, int count, const std::string& authorization,
                Tally* tally) {
  int ok = 0;
  for (int i = 0; i < count; ++i) {
    bool complete = false;
    const int status = Status(kScraperAddress, port, "/metrics", authorization,
                              std::chrono::milliseconds(2000), &complete);
    tally->Add(status);
    if (status == 200 && complete) ++ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ok;
}

// A gather that takes a while and a body of some size, as a real peer
// table does: so that a flood keeps every scrape slot busy.
Gatherer SlowGatherer() {
  return [](ExpositionFormat, std::string& out) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    for (int i = 0; i < 4000; ++i) {
      out += "flood_test_series{n=\"" + std::to_string(i) + "\"} 1\n";
    }
    out += "flood_test_last 1\n";
  };
}

TEST(HttpAdmissionTest, ScrapeFloodFromOneAddressDoesNotStarveAnother) {
  HttpOptions options;
  options.listen_address = testing::Listening("127.0.0.1:0");
  HttpServer server(options, SlowGatherer(), [] { return true; });
  const int port = server.ports().at(0);
  ASSERT_EQ(Status(kFloodAddress, port, "/-/healthy", "",
                   std::chrono::milliseconds(2000)),
            200)
      << "cannot connect from " << kFloodAddress;
  // 32 at once, twice the scrape slots: ab -c 32 on the metrics path.
  Flood flood(port, 32, "/metrics", 6.0, [](int, int) { return ""; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Tally scraper;
  const int ok = GoodScrapes(port, 20, "", &scraper);
  flood.Join();
  EXPECT_EQ(ok, 20) << "scraper: " << scraper.ToString()
                    << "flood: " << flood.tally().ToString();
  // The flood itself was served too, not just turned away.
  EXPECT_GT(flood.tally().counts()[200], 20) << flood.tally().ToString();
}

class HttpAdmissionAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpOptions options;
    options.listen_address = testing::Listening("127.0.0.1:0");
    // Cost 10, as `htpasswd -nBC 10` writes: tens of milliseconds a check,
    // so a flood of made-up passwords keeps bcrypt busy throughout.
    options.web_config.basic_auth_users = {
        {"alice", testing::BcryptHash("wonderland", 10)}};
    server_ = std::make_unique<HttpServer>(options, SlowGatherer(),
                                           [] { return true; });
    port_ = server_->ports().at(0);
  }

  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  const std::string good_ = Basic("alice", "wonderland");
};

TEST_F(HttpAdmissionAuthTest, WrongPasswordFloodDoesNotStarveTheScraper) {
  // 16 clients, each making up a new password for every request, as a
  // password guesser does: every one of them costs a bcrypt.
  Flood flood(port_, 16, "/metrics", 6.0, [](int t, int i) {
    return Basic("alice",
                 "guess-" + std::to_string(t) + "-" + std::to_string(i));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Tally scraper;
  const int ok = GoodScrapes(port_, 20, good_, &scraper);
  flood.Join();
  EXPECT_EQ(ok, 20) << "scraper: " << scraper.ToString()
                    << "flood: " << flood.tally().ToString();
  EXPECT_EQ(flood.tally().counts()[200], 0);
  EXPECT_GT(flood.tally().counts()[401], 0) << flood.tally().ToString();
}

TEST_F(HttpAdmissionAuthTest, OneWrongPasswordAndNoPasswordFloods) {
  // ab -c 16 -A alice:wrong, and ab -c 32 without credentials, together.
  Flood wrong(port_, 16, "/metrics", 6.0,
              [](int, int) { return Basic("alice", "wrong"); });
  Flood none(port_, 32, "/metrics", 6.0, [](int, int) { return ""; });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  Tally scraper;
  const int ok = GoodScrapes(port_, 20, good_, &scraper);
  wrong.Join();
  none.Join();
  EXPECT_EQ(ok, 20) << "scraper: " << scraper.ToString()
                    << "wrong: " << wrong.tally().ToString()
                    << "none: " << none.tally().ToString();
  // Every one of them refused: 401, or 429 while the wrong password's
  // first check was under way.
  for (const Flood* flood : {&wrong, &none}) {
    const std::map<int, int> counts = flood->tally().counts();
    EXPECT_GT(counts.count(401), 0u) << flood->tally().ToString();
    for (const auto& [status, count] : counts) {
      EXPECT_TRUE(status == 401 || status == 429) << flood->tally().ToString();
    }
  }
  EXPECT_EQ(none.tally().counts().count(429), 0u) << none.tally().ToString();
}

}  // namespace
}  // namespace synwatch
