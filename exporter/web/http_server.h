// SPDX-License-Identifier: Apache-2.0
// The HTTP endpoint: "/" landing page, the metrics path, "/-/healthy",
// "/-/ready". Metrics are gathered on each request through an injected
// function; there is no cache and no timer. The web config adds TLS, client
// certificates, basic auth and extra headers (web_config.h).
//
// One event-loop thread owns every socket (accept, TLS handshakes, reading
// request heads, writing responses, timeouts); a few worker threads turn
// complete requests into responses. A connection costs a few KiB until its
// request is complete, so slow or idle clients cannot hold a thread, and
// the limits below bound what any client can make the server keep.
#pragma once

#include <prometheus/metric_family.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/net.h"
#include "metrics/exposition.h"
#include "web/web_config.h"

namespace synwatch {

// What the server counts about its own requests (synwatch_http_* metrics),
// so that a stuck or slow scraper and a crowd of concurrent scrapes show up
// while the exporter keeps answering. Owned by the caller; outlives the
// server.
struct HttpStats {
  std::atomic<int64_t> requests_in_flight{0};  // being handled or written
  std::atomic<int64_t> scrapes_waiting{0};     // for the gather they share
  std::atomic<uint64_t> responses[6] = {};     // by status class, [2] = 2xx
  // Responses a client did not take: it stopped reading for the write
  // timeout (10 s), or closed the connection early, or its stalled
  // response gave way to a new scrape (kMaxScrapeResponses).
  std::atomic<uint64_t> write_failures{0};
  std::atomic<int64_t> connections_open{0};
  // Connections ended by the server before a request was answered
  // (synwatch_http_connections_dropped_total, by reason).
  std::atomic<uint64_t> connections_dropped_limit{0};  // kMaxConnections
  std::atomic<uint64_t> request_timeouts{0};  // no complete request in time
  std::atomic<uint64_t> tls_handshake_failures{0};
  // Admission (kMaxScrapeResponses, kMaxUnverified): scrapes waiting for a
  // slot, and requests whose password waits for (or is in) its bcrypt.
  std::atomic<int64_t> scrapes_queued{0};
  std::atomic<int64_t> password_checks_waiting{0};
};

// The synwatch_http_* families of stats.
std::vector<prometheus::MetricFamily> CollectHttpStats(const HttpStats& stats);

struct HttpOptions {
  // Parsed once, by config (ParseListenAddress, base/net.h): ":9632" (all
  // addresses, IPv4 and IPv6), "127.0.0.1:9632", "[::]:9632", "[::1]:0";
  // port 0 picks a free port (tests). ":9632" is one dual-stack socket, or
  // IPv4 only where the kernel has no IPv6.
  ListenAddress listen_address{"", 9632, ":9632"};
  // Checked by config (a path that starts with '/', not "/").
  std::string metrics_path = "/metrics";
  std::string version;           // shown on the landing page
  WebSecurityConfig web_config;  // default: plain HTTP, no auth
  HttpStats* stats = nullptr;    // counted when set
  // Renders "/" on a worker thread (the status page, metrics/status_page.h);
  // unset: a static landing page with links and the version.
  std::function<std::string()> status_page;
};

// Limits on what clients can make the server hold (README, "HTTP under
// load"). Past kMaxConnections, a new connection replaces the one that has
// waited longest for its request head. Past kMaxScrapeResponses metrics
// responses being built or written, a scrape waits for a slot, the turns
// going round the client addresses (fair_queue.h): at most
// kMaxQueuedScrapesPerSource per address and kMaxQueuedScrapes in all, each
// for kRequestTimeoutMs, else 503; a held response that has made no
// progress for 1 s gives its slot up to a waiting scrape.
inline constexpr std::size_t kMaxConnections = 1024;
inline constexpr std::size_t kMaxScrapeResponses = 16;
inline constexpr std::size_t kMaxQueuedScrapesPerSource = 16;
inline constexpr std::size_t kMaxQueuedScrapes = 256;
// With basic auth, credentials that were never checked wait for a bcrypt
// (one runs at a time), in turns by address as well: at most
// kMaxUnverifiedPerSource per address and kMaxUnverified in all, else 429.
// Credentials checked before (good or bad) are answered from memory
// (basic_auth.h) and wait for nothing.
inline constexpr std::size_t kMaxUnverifiedPerSource = 4;
inline constexpr std::size_t kMaxUnverified = 64;
// A request head must be complete this long after the connection is ready
// for it (accepted, TLS handshake included, or the previous response
// written): slow headers and idle keep-alive connections end here. A
// response that makes no progress for this long is given up.
inline constexpr int kRequestTimeoutMs = 10000;

// Both run on the server's worker threads. Scrapes are serialized, so a
// Gatherer is never called concurrently with itself; a ReadyCheck may run
// at any time. A Gatherer appends a whole exposition in the given format to
// out (exposition.h: AppendFamilies ... AppendEnd). One that throws gets a
// 500 with e.what() in the body and nothing logged here: it should log its
// own failure.
using Gatherer = std::function<void(ExpositionFormat format, std::string& out)>;
using ReadyCheck = std::function<bool()>;

// A Gatherer that serializes what collect returns.
Gatherer GatherFamilies(
    std::function<std::vector<prometheus::MetricFamily>()> collect);

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

  // Applies a reloaded web config: TLS (turned on or off, certificate, key,
  // client policy) to connections accepted from now on, users and headers
  // to the next request. The listening socket stays open throughout.
  // Throws (std::runtime_error, std::invalid_argument) and keeps the
  // running web config when the new one cannot be applied.
  void UpdateWebConfig(const WebSecurityConfig& config);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synwatch
