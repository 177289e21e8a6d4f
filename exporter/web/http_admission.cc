// SPDX-License-Identifier: Apache-2.0
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
#include "web/http_server.h"
#include "web/http_server_impl.h"
#include "web/tls.h"

namespace synwatch {

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
      Park(conn, Connection::State::kAuthenticating, std::move(request),
           std::move(security));
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

// A request that waits (for its password check or a scrape slot) holds its
// parsed request and security, and no event wakes its connection until its
// turn comes or its deadline passes.
void HttpServer::Impl::Park(Connection& conn, Connection::State state,
                            HttpRequest request,
                            std::shared_ptr<const Security> security) {
  conn.pending = std::move(request);
  conn.security = std::move(security);
  conn.state = state;
  conn.since = Clock::now();
  conn.deadline = conn.since + kRequestTimeout;
  SetInterest(conn, 0);
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
  Park(conn, Connection::State::kQueued, std::move(request),
       std::move(security));
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

}  // namespace synwatch
