// SPDX-License-Identifier: Apache-2.0
#include "web/http_server.h"

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

#include "base/unique_fd.h"
#include "metrics/exposition.h"
#include "web/basic_auth.h"
#include "web/fair_queue.h"
#include "web/http_request.h"
#include "web/http_server_impl.h"
#include "web/landing_page.h"
#include "web/listen.h"
#include "web/tls.h"

namespace synwatch {

std::shared_ptr<const Security> MakeSecurity(const WebSecurityConfig& config) {
  auto security = std::make_shared<Security>();
  security->auth = std::make_shared<BasicAuth>(config.basic_auth_users);
  security->headers = config.headers;
  return security;
}

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

void HttpServer::Impl::Start() {
  RaiseDescriptorLimit(kMaxConnections);
  // A client that goes away mid-response must cost an EPIPE, not the
  // process: OpenSSL writes with write(2), which cannot pass MSG_NOSIGNAL.
  std::signal(SIGPIPE, SIG_IGN);
  listener = Listen(options.listen_address);
  epoll = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  wake = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (epoll.get() < 0 || wake.get() < 0) {
    ListenError(options.listen_address.text, ErrnoMessage(errno));
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

HttpServer::HttpServer(const HttpOptions& options, Gatherer gather,
                       ReadyCheck ready)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->gather = std::move(gather);
  impl_->ready = std::move(ready);
  impl_->landing_page = LandingPage(options.metrics_path, options.version);
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

}  // namespace synwatch
