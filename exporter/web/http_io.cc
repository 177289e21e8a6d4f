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

}  // namespace synwatch
