// SPDX-License-Identifier: Apache-2.0
// The HTTP endpoint (civetweb): "/" landing page, the metrics path,
// "/-/healthy", "/-/ready". Metrics are gathered on each request through an
// injected function; there is no cache and no timer. The web config adds
// TLS, client certificates, basic auth and extra headers (web_config.h).
#pragma once

#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "web_config.h"

namespace synwatch {

// What the server counts about its own requests (synwatch_http_* metrics),
// so that a stuck or slow scraper and a crowd of concurrent scrapes show up
// while the exporter keeps answering. Owned by the caller; outlives the
// server.
struct HttpStats {
  std::atomic<int64_t> requests_in_flight{0};  // being handled or written
  std::atomic<int64_t> scrapes_waiting{0};     // for the scrape in progress
  std::atomic<uint64_t> responses[6] = {};     // by status class, [2] = 2xx
  // Responses a client did not take: it stopped reading until the request
  // timeout (10 s) ran out, or closed the connection early.
  std::atomic<uint64_t> write_failures{0};
};

// The synwatch_http_* families of stats.
std::vector<prometheus::MetricFamily> CollectHttpStats(const HttpStats& stats);

struct HttpOptions {
  // ":9632" (all addresses, IPv4 and IPv6), "127.0.0.1:9632", "[::]:9632",
  // "[::1]:0"; port 0 picks a free port (tests). IPv6 needs a civetweb
  // built with USE_IPV6, and Debian 12's is not; there ":9632" means
  // every IPv4 address and a bracketed address fails with a clear error.
  std::string listen_address = ":9632";
  std::string metrics_path = "/metrics";
  std::string version;           // shown on the landing page
  WebSecurityConfig web_config;  // default: plain HTTP, no auth
  HttpStats* stats = nullptr;    // counted when set
};

// Both run on the server's worker threads. Scrapes are serialized, so a
// Gatherer is never called concurrently with itself; a ReadyCheck may run
// at any time. A Gatherer that throws gets a 500 with e.what() in the body
// and nothing logged here: it should log its own failure.
using Gatherer = std::function<std::vector<prometheus::MetricFamily>()>;
using ReadyCheck = std::function<bool()>;

class HttpServer {
 public:
  // Starts listening; throws std::runtime_error with the address and the
  // reason ("listen on :9632: address already in use") when it cannot.
  HttpServer(const HttpOptions& options, Gatherer gather, ReadyCheck ready);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The ports actually bound (useful with port 0).
  std::vector<int> ports() const;

  // Applies a reloaded web config to connections made from now on: TLS
  // certificate, key and client policy are swapped in place; users and
  // headers to the next request. Turning TLS on or off restarts civetweb
  // (its listening sockets are plain or TLS from the start): the port is
  // closed for a few milliseconds. Throws std::runtime_error and keeps the
  // running web config when the new one cannot be applied; if even that
  // cannot be restored, running() turns false.
  void UpdateWebConfig(const WebSecurityConfig& config);

  // False only after a failed UpdateWebConfig left no server listening.
  bool running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synwatch
