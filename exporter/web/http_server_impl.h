// SPDX-License-Identifier: Apache-2.0
// The inside of HttpServer, shared by its parts (web/ only; see
// docs/architecture.md, "The rooms"):
//   http_server.cc     lifecycle, the event loop, accepting, timeouts
//   http_io.cc         TLS handshakes, reading request heads, writing
//   http_admission.cc  basic auth, scrape slots and the refusals
//   http_routes.cc     the workers: routing and scrape batching
//   http_metrics.cc    the synwatch_http_* families
#pragma once

#include <openssl/ssl.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/unique_fd.h"
#include "metrics/exposition.h"
#include "web/basic_auth.h"
#include "web/buffer_pool.h"
#include "web/fair_queue.h"
#include "web/http_request.h"
#include "web/http_server.h"
#include "web/response.h"
#include "web/tls.h"

namespace synwatch {

using Clock = std::chrono::steady_clock;

constexpr auto kRequestTimeout = std::chrono::milliseconds(kRequestTimeoutMs);
// After a response that ends the connection, what the client still sends
// is read and dropped for this long, so that closing with unread bytes
// does not reset the connection before the client has read the response.
constexpr auto kLingerTimeout = std::chrono::seconds(2);
// A scrape response this long without progress gives way to a new scrape
// when kMaxScrapeResponses are held.
constexpr auto kStalledAfter = std::chrono::seconds(1);
// Timeouts are checked this often while connections are open; with none
// open the event loop sleeps until something arrives.
constexpr auto kSweepInterval = std::chrono::milliseconds(250);
constexpr int kWorkers = 4;

// What a request is checked against and decorated with; replaced whole on
// reload, while requests in flight keep the one they started with.
struct Security {
  std::shared_ptr<BasicAuth> auth;
  HeaderList headers;
};

std::shared_ptr<const Security> MakeSecurity(const WebSecurityConfig& config);

// A request to answer, or (verify) credentials to check with bcrypt.
struct Job {
  uint64_t connection = 0;
  HttpRequest request;
  std::shared_ptr<const Security> security;
  bool verify = false;
  std::string user;
  std::string password;
};

struct Done {
  uint64_t connection = 0;
  Response response;
  enum class Verdict { kNone, kGood, kBad } verdict = Verdict::kNone;
};

// One client connection, owned by the event loop thread.
struct Connection {
  enum class State {
    kHandshake,       // TLS handshake
    kReading,         // waiting for a complete request head
    kAuthenticating,  // its password waits for a bcrypt (verify_queue)
    kVerifying,       // a worker runs that bcrypt
    kQueued,          // a scrape waiting for a slot (scrape_queue)
    kProcessing,      // a worker builds the response
    kWriting,         // the response is being sent
    kLingering,       // response sent, reading what is left before closing
  };

  uint64_t id = 0;
  UniqueFd fd;
  std::string source;  // SourceOf(peer address): whose turn it takes
  std::shared_ptr<TlsServerContext> tls;  // keeps the SSL_CTX's settings
  SSL* ssl = nullptr;
  bool tls_sniffed = false;  // the first bytes were looked at
  State state = State::kReading;
  uint32_t events = 0;  // epoll interest now
  std::string in;       // request bytes not yet parsed (at most 8 KiB)
  Response out;
  std::size_t written = 0;  // of out.head + out.body
  bool scrape = false;      // holds or will hold a metrics response
  bool in_flight = false;   // counted in requests_in_flight
  unsigned served = 0;      // responses written in full
  Clock::time_point since;  // entered the current state / last progress
  Clock::time_point deadline;
  // While authenticating or queued: the request, the web config it is
  // judged by, and the credentials that wait for their bcrypt.
  HttpRequest pending;
  std::shared_ptr<const Security> security;
  std::string user;
  std::string password;

  ~Connection() {
    if (ssl != nullptr) SSL_free(ssl);
    // Only when there is one: without TLS or basic auth OpenSSL is never
    // loaded (openssl_lazy.cc), and a call would load it.
    if (!password.empty()) OPENSSL_cleanse(password.data(), password.size());
  }
};

// Text of the last OpenSSL error, else of errno.
std::string SslErrorText();
void NameThread(std::thread& thread, const char* name);

struct HttpServer::Impl {
  HttpOptions options;
  Gatherer gather;
  ReadyCheck ready;
  std::string landing_page;
  UniqueFd listener;
  UniqueFd epoll;
  UniqueFd wake;  // eventfd: a worker finished a response, or Stop()

  std::mutex config_mutex;
  std::shared_ptr<const Security> web_security;  // guarded by config_mutex
  std::shared_ptr<TlsServerContext> tls;         // null: plain HTTP; same guard

  // One gather at a time: peak memory stays at one scrape's worth (a full
  // peer table is tens of MB of text), and gatherers need not be reentrant.
  std::mutex scrape_mutex;
  BufferPool buffers;

  // Scrapes that want the same body share one gather. A request joins the
  // batch that has not started gathering yet, or starts one: so every
  // answer was gathered after its request arrived, and any number of
  // concurrent scrapes cost at most two gathers each, not one each behind
  // a single lock (eight of them took 5 s under ASan that way).
  struct Batch {
    std::size_t followers = 0;        // answered from the leader's gather
    bool done = false;                // bodies or error are set
    std::vector<std::string> bodies;  // one per follower
    std::string error;                // the gather failed: the 500 body
  };
  std::mutex batch_mutex;
  std::condition_variable batch_done;
  // By format and gzip (the key in HandleMetrics); guarded by batch_mutex.
  std::shared_ptr<Batch> pending_batches[4];

  std::mutex queue_mutex;
  std::condition_variable queue_ready;
  std::deque<Job> jobs;    // guarded by queue_mutex
  std::vector<Done> done;  // guarded by queue_mutex
  bool stopping = false;   // guarded by queue_mutex

  std::thread loop;
  std::vector<std::thread> workers;

  // The event loop thread's own.
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections;
  uint64_t next_id = kFirstConnectionId;
  std::size_t scrapes = 0;  // connections with scrape set
  bool listener_paused = false;
  // Scrapes waiting for one of the kMaxScrapeResponses slots, and
  // requests whose password waits for a bcrypt; each served round-robin
  // by client address. One bcrypt runs at a time (verifying), so failed
  // passwords cost at most one worker and never a scrape slot.
  FairQueue scrape_queue{kMaxQueuedScrapesPerSource, kMaxQueuedScrapes};
  FairQueue verify_queue{kMaxUnverifiedPerSource, kMaxUnverified};
  bool verifying = false;

  static constexpr uint64_t kListenerId = 0;
  static constexpr uint64_t kWakeId = 1;
  static constexpr uint64_t kFirstConnectionId = 2;

  std::shared_ptr<const Security> CurrentSecurity() {
    std::lock_guard lock(config_mutex);
    return web_security;
  }

  void Start();
  void Stop();

  // Event loop.
  void Loop();
  void Accept();
  bool EvictOldestWaiting();
  bool EvictStalledScrape();
  void SetInterest(Connection& conn, uint32_t events);
  void OnEvent(Connection& conn);
  void Handshake(Connection& conn);
  void Read(Connection& conn);
  void Parse(Connection& conn, bool peer_closed, uint32_t wait_for);
  bool SniffPlainHttp(Connection& conn);
  void Dispatch(Connection& conn, HttpRequest request);
  void Admit(Connection& conn, HttpRequest request,
             std::shared_ptr<const Security> security);
  void AdmitWaiting();
  void Park(Connection& conn, Connection::State state, HttpRequest request,
            std::shared_ptr<const Security> security);
  void Submit(Connection& conn, HttpRequest request,
              std::shared_ptr<const Security> security);
  void StartNextVerify();
  void OnVerified(Connection& conn, bool good);
  void Answer(Connection& conn, const HttpRequest& request, int status,
              std::string_view body, std::initializer_list<Header> extra,
              const Security& security);
  void SendError(Connection& conn, int status, std::string_view reason);
  void StartWrite(Connection& conn, Response response);
  void Write(Connection& conn);
  void FinishResponse(Connection& conn, bool failed);
  void Linger(Connection& conn);
  void Close(Connection& conn);
  void Sweep(Clock::time_point now);
  void CollectDone();
  void Count(std::atomic<uint64_t> HttpStats::*counter) const {
    if (options.stats != nullptr) ++(options.stats->*counter);
  }

  // Workers.
  void Work();
  Response Handle(const HttpRequest& request, const Security& security);
  Response HandleMetrics(const HttpRequest& request, const HeaderList& headers);
  void GatherBatch(ExpositionFormat format, bool gzip, Batch& batch,
                   std::shared_ptr<Batch>& slot, std::string& body);
};

}  // namespace synwatch
