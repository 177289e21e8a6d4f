// SPDX-License-Identifier: Apache-2.0
#include "http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "basic_auth.h"
#include "exposition.h"
#include "fair_queue.h"
#include "http_request.h"
#include "pinning.h"
#include "tls.h"

namespace synwatch {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr std::string_view kPlain = "text/plain; charset=utf-8";

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

std::string ErrnoMessage(int error) {
  std::string text = std::strerror(error);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z') {
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  }
  return text;
}

[[noreturn]] void ListenError(std::string_view address,
                              std::string_view reason) {
  throw std::runtime_error("listen on " + std::string(address) + ": " +
                           std::string(reason));
}

// Binds and listens on ":9632", "host:9632" or "[v6]:9632".
UniqueFd Listen(const std::string& address) {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
  const std::string_view text = address;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      ListenError(address, "expected [address]:port");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    bracketed = true;
    if (host.empty()) ListenError(address, "empty IPv6 address");
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      ListenError(address, "expected [host]:port, e.g. :9632");
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      ListenError(address, "IPv6 addresses need brackets, e.g. [::1]:9632");
    }
  }
  unsigned port_number = 0;
  const auto [ptr, ec] =
      std::from_chars(port.data(), port.data() + port.size(), port_number);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() ||
      port_number > 65535) {
    ListenError(address, "invalid port");
  }
  for (const char c : host) {
    if (c == ',' || c == ' ' || c == '\t' || c == '[' || c == ']') {
      ListenError(address, "invalid host");
    }
  }

  sockaddr_storage storage{};
  socklen_t length = 0;
  if (host.empty()) {
    // One dual-stack socket for every address; IPv4 only where the
    // kernel has no IPv6 (ipv6.disable=1).
    UniqueFd probe(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.get() >= 0) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_any;
      in6->sin6_port = htons(static_cast<uint16_t>(port_number));
      length = sizeof(sockaddr_in6);
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
      in4->sin_family = AF_INET;
      in4->sin_addr.s_addr = htonl(INADDR_ANY);
      in4->sin_port = htons(static_cast<uint16_t>(port_number));
      length = sizeof(sockaddr_in);
    }
  } else {
    addrinfo hints{};
    hints.ai_family = bracketed ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // No AI_ADDRCONFIG: it refuses 127.0.0.1 where loopback is the only
    // IPv4 address (early boot, a namespace), which is just when a
    // loopback listener is wanted.
    hints.ai_flags =
        AI_PASSIVE | AI_NUMERICSERV | (bracketed ? AI_NUMERICHOST : 0);
    addrinfo* found = nullptr;
    const std::string host_text(host);
    const std::string port_text(port);
    const int rc =
        getaddrinfo(host_text.c_str(), port_text.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      ListenError(address, std::string("invalid or unresolvable address (") +
                               gai_strerror(rc) + ")");
    }
    std::memcpy(&storage, found->ai_addr, found->ai_addrlen);
    length = found->ai_addrlen;
    freeaddrinfo(found);
  }

  UniqueFd fd(
      socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) ListenError(address, ErrnoMessage(errno));
  const int on = 1;
  const int off = 0;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (storage.ss_family == AF_INET6 && host.empty()) {
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) !=
          0 ||
      listen(fd.get(), SOMAXCONN) != 0) {
    ListenError(address, ErrnoMessage(errno));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return -1;
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

// Every connection may need a descriptor: a soft limit of 1024 (systemd's
// and most shells' default) would run out before kMaxConnections do.
void RaiseDescriptorLimit() {
  constexpr rlim_t kWanted = kMaxConnections * 2 + 256;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= kWanted) {
    return;
  }
  limit.rlim_cur = std::min<rlim_t>(kWanted, limit.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("Could not raise the open file limit to {}: {}",
                 limit.rlim_cur, ErrnoMessage(errno));
  }
}

void AppendHtmlEscaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
}

// Links are relative ("./metrics") so the page still works behind a
// reverse proxy that mounts the exporter under a path prefix.
void AppendLink(std::string& out, std::string_view path,
                std::string_view text) {
  out += "<li><a href=\".";
  AppendHtmlEscaped(out, path);
  out += "\">";
  AppendHtmlEscaped(out, text);
  out += "</a></li>\n";
}

std::string LandingPage(const HttpOptions& options) {
  std::string page =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>synwatch</title>\n</head>\n<body>\n<h1>synwatch</h1>\n"
      "<p>Counts TCP connection attempts (SYNs) at XDP, per peer and rule "
      "outcome.</p>\n<ul>\n";
  AppendLink(page, options.metrics_path, "Metrics");
  AppendLink(page, "/-/healthy", "Health");
  AppendLink(page, "/-/ready", "Readiness");
  page += "</ul>\n<p>Version: ";
  AppendHtmlEscaped(page,
                    options.version.empty() ? "unknown" : options.version);
  page += "</p>\n</body>\n</html>\n";
  return page;
}

// Response buffers kept from one scrape to the next. Writing tens of MB
// into fresh pages costs a page fault per 4 KiB on every scrape (6 us each
// on the benchmark VM: more than serializing); a kept buffer's pages stay
// mapped. Two buffers cover a gzip scrape (text plus compressed); anything
// larger than kMaxKeptBytes is a one-off and goes back to the system.
class BufferPool {
 public:
  // The largest buffer kept: the text of a scrape takes the one the last
  // text was written to, and its gzip the smaller one, whatever order they
  // came back in (else they trade places and both grow again each time).
  std::string Take() {
    std::lock_guard lock(mutex_);
    if (buffers_.empty()) return {};
    const auto largest = std::max_element(buffers_.begin(), buffers_.end(),
                                          [](const auto& a, const auto& b) {
                                            return a.capacity() < b.capacity();
                                          });
    std::string buffer = std::move(*largest);
    buffers_.erase(largest);
    return buffer;
  }

  void Give(std::string buffer) {
    // Small bodies (every other response goes through here too) are not
    // worth a slot: they would push out the scrape buffers.
    if (buffer.capacity() < kMinKeptBytes ||
        buffer.capacity() > kMaxKeptBytes) {
      return;
    }
    buffer.clear();
    std::lock_guard lock(mutex_);
    if (buffers_.size() < kMaxBuffers) buffers_.push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t kMaxBuffers = 2;
  static constexpr std::size_t kMinKeptBytes = std::size_t{64} << 10;
  static constexpr std::size_t kMaxKeptBytes = std::size_t{64} << 20;
  std::mutex mutex_;
  std::vector<std::string> buffers_;
};

// A buffer from the pool, returned to it on every path out of a request.
class PooledBuffer {
 public:
  explicit PooledBuffer(BufferPool& pool) : pool_(pool), buffer_(pool.Take()) {}
  ~PooledBuffer() { pool_.Give(std::move(buffer_)); }
  PooledBuffer(const PooledBuffer&) = delete;
  PooledBuffer& operator=(const PooledBuffer&) = delete;
  std::string& get() { return buffer_; }
  // Takes the buffer out; whoever holds it then gives it back.
  std::string Release() { return std::exchange(buffer_, {}); }

 private:
  BufferPool& pool_;
  std::string buffer_;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What a request is checked against and decorated with; replaced whole on
// reload, while requests in flight keep the one they started with.
struct Security {
  std::shared_ptr<BasicAuth> auth;
  HeaderList headers;
};

std::shared_ptr<const Security> MakeSecurity(const WebSecurityConfig& config) {
  auto security = std::make_shared<Security>();
  security->auth = std::make_shared<BasicAuth>(config.basic_auth_users);
  security->headers = config.headers;
  return security;
}

struct Header {
  const char* name;
  std::string_view value;
};

// The Date header's value (RFC 9110's IMF-fixdate, "Sun, 06 Nov 1994
// 08:49:37 GMT"), formatted once a second per thread.
std::string_view HttpDate() {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                          "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};
  thread_local time_t formatted = -1;
  thread_local char text[64] = {};
  const time_t now = std::time(nullptr);
  if (now != formatted) {
    tm t{};
    gmtime_r(&now, &t);
    std::snprintf(text, sizeof(text), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                  kDays[t.tm_wday % 7], t.tm_mday, kMonths[t.tm_mon % 12],
                  t.tm_year + 1900, t.tm_hour, t.tm_min, t.tm_sec);
    formatted = now;
  }
  return text;
}

// A complete response: the head, and the body unless the request was HEAD.
struct Response {
  int status = 500;
  std::string head;
  std::string body;
  bool close = false;  // the connection ends after it
};

// Every response has a Content-Length, so the connection can stay open;
// a HEAD request gets the same head and no body. configured: the web
// config's headers, on every response.
Response MakeResponse(const HttpRequest& request, int status,
                      std::string_view content_type, std::string body,
                      std::initializer_list<Header> extra,
                      const HeaderList& configured) {
  Response response;
  response.status = status;
  response.close = !request.keep_alive;
  std::string& head = response.head;
  head.reserve(256);
  head += "HTTP/1.1 ";
  head += std::to_string(status);
  head += ' ';
  head += ReasonPhrase(status);
  head += "\r\nDate: ";
  head += HttpDate();
  head += "\r\n";
  for (const auto& [name, value] : configured) {
    head.append(name).append(": ").append(value).append("\r\n");
  }
  head.append("Content-Type: ").append(content_type).append("\r\n");
  head.append("Content-Length: ")
      .append(std::to_string(body.size()))
      .append("\r\n");
  for (const Header& header : extra) {
    head.append(header.name).append(": ").append(header.value).append("\r\n");
  }
  if (response.close) {
    head += "Connection: close\r\n";
  } else if (request.minor_version == 0) {
    head += "Connection: keep-alive\r\n";
  }
  head += "\r\n";
  if (request.method != "HEAD") response.body = std::move(body);
  return response;
}

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

}  // namespace

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

namespace {

std::string SslErrorText() {
  const unsigned long code = ERR_get_error();
  if (code == 0) return ErrnoMessage(errno);
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  ERR_clear_error();
  return text;
}

void NameThread(std::thread& thread, const char* name) {
  pthread_setname_np(thread.native_handle(), name);
}

}  // namespace

void HttpServer::Impl::Start() {
  RaiseDescriptorLimit();
  // A client that goes away mid-response must cost an EPIPE, not the
  // process: OpenSSL writes with write(2), which cannot pass MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  listener = Listen(options.listen_address);
  epoll = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  wake = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (epoll.get() < 0 || wake.get() < 0) {
    ListenError(options.listen_address, ErrnoMessage(errno));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.u64 = kListenerId;
  epoll_ctl(epoll.get(), EPOLL_CTL_ADD, listener.get(), &event);
  event.data.u64 = kWakeId;
  epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event);

  loop = std::thread([this] { Loop(); });
  NameThread(loop, "synwatch-http");
  for (int i = 0; i < kWorkers; ++i) {
    workers.emplace_back([this] { Work(); });
    NameThread(workers.back(), "synwatch-worker");
  }
}

void HttpServer::Impl::Stop() {
  {
    std::lock_guard lock(queue_mutex);
    stopping = true;
  }
  queue_ready.notify_all();
  const uint64_t one = 1;
  if (wake.get() >= 0 && write(wake.get(), &one, sizeof(one)) < 0) {
    spdlog::debug("http: waking the event loop: {}", ErrnoMessage(errno));
  }
  if (loop.joinable()) loop.join();
  for (std::thread& worker : workers) worker.join();
  workers.clear();
  while (!connections.empty()) Close(*connections.begin()->second);
}

void HttpServer::Impl::Loop() {
  std::array<epoll_event, 64> events{};
  Clock::time_point next_sweep = Clock::now() + kSweepInterval;
  for (;;) {
    int timeout = -1;  // nothing open: sleep until something arrives
    if (!connections.empty()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(
          next_sweep - Clock::now());
      timeout = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    const int n =
        epoll_wait(epoll.get(), events.data(), events.size(), timeout);
    if (n < 0 && errno != EINTR) {
      spdlog::error("http: epoll_wait: {}", ErrnoMessage(errno));
      return;
    }
    for (int i = 0; i < n; ++i) {
      const uint64_t id = events[i].data.u64;
      if (id == kListenerId) {
        Accept();
      } else if (id == kWakeId) {
        uint64_t count = 0;
        if (read(wake.get(), &count, sizeof(count)) < 0 && errno != EAGAIN) {
          spdlog::debug("http: eventfd: {}", ErrnoMessage(errno));
        }
        {
          std::lock_guard lock(queue_mutex);
          if (stopping) return;
        }
        CollectDone();
      } else if (const auto it = connections.find(id);
                 it != connections.end()) {
        OnEvent(*it->second);
      }
    }
    if (options.stats != nullptr) {
      options.stats->scrapes_queued = static_cast<int64_t>(scrape_queue.size());
      options.stats->password_checks_waiting =
          static_cast<int64_t>(verify_queue.size() + (verifying ? 1 : 0));
    }
    const Clock::time_point now = Clock::now();
    if (connections.empty()) {
      next_sweep = now + kSweepInterval;
    } else if (now >= next_sweep) {
      Sweep(now);
      next_sweep = now + kSweepInterval;
    }
  }
}

void HttpServer::Impl::Accept() {
  for (;;) {
    sockaddr_storage peer{};
    socklen_t peer_length = sizeof(peer);
    UniqueFd fd(accept4(listener.get(), reinterpret_cast<sockaddr*>(&peer),
                        &peer_length, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.get() < 0) {
      const int error = errno;
      if (error == EINTR || error == ECONNABORTED) continue;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS ||
          error == ENOMEM) {
        // Out of descriptors or memory: make room, or stop accepting until
        // a connection ends (the kernel's backlog holds the rest).
        if (!EvictOldestWaiting()) {
          epoll_event event{};
          event.data.u64 = kListenerId;
          epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listener.get(), &event);
          listener_paused = true;
          spdlog::warn("http: accept: {}; waiting for a connection to end",
                       ErrnoMessage(error));
        }
      } else if (error != EAGAIN) {
        spdlog::debug("http: accept: {}", ErrnoMessage(error));
      }
      return;
    }
    if (connections.size() >= kMaxConnections && !EvictOldestWaiting()) {
      Count(&HttpStats::connections_dropped_limit);
      continue;  // every slot holds a request being answered
    }
    const int on = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    auto conn = std::make_unique<Connection>();
    conn->id = next_id++;
    conn->fd = std::move(fd);
    conn->source = SourceOf(peer);
    {
      std::lock_guard lock(config_mutex);
      conn->tls = tls;
    }
    conn->state = Connection::State::kReading;
    if (conn->tls) {
      conn->ssl = SSL_new(static_cast<SSL_CTX*>(conn->tls->ssl_ctx()));
      if (conn->ssl == nullptr || SSL_set_fd(conn->ssl, conn->fd.get()) != 1) {
        spdlog::warn("http: TLS: {}", SslErrorText());
        continue;
      }
      SSL_set_accept_state(conn->ssl);
      SSL_set_mode(conn->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
                                  SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                  SSL_MODE_RELEASE_BUFFERS);
      conn->state = Connection::State::kHandshake;
    }
    conn->since = Clock::now();
    conn->deadline = conn->since + kRequestTimeout;
    Connection& ref = *conn;
    connections.emplace(conn->id, std::move(conn));
    if (options.stats != nullptr) ++options.stats->connections_open;
    SetInterest(ref, EPOLLIN);
  }
}

// The connection that has waited longest for its request (idle, slow, or
// still in its TLS handshake) makes room for a new one.
bool HttpServer::Impl::EvictOldestWaiting() {
  Connection* oldest = nullptr;
  for (const auto& [id, conn] : connections) {
    const bool waiting = conn->state == Connection::State::kHandshake ||
                         conn->state == Connection::State::kReading ||
                         conn->state == Connection::State::kLingering;
    if (waiting && (oldest == nullptr || conn->since < oldest->since)) {
      oldest = conn.get();
    }
  }
  if (oldest == nullptr) return false;
  Count(&HttpStats::connections_dropped_limit);
  Close(*oldest);
  return true;
}

// The scrape response that has made no progress for longest, if that is at
// least kStalledAfter, gives way to a new scrape.
bool HttpServer::Impl::EvictStalledScrape() {
  Connection* stalled = nullptr;
  const Clock::time_point cutoff = Clock::now() - kStalledAfter;
  for (const auto& [id, conn] : connections) {
    if (conn->scrape && conn->state == Connection::State::kWriting &&
        conn->since <= cutoff &&
        (stalled == nullptr || conn->since < stalled->since)) {
      stalled = conn.get();
    }
  }
  if (stalled == nullptr) return false;
  FinishResponse(*stalled, true);
  return true;
}

void HttpServer::Impl::SetInterest(Connection& conn, uint32_t events) {
  if (events == conn.events) return;
  // While a worker builds the response the socket is out of the epoll set:
  // a hang-up is reported whatever is asked for, and would spin the loop.
  epoll_event event{};
  event.events = events;
  event.data.u64 = conn.id;
  const int op = conn.events == 0 ? EPOLL_CTL_ADD
                 : events == 0    ? EPOLL_CTL_DEL
                                  : EPOLL_CTL_MOD;
  if (epoll_ctl(epoll.get(), op, conn.fd.get(), &event) != 0) {
    spdlog::debug("http: epoll_ctl: {}", ErrnoMessage(errno));
  }
  conn.events = events;
}

void HttpServer::Impl::OnEvent(Connection& conn) {
  switch (conn.state) {
    case Connection::State::kHandshake:
      Handshake(conn);
      break;
    case Connection::State::kReading:
      Read(conn);
      break;
    case Connection::State::kWriting:
      Write(conn);
      break;
    case Connection::State::kLingering:
      Linger(conn);
      break;
    case Connection::State::kAuthenticating:
    case Connection::State::kVerifying:
    case Connection::State::kQueued:
    case Connection::State::kProcessing:
      break;
  }
}

// What Go's net/http answers a plain HTTP request on its TLS port with,
// byte for byte, before it closes the connection.
constexpr std::string_view kPlainHttpOnTlsPort =
    "HTTP/1.0 400 Bad Request\r\n\r\n"
    "Client sent an HTTP request to an HTTPS server.\n";

// Looks at the first bytes on a TLS connection: a plain HTTP request (its
// first five bytes are one of those Go's tlsRecordHeaderLooksLikeHTTP
// knows) gets Go's 400 and the connection ends. True when the handshake
// may go on.
bool HttpServer::Impl::SniffPlainHttp(Connection& conn) {
  std::array<char, 5> first{};
  ssize_t n = 0;
  do {
    n = recv(conn.fd.get(), first.data(), first.size(), MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    SetInterest(conn, EPOLLIN);
    return false;
  }
  conn.tls_sniffed = true;
  if (n <= 0) return true;  // OpenSSL sees the end or the error too
  const std::string_view seen(first.data(), static_cast<std::size_t>(n));
  if (seen != "GET /" && seen != "HEAD " && seen != "POST " &&
      seen != "PUT /" && seen != "OPTIO") {
    return true;
  }
  if (send(conn.fd.get(), kPlainHttpOnTlsPort.data(),
           kPlainHttpOnTlsPort.size(), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
    spdlog::debug("http: write: {}", ErrnoMessage(errno));
  }
  Count(&HttpStats::tls_handshake_failures);
  if (options.stats != nullptr) ++options.stats->responses[4];
  // The request is read and dropped while the answer goes out, so that
  // closing does not reset the connection before the client has it.
  shutdown(conn.fd.get(), SHUT_WR);
  conn.state = Connection::State::kLingering;
  conn.since = Clock::now();
  conn.deadline = conn.since + kLingerTimeout;
  SetInterest(conn, EPOLLIN);
  Linger(conn);
  return false;
}

void HttpServer::Impl::Handshake(Connection& conn) {
  if (!conn.tls_sniffed && !SniffPlainHttp(conn)) return;
  ERR_clear_error();
  const int result = SSL_do_handshake(conn.ssl);
  if (result == 1) {
    conn.state = Connection::State::kReading;
    Read(conn);
    return;
  }
  switch (SSL_get_error(conn.ssl, result)) {
    case SSL_ERROR_WANT_READ:
      SetInterest(conn, EPOLLIN);
      return;
    case SSL_ERROR_WANT_WRITE:
      SetInterest(conn, EPOLLOUT);
      return;
    default:
      spdlog::debug("http: TLS handshake: {}", SslErrorText());
      Count(&HttpStats::tls_handshake_failures);
      Close(conn);
  }
}

void HttpServer::Impl::Read(Connection& conn) {
  bool peer_closed = false;
  uint32_t wait_for = EPOLLIN;
  std::array<char, kMaxRequestHeadBytes> buffer;
  // At most one request head is buffered; a pipelined request beyond it
  // waits in the socket until this one is answered.
  while (conn.in.size() < kMaxRequestHeadBytes) {
    const std::size_t room = kMaxRequestHeadBytes - conn.in.size();
    ssize_t n = 0;
    if (conn.ssl != nullptr) {
      ERR_clear_error();
      const int result =
          SSL_read(conn.ssl, buffer.data(), static_cast<int>(room));
      if (result <= 0) {
        const int error = SSL_get_error(conn.ssl, result);
        if (error == SSL_ERROR_WANT_READ) break;
        if (error == SSL_ERROR_WANT_WRITE) {
          wait_for = EPOLLOUT;
          break;
        }
        if (error != SSL_ERROR_ZERO_RETURN) {
          spdlog::debug("http: TLS read: {}", SslErrorText());
        }
        peer_closed = true;
        break;
      }
      n = result;
    } else {
      n = recv(conn.fd.get(), buffer.data(), room, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        peer_closed = true;
        break;
      }
    }
    conn.in.append(buffer.data(), static_cast<std::size_t>(n));
  }
  Parse(conn, peer_closed, wait_for);
}

void HttpServer::Impl::Parse(Connection& conn, bool peer_closed,
                             uint32_t wait_for) {
  HttpRequest request;
  const ParseResult result = ParseRequestHead(conn.in, &request);
  switch (result.kind) {
    case ParseResult::kIncomplete:
      if (peer_closed) {
        Close(conn);
      } else {
        SetInterest(conn, wait_for);
      }
      return;
    case ParseResult::kError:
      conn.in.clear();
      SendError(conn, result.status, result.reason);
      return;
    case ParseResult::kComplete:
      conn.in.erase(0, result.consumed);
      // A client that half-closed after its request still gets the answer.
      if (peer_closed) request.keep_alive = false;
      Dispatch(conn, std::move(request));
      return;
  }
}

// Every path needs the password when basic auth is on, as in
// exporter-toolkit; it is checked here, before the request may take
// anything an authenticated scrape needs. Credentials checked before are
// answered from memory; others wait their turn for a bcrypt.
void HttpServer::Impl::Dispatch(Connection& conn, HttpRequest request) {
  std::shared_ptr<const Security> security = CurrentSecurity();
  if (security->auth->enabled()) {
    std::string user;
    std::string password;
    BasicAuth::Verdict verdict = BasicAuth::Verdict::kBad;
    const std::string_view authorization = request.Header("authorization");
    if (!authorization.empty() &&
        ParseBasicAuthorization(authorization, &user, &password)) {
      verdict = security->auth->Lookup(user, password);
    }
    if (verdict == BasicAuth::Verdict::kUnknown &&
        verify_queue.Push(conn.source, conn.id)) {
      conn.user = std::move(user);
      conn.password = std::move(password);
      conn.pending = std::move(request);
      conn.security = std::move(security);
      conn.state = Connection::State::kAuthenticating;
      conn.since = Clock::now();
      conn.deadline = conn.since + kRequestTimeout;
      SetInterest(conn, 0);
      StartNextVerify();
      return;
    }
    OPENSSL_cleanse(password.data(), password.size());
    if (verdict == BasicAuth::Verdict::kUnknown) {
      Answer(conn, request, 429, "Too many password checks waiting\n",
             {{"Retry-After", "1"}}, *security);
      return;
    }
    if (verdict == BasicAuth::Verdict::kBad) {
      Answer(conn, request, 401, "Unauthorized\n",
             {{"WWW-Authenticate", "Basic"}}, *security);
      return;
    }
  }
  Admit(conn, std::move(request), std::move(security));
}

// A scrape takes one of kMaxScrapeResponses slots, or waits its turn for
// one: the turns go round the client addresses, so a flood of scrapes
// from one address delays a scraper at another by a slot or two at most.
void HttpServer::Impl::Admit(Connection& conn, HttpRequest request,
                             std::shared_ptr<const Security> security) {
  if (request.path != options.metrics_path) {
    Submit(conn, std::move(request), std::move(security));
    return;
  }
  if (scrapes < kMaxScrapeResponses && scrape_queue.empty()) {
    conn.scrape = true;
    ++scrapes;
    Submit(conn, std::move(request), std::move(security));
    return;
  }
  if (!scrape_queue.Push(conn.source, conn.id)) {
    Answer(conn, request, 503, "Too many scrapes in progress\n",
           {{"Retry-After", "1"}}, *security);
    return;
  }
  conn.pending = std::move(request);
  conn.security = std::move(security);
  conn.state = Connection::State::kQueued;
  conn.since = Clock::now();
  conn.deadline = conn.since + kRequestTimeout;
  SetInterest(conn, 0);
  // A held response that has stalled gives way (and its slot goes to
  // whose turn it is).
  if (scrapes >= kMaxScrapeResponses) EvictStalledScrape();
  AdmitWaiting();
}

// Free slots go to the queued scrapes, round-robin by address.
void HttpServer::Impl::AdmitWaiting() {
  while (scrapes < kMaxScrapeResponses) {
    const std::optional<uint64_t> id = scrape_queue.Pop();
    if (!id) return;
    const auto it = connections.find(*id);
    if (it == connections.end()) continue;
    Connection& conn = *it->second;
    conn.scrape = true;
    ++scrapes;
    Submit(conn, std::move(conn.pending), std::move(conn.security));
  }
}

void HttpServer::Impl::Submit(Connection& conn, HttpRequest request,
                              std::shared_ptr<const Security> security) {
  conn.in_flight = true;
  if (options.stats != nullptr) ++options.stats->requests_in_flight;
  conn.state = Connection::State::kProcessing;
  SetInterest(conn, 0);
  {
    std::lock_guard lock(queue_mutex);
    jobs.push_back(
        {conn.id, std::move(request), std::move(security), false, {}, {}});
  }
  queue_ready.notify_one();
}

// One bcrypt at a time, for whose turn it is: a flood of made-up
// passwords costs one worker, and a remembered good password none.
void HttpServer::Impl::StartNextVerify() {
  while (!verifying) {
    const std::optional<uint64_t> id = verify_queue.Pop();
    if (!id) return;
    const auto it = connections.find(*id);
    if (it == connections.end()) continue;
    Connection& conn = *it->second;
    conn.state = Connection::State::kVerifying;
    verifying = true;
    {
      std::lock_guard lock(queue_mutex);
      jobs.push_back({conn.id,
                      {},
                      conn.security,
                      true,
                      std::move(conn.user),
                      std::move(conn.password)});
    }
    conn.user.clear();
    conn.password.clear();
    queue_ready.notify_one();
  }
}

void HttpServer::Impl::OnVerified(Connection& conn, bool good) {
  if (!good) {
    Answer(conn, conn.pending, 401, "Unauthorized\n",
           {{"WWW-Authenticate", "Basic"}}, *conn.security);
    return;
  }
  Admit(conn, std::move(conn.pending), std::move(conn.security));
}

// Answers a refusal without a worker. The answer goes out from the next
// turn of the loop, as a worker's would: written here, a keep-alive
// connection would read and refuse its next pipelined request from inside
// this one, as deep as the client pipelines.
void HttpServer::Impl::Answer(Connection& conn, const HttpRequest& request,
                              int status, std::string_view body,
                              std::initializer_list<Header> extra,
                              const Security& security) {
  conn.in_flight = true;
  if (options.stats != nullptr) ++options.stats->requests_in_flight;
  Response response = MakeResponse(request, status, kPlain, std::string(body),
                                   extra, security.headers);
  conn.pending = HttpRequest{};
  conn.security.reset();
  conn.state = Connection::State::kProcessing;
  SetInterest(conn, 0);
  {
    std::lock_guard lock(queue_mutex);
    done.push_back({conn.id, std::move(response), Done::Verdict::kNone});
  }
  const uint64_t one = 1;
  if (write(wake.get(), &one, sizeof(one)) < 0) {
    spdlog::debug("http: waking the event loop: {}", ErrnoMessage(errno));
  }
}

// Answers a request that was refused before it reached a worker, and ends
// the connection: after a malformed request the rest of the stream cannot
// be trusted to be framed as the client meant.
void HttpServer::Impl::SendError(Connection& conn, int status,
                                 std::string_view reason) {
  HttpRequest request;
  request.keep_alive = false;
  request.method = "GET";
  conn.in_flight = true;
  if (options.stats != nullptr) ++options.stats->requests_in_flight;
  StartWrite(conn,
             MakeResponse(request, status, kPlain, std::string(reason) + "\n",
                          {}, CurrentSecurity()->headers));
}

void HttpServer::Impl::CollectDone() {
  std::vector<Done> finished;
  {
    std::lock_guard lock(queue_mutex);
    finished.swap(done);
  }
  for (Done& d : finished) {
    const auto it = connections.find(d.connection);
    if (d.verdict != Done::Verdict::kNone) {
      verifying = false;
      if (it != connections.end() &&
          it->second->state == Connection::State::kVerifying) {
        OnVerified(*it->second, d.verdict == Done::Verdict::kGood);
      }
      continue;
    }
    if (it == connections.end()) {
      buffers.Give(std::move(d.response.body));
      continue;
    }
    StartWrite(*it->second, std::move(d.response));
  }
  StartNextVerify();
}

void HttpServer::Impl::StartWrite(Connection& conn, Response response) {
  conn.out = std::move(response);
  conn.written = 0;
  conn.state = Connection::State::kWriting;
  conn.since = Clock::now();
  conn.deadline = conn.since + kRequestTimeout;
  Write(conn);
}

void HttpServer::Impl::Write(Connection& conn) {
  const std::string& head = conn.out.head;
  const std::string& body = conn.out.body;
  const std::size_t total = head.size() + body.size();
  while (conn.written < total) {
    ssize_t n = 0;
    if (conn.ssl != nullptr) {
      const bool in_head = conn.written < head.size();
      const std::string& part = in_head ? head : body;
      const std::size_t offset =
          in_head ? conn.written : conn.written - head.size();
      const std::size_t length =
          std::min<std::size_t>(part.size() - offset, std::size_t{1} << 20);
      ERR_clear_error();
      const int result =
          SSL_write(conn.ssl, part.data() + offset, static_cast<int>(length));
      if (result <= 0) {
        const int error = SSL_get_error(conn.ssl, result);
        if (error == SSL_ERROR_WANT_WRITE) {
          SetInterest(conn, EPOLLOUT);
          return;
        }
        if (error == SSL_ERROR_WANT_READ) {
          SetInterest(conn, EPOLLIN);
          return;
        }
        spdlog::debug("http: TLS write: {}", SslErrorText());
        FinishResponse(conn, true);
        return;
      }
      n = result;
    } else {
      std::array<iovec, 2> parts{};
      int count = 0;
      if (conn.written < head.size()) {
        parts[count++] = {const_cast<char*>(head.data()) + conn.written,
                          head.size() - conn.written};
      }
      const std::size_t body_offset =
          conn.written > head.size() ? conn.written - head.size() : 0;
      if (body_offset < body.size()) {
        parts[count++] = {const_cast<char*>(body.data()) + body_offset,
                          body.size() - body_offset};
      }
      msghdr message{};
      message.msg_iov = parts.data();
      message.msg_iovlen = static_cast<std::size_t>(count);
      n = sendmsg(conn.fd.get(), &message, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        SetInterest(conn, EPOLLOUT);
        return;
      }
      if (n < 0) {
        spdlog::debug("http: write: {}", ErrnoMessage(errno));
        FinishResponse(conn, true);
        return;
      }
    }
    conn.written += static_cast<std::size_t>(n);
    conn.since = Clock::now();
    conn.deadline = conn.since + kRequestTimeout;
  }
  FinishResponse(conn, false);
}

void HttpServer::Impl::FinishResponse(Connection& conn, bool failed) {
  if (HttpStats* stats = options.stats; stats != nullptr) {
    const int status_class = conn.out.status / 100;
    if (status_class >= 1 && status_class <= 5)
      ++stats->responses[status_class];
    if (failed) ++stats->write_failures;
    if (conn.in_flight) --stats->requests_in_flight;
  }
  conn.in_flight = false;
  if (conn.scrape) {
    conn.scrape = false;
    --scrapes;
    AdmitWaiting();
  }
  const bool close = conn.out.close;
  buffers.Give(std::move(conn.out.body));
  conn.out = Response{};
  if (failed) {
    Close(conn);
    return;
  }
  ++conn.served;
  conn.since = Clock::now();
  if (close) {
    // Sends what is left and the FIN; TLS says close_notify first.
    if (conn.ssl != nullptr) SSL_shutdown(conn.ssl);
    shutdown(conn.fd.get(), SHUT_WR);
    conn.state = Connection::State::kLingering;
    conn.deadline = conn.since + kLingerTimeout;
    SetInterest(conn, EPOLLIN);
    return;
  }
  conn.state = Connection::State::kReading;
  conn.deadline = conn.since + kRequestTimeout;
  Read(conn);  // a pipelined request may be buffered already
}

void HttpServer::Impl::Linger(Connection& conn) {
  std::array<char, 4096> buffer;
  for (;;) {
    const ssize_t n = recv(conn.fd.get(), buffer.data(), buffer.size(), 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Close(conn);
    return;
  }
}

void HttpServer::Impl::Close(Connection& conn) {
  if (HttpStats* stats = options.stats; stats != nullptr) {
    if (conn.in_flight) --stats->requests_in_flight;
    --stats->connections_open;
  }
  const bool freed_slot = conn.scrape;
  if (conn.scrape) --scrapes;
  if (conn.state == Connection::State::kQueued) {
    scrape_queue.Remove(conn.source, conn.id);
  } else if (conn.state == Connection::State::kAuthenticating) {
    verify_queue.Remove(conn.source, conn.id);
  }
  buffers.Give(std::move(conn.out.body));
  if (conn.events != 0) {
    epoll_ctl(epoll.get(), EPOLL_CTL_DEL, conn.fd.get(), nullptr);
  }
  connections.erase(conn.id);  // closes the socket
  if (freed_slot) AdmitWaiting();
  if (listener_paused) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = kListenerId;
    epoll_ctl(epoll.get(), EPOLL_CTL_MOD, listener.get(), &event);
    listener_paused = false;
  }
}

void HttpServer::Impl::Sweep(Clock::time_point now) {
  auto busy = [](const Connection& conn) {
    return conn.state == Connection::State::kProcessing ||
           conn.state == Connection::State::kVerifying;
  };
  std::vector<uint64_t> expired;
  for (const auto& [id, conn] : connections) {
    if (!busy(*conn) && conn->deadline <= now) expired.push_back(id);
  }
  for (const uint64_t id : expired) {
    // Answering one may have moved another on.
    const auto it = connections.find(id);
    if (it == connections.end() || busy(*it->second) ||
        it->second->deadline > now) {
      continue;
    }
    Connection& conn = *it->second;
    switch (conn.state) {
      case Connection::State::kQueued:
        scrape_queue.Remove(conn.source, conn.id);
        Answer(conn, conn.pending, 503, "Too many scrapes in progress\n",
               {{"Retry-After", "1"}}, *conn.security);
        break;
      case Connection::State::kAuthenticating:
        verify_queue.Remove(conn.source, conn.id);
        Answer(conn, conn.pending, 503, "Too many password checks waiting\n",
               {{"Retry-After", "1"}}, *conn.security);
        break;
      case Connection::State::kWriting:
        FinishResponse(conn, true);
        break;
      case Connection::State::kHandshake:
      case Connection::State::kReading:
        // An idle keep-alive connection ends quietly; a request that did
        // not arrive in time is counted.
        if (!conn.in.empty() || conn.served == 0) {
          Count(&HttpStats::request_timeouts);
        }
        Close(conn);
        break;
      default:
        Close(conn);
    }
  }
  // Queued scrapes do not wait on a response whose reader has stalled.
  while (!scrape_queue.empty() && scrapes >= kMaxScrapeResponses &&
         EvictStalledScrape()) {
  }
}

void HttpServer::Impl::Work() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(queue_mutex);
      queue_ready.wait(lock, [this] { return stopping || !jobs.empty(); });
      if (stopping) return;
      job = std::move(jobs.front());
      jobs.pop_front();
    }
    if (job.verify) {
      Done result{job.connection, {}, Done::Verdict::kBad};
      try {
        if (job.security->auth->Verify(job.user, job.password)) {
          result.verdict = Done::Verdict::kGood;
        }
      } catch (...) {
        // Bad, as it stands: the client gets a 401.
      }
      OPENSSL_cleanse(job.password.data(), job.password.size());
      {
        std::lock_guard lock(queue_mutex);
        done.push_back(std::move(result));
      }
      const uint64_t one = 1;
      if (write(wake.get(), &one, sizeof(one)) < 0) {
        spdlog::debug("http: waking the event loop: {}", ErrnoMessage(errno));
      }
      continue;
    }
    Response response;
    try {
      response = Handle(job.request, *job.security);
    } catch (...) {
      // Whatever failed, the client gets an answer and the thread lives on.
      response =
          MakeResponse(job.request, 500, kPlain, "internal error\n", {}, {});
    }
    {
      std::lock_guard lock(queue_mutex);
      done.push_back(
          {job.connection, std::move(response), Done::Verdict::kNone});
    }
    const uint64_t one = 1;
    if (write(wake.get(), &one, sizeof(one)) < 0) {
      spdlog::debug("http: waking the event loop: {}", ErrnoMessage(errno));
    }
  }
}

// The client has authenticated (Dispatch) when it had to.
Response HttpServer::Impl::Handle(const HttpRequest& request,
                                  const Security& security) {
  const std::string_view method = request.method;
  const std::string_view path = request.path;
  const bool head = method == "HEAD";
  const HeaderList& headers = security.headers;

  const bool known = path == options.metrics_path || path == "/" ||
                     path == "/-/healthy" || path == "/-/ready";
  if (!known) {
    return MakeResponse(request, 404, kPlain, "Not found\n", {}, headers);
  }
  if (method != "GET" && !head) {
    return MakeResponse(request, 405, kPlain, "Method not allowed\n",
                        {{"Allow", "GET, HEAD"}}, headers);
  }
  if (path == options.metrics_path) return HandleMetrics(request, headers);
  if (path == "/") {
    return MakeResponse(request, 200, kHtml, landing_page, {}, headers);
  }
  if (path == "/-/healthy") {
    return MakeResponse(request, 200, kPlain, "Healthy\n", {}, headers);
  }
  if (ready()) {
    return MakeResponse(request, 200, kPlain, "Ready\n", {}, headers);
  }
  return MakeResponse(request, 503, kPlain, "Not ready\n", {}, headers);
}

Response HttpServer::Impl::HandleMetrics(const HttpRequest& request,
                                         const HeaderList& headers) {
  const ExpositionFormat format = NegotiateFormat(request.Header("accept"));
  const bool gzip = AcceptsGzip(request.Header("accept-encoding"));
  const std::size_t key =
      (format == ExpositionFormat::kOpenMetrics100 ? 2 : 0) + (gzip ? 1 : 0);

  if (options.stats != nullptr) ++options.stats->scrapes_waiting;
  std::shared_ptr<Batch> batch;
  bool leader = false;
  {
    std::lock_guard lock(batch_mutex);
    std::shared_ptr<Batch>& slot = pending_batches[key];
    if (slot == nullptr) {
      slot = std::make_shared<Batch>();
      leader = true;
    } else {
      ++slot->followers;
    }
    batch = slot;
  }
  std::string body;
  if (leader) {
    GatherBatch(format, gzip, *batch, pending_batches[key], body);
  } else {
    std::unique_lock lock(batch_mutex);
    batch_done.wait(lock, [&batch] { return batch->done; });
    if (batch->error.empty()) {
      body = std::move(batch->bodies.back());
      batch->bodies.pop_back();
    }
    if (options.stats != nullptr) --options.stats->scrapes_waiting;
  }

  if (!batch->error.empty()) {  // done: no longer written to
    return MakeResponse(request, 500, kPlain, batch->error, {}, headers);
  }
  // The body leaves with the response; the event loop returns it to the
  // pool once written. It depends on both headers, so caches must key on
  // them.
  constexpr std::string_view kVary = "Accept, Accept-Encoding";
  if (gzip) {
    return MakeResponse(request, 200, ContentType(format), std::move(body),
                        {{"Content-Encoding", "gzip"}, {"Vary", kVary}},
                        headers);
  }
  return MakeResponse(request, 200, ContentType(format), std::move(body),
                      {{"Vary", kVary}}, headers);
}

// Run by the request that started the batch: waits for its turn, closes
// the batch to newcomers, gathers once and hands each follower a copy.
void HttpServer::Impl::GatherBatch(ExpositionFormat format, bool gzip,
                                   Batch& batch, std::shared_ptr<Batch>& slot,
                                   std::string& body) {
  std::string error;
  std::size_t followers = 0;
  {
    std::unique_lock scrape(scrape_mutex);
    if (options.stats != nullptr) --options.stats->scrapes_waiting;
    {
      std::lock_guard lock(batch_mutex);
      slot.reset();  // who comes now waits for the next gather
      followers = batch.followers;
    }
    PooledBuffer text(buffers);
    try {
      gather(format, text.get());
      if (gzip) {
        body = buffers.Take();
        Gzip(text.get(), body);
      } else {
        body = text.Release();
      }
    } catch (const std::exception& e) {
      // The gatherer logs its own failures; the client gets one line.
      error = "error gathering metrics: ";
      for (const char* p = e.what(); *p != '\0'; ++p) {
        error += (*p == '\n' || *p == '\r') ? ' ' : *p;
      }
      error += '\n';
    } catch (...) {
      error = "error gathering metrics\n";
    }
  }
  // Followers wait for done whatever happens here.
  std::vector<std::string> copies;
  if (error.empty()) {
    try {
      copies.assign(followers, body);
    } catch (const std::bad_alloc&) {
      error = "error gathering metrics: out of memory\n";
    }
  }
  {
    std::lock_guard lock(batch_mutex);
    batch.bodies = std::move(copies);
    batch.error = std::move(error);
    batch.done = true;
  }
  batch_done.notify_all();
}

Gatherer GatherFamilies(
    std::function<std::vector<prometheus::MetricFamily>()> collect) {
  return [collect = std::move(collect)](ExpositionFormat format,
                                        std::string& out) {
    Serialize(collect(), format, out);
  };
}

HttpServer::HttpServer(const HttpOptions& options, Gatherer gather,
                       ReadyCheck ready)
    : impl_(std::make_unique<Impl>()) {
  if (options.metrics_path.empty() || options.metrics_path.front() != '/') {
    throw std::invalid_argument("metrics path must start with '/': " +
                                options.metrics_path);
  }
  impl_->options = options;
  impl_->gather = std::move(gather);
  impl_->ready = std::move(ready);
  impl_->landing_page = LandingPage(options);
  impl_->web_security = MakeSecurity(options.web_config);
  if (options.web_config.tls_enabled) {
    impl_->tls = std::make_shared<TlsServerContext>(options.web_config.tls);
  }
  impl_->Start();
}

HttpServer::~HttpServer() { impl_->Stop(); }

std::vector<int> HttpServer::ports() const {
  return {BoundPort(impl_->listener.get())};
}

void HttpServer::UpdateWebConfig(const WebSecurityConfig& config) {
  std::shared_ptr<const Security> security = MakeSecurity(config);
  std::shared_ptr<TlsServerContext> tls;
  {
    std::lock_guard lock(impl_->config_mutex);
    tls = impl_->tls;
  }
  // Connections already accepted keep the context they started with.
  if (!config.tls_enabled) {
    tls.reset();
  } else if (tls) {
    tls->Update(config.tls);
  } else {
    tls = std::make_shared<TlsServerContext>(config.tls);
  }
  std::lock_guard lock(impl_->config_mutex);
  impl_->tls = std::move(tls);
  impl_->web_security = std::move(security);
}

std::vector<prometheus::MetricFamily> CollectHttpStats(const HttpStats& stats) {
  using prometheus::ClientMetric;
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  auto gauge = [](std::string name, std::string help, double value) {
    MetricFamily f{std::move(name), std::move(help), MetricType::Gauge, {}};
    ClientMetric m;
    m.gauge.value = value;
    f.metric.push_back(std::move(m));
    return f;
  };
  std::vector<MetricFamily> out;
  out.push_back(gauge("synwatch_http_requests_in_flight",
                      "HTTP requests being handled or written now, this "
                      "scrape included.",
                      static_cast<double>(stats.requests_in_flight.load())));
  out.push_back(gauge("synwatch_http_scrapes_waiting",
                      "Scrapes waiting for the one in progress (scrapes are "
                      "served one at a time).",
                      static_cast<double>(stats.scrapes_waiting.load())));
  MetricFamily responses{"synwatch_http_responses_total",
                         "HTTP responses, by status class.",
                         MetricType::Counter,
                         {}};
  for (int c = 1; c <= 5; ++c) {
    ClientMetric m;
    m.label.push_back({"code", std::to_string(c) + "xx"});
    m.counter.value = static_cast<double>(stats.responses[c].load());
    responses.metric.push_back(std::move(m));
  }
  out.push_back(std::move(responses));
  MetricFamily failures{
      "synwatch_http_response_write_failures_total",
      "Responses a client did not take: it stopped reading for the write "
      "timeout, closed the connection early, or its stalled response gave "
      "way to a new scrape.",
      MetricType::Counter,
      {}};
  ClientMetric m;
  m.counter.value = static_cast<double>(stats.write_failures.load());
  failures.metric.push_back(std::move(m));
  out.push_back(std::move(failures));
  out.push_back(gauge("synwatch_http_connections_open",
                      "HTTP connections open now, this scrape's included.",
                      static_cast<double>(stats.connections_open.load())));
  MetricFamily dropped{
      "synwatch_http_connections_dropped_total",
      "Connections the server ended before answering a request: over the "
      "connection limit, no complete request within the request timeout, "
      "or a failed TLS handshake.",
      MetricType::Counter,
      {}};
  for (const auto& [reason, value] :
       {std::pair{"connection_limit", &stats.connections_dropped_limit},
        std::pair{"request_timeout", &stats.request_timeouts},
        std::pair{"tls_handshake", &stats.tls_handshake_failures}}) {
    ClientMetric by_reason;
    by_reason.label.push_back({"reason", reason});
    by_reason.counter.value = static_cast<double>(value->load());
    dropped.metric.push_back(std::move(by_reason));
  }
  out.push_back(std::move(dropped));
  out.push_back(gauge("synwatch_http_scrapes_queued",
                      "Scrapes waiting for one of the 16 scrape slots, "
                      "served in turns by client address.",
                      static_cast<double>(stats.scrapes_queued.load())));
  out.push_back(
      gauge("synwatch_http_password_checks_waiting",
            "Requests whose basic auth password was never checked before, "
            "waiting for (or in) its bcrypt; one runs at a time.",
            static_cast<double>(stats.password_checks_waiting.load())));
  return out;
}

}  // namespace synwatch
