// SPDX-License-Identifier: Apache-2.0
#include "http_server.h"

#include <civetweb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <exception>
#include <filesystem>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "basic_auth.h"
#include "exposition.h"
#include "tls.h"

namespace synwatch {
namespace {

constexpr std::string_view kHtml = "text/html; charset=utf-8";
constexpr std::string_view kPlain = "text/plain; charset=utf-8";

// What civetweb should be given for one listen address.
struct ListenSpec {
  std::string civetweb_ports;
};

[[noreturn]] void ListenError(std::string_view address,
                              std::string_view reason) {
  throw std::runtime_error("listen on " + std::string(address) + ": " +
                           std::string(reason));
}

// Turns ":9632", "host:9632", "[v6]:9632" into civetweb's listening_ports
// syntax, rejecting anything civetweb would read as something else (its
// "s"/"r" port suffixes, comma-separated lists).
ListenSpec ParseListenAddress(std::string_view address, bool ipv6_supported) {
  std::string_view host;
  std::string_view port;
  bool bracketed = false;
  if (!address.empty() && address.front() == '[') {
    const std::size_t close = address.find(']');
    if (close == std::string_view::npos || close + 1 >= address.size() ||
        address[close + 1] != ':') {
      ListenError(address, "expected [address]:port");
    }
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
    bracketed = true;
    if (host.empty()) ListenError(address, "empty IPv6 address");
  } else {
    const std::size_t colon = address.rfind(':');
    if (colon == std::string_view::npos) {
      ListenError(address, "expected [host]:port, e.g. :9632");
    }
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
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

  const std::string port_text(port);
  if (bracketed) {
    if (!ipv6_supported) {
      ListenError(address,
                  "IPv6 is not supported by the installed civetweb (built "
                  "without USE_IPV6)");
    }
    return {"[" + std::string(host) + "]:" + port_text};
  }
  if (host.empty()) {
    // civetweb's "+port" is a dual-stack socket; without IPv6 support the
    // best "all addresses" can mean is every IPv4 address.
    return {ipv6_supported ? "+" + port_text : port_text};
  }
  return {std::string(host) + ":" + port_text};
}

// civetweb reports why a bind failed only through log_message, e.g.
// "cannot bind to 127.0.0.1:9632: 98 (Address already in use)".
std::string ReasonFromLog(const std::string& message) {
  if (message.find("cannot bind") != std::string::npos) {
    const std::size_t open = message.rfind('(');
    const std::size_t close = message.rfind(')');
    if (open != std::string::npos && close != std::string::npos &&
        close > open + 1) {
      std::string reason = message.substr(open + 1, close - open - 1);
      if (reason[0] >= 'A' && reason[0] <= 'Z') {
        reason[0] = static_cast<char>(reason[0] - 'A' + 'a');
      }
      return reason;
    }
  }
  if (message.find("invalid port spec") != std::string::npos) {
    return "invalid or unresolvable address";
  }
  return message;
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

struct Header {
  const char* name;
  std::string_view value;
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Sends a complete response with Content-Length, so civetweb can keep the
// connection alive. A HEAD request gets the same headers and no body.
// Set by Respond when the client did not take the whole response; read by
// the request handler of the same worker thread.
thread_local bool t_write_failed = false;

// configured: the web config's headers, on every response.
int Respond(mg_connection* conn, bool head, int status,
            std::string_view content_type, std::string_view body,
            std::initializer_list<Header> extra = {},
            const HeaderList& configured = {}) {
  mg_response_header_start(conn, status);
  for (const auto& [name, value] : configured) {
    mg_response_header_add(conn, name.c_str(), value.data(),
                           static_cast<int>(value.size()));
  }
  mg_response_header_add(conn, "Content-Type", content_type.data(),
                         static_cast<int>(content_type.size()));
  char length[24];
  const auto result =
      std::to_chars(length, length + sizeof(length),
                    static_cast<unsigned long long>(body.size()));
  mg_response_header_add(conn, "Content-Length", length,
                         static_cast<int>(result.ptr - length));
  for (const Header& header : extra) {
    mg_response_header_add(conn, header.name, header.value.data(),
                           static_cast<int>(header.value.size()));
  }
  if (mg_response_header_send(conn) < 0) t_write_failed = true;
  if (!head && !body.empty() &&
      mg_write(conn, body.data(), body.size()) !=
          static_cast<int>(body.size())) {
    t_write_failed = true;
  }
  return status;
}

// The socket fds this process has open.
std::vector<int> SocketFds() {
  std::vector<int> fds;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    const std::string name = entry.path().filename().string();
    int fd = -1;
    const auto [ptr, parse_ec] =
        std::from_chars(name.data(), name.data() + name.size(), fd);
    struct stat st {};
    if (parse_ec != std::errc() || ptr != name.data() + name.size() ||
        fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode)) {
      continue;
    }
    fds.push_back(fd);
  }
  std::sort(fds.begin(), fds.end());
  return fds;
}

int ListeningPort(int fd) {
  int listening = 0;
  socklen_t length = sizeof(listening);
  if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0 ||
      listening == 0) {
    return -1;
  }
  sockaddr_storage address{};
  length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return -1;
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return -1;
}

// civetweb 1.15 has no API for its listening sockets, yet mg_stop() only
// notices the stop flag when its accept loop's 2 s poll() times out. The
// sockets are found as the listening sockets on our ports that appeared
// while mg_start2() ran; shutting them down wakes that poll at once.
std::vector<int> NewListeningSockets(const std::vector<int>& before,
                                     const std::vector<int>& ports) {
  std::vector<int> found;
  for (const int fd : SocketFds()) {
    if (std::binary_search(before.begin(), before.end(), fd)) continue;
    const int port = ListeningPort(fd);
    if (std::find(ports.begin(), ports.end(), port) != ports.end()) {
      found.push_back(fd);
    }
  }
  return found;
}

std::string_view HeaderOrEmpty(const mg_connection* conn, const char* name) {
  const char* value = mg_get_header(conn, name);
  return value != nullptr ? std::string_view(value) : std::string_view();
}

// Response buffers kept from one scrape to the next. Writing tens of MB
// into fresh pages costs a page fault per 4 KiB on every scrape (6 us each
// on the benchmark VM: more than serializing); a kept buffer's pages stay
// mapped. Two buffers cover a gzip scrape (text plus compressed); anything
// larger than kMaxKeptBytes is a one-off and goes back to the system.
class BufferPool {
 public:
  std::string Take() {
    std::lock_guard lock(mutex_);
    if (buffers_.empty()) return {};
    std::string buffer = std::move(buffers_.back());
    buffers_.pop_back();
    return buffer;
  }

  void Give(std::string buffer) {
    if (buffer.capacity() > kMaxKeptBytes) return;
    buffer.clear();
    std::lock_guard lock(mutex_);
    if (buffers_.size() < kMaxBuffers) buffers_.push_back(std::move(buffer));
  }

 private:
  static constexpr std::size_t kMaxBuffers = 2;
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

 private:
  BufferPool& pool_;
  std::string buffer_;
};

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

}  // namespace

struct HttpServer::Impl {
  HttpOptions options;
  Gatherer gather;
  ReadyCheck ready;
  std::string landing_page;
  mg_context* context = nullptr;
  std::vector<int> listening_sockets;  // owned by civetweb

  // Outlives every connection: Stop() joins civetweb's workers first.
  std::unique_ptr<TlsServerContext> tls;  // null for plain HTTP
  std::mutex security_mutex;
  std::shared_ptr<const Security> security;  // guarded by security_mutex

  // One scrape at a time: peak memory stays at one scrape's worth (a full
  // peer table is tens of MB of text), and gatherers need not be reentrant.
  std::mutex scrape_mutex;
  BufferPool buffers;

  // The first civetweb message while starting, to explain a failure.
  std::mutex log_mutex;
  bool starting = true;
  std::string start_log;

  std::shared_ptr<const Security> CurrentSecurity() {
    std::lock_guard lock(security_mutex);
    return security;
  }

  void Start();  // throws std::runtime_error
  void Stop();
  int Handle(mg_connection* conn);
  int HandleMetrics(mg_connection* conn, bool head, const HeaderList& headers);
};

int HttpServer::Impl::Handle(mg_connection* conn) {
  const mg_request_info* request = mg_get_request_info(conn);
  const std::string_view method =
      request->request_method != nullptr ? request->request_method : "";
  const std::string_view path =
      request->local_uri != nullptr ? request->local_uri : "";
  const bool head = method == "HEAD";
  const std::shared_ptr<const Security> current = CurrentSecurity();
  const HeaderList& headers = current->headers;

  // Every path, as exporter-toolkit does: nothing is served to a client
  // that cannot authenticate.
  if (current->auth->enabled()) {
    std::string user;
    std::string password;
    const char* authorization = mg_get_header(conn, "Authorization");
    if (authorization == nullptr ||
        !ParseBasicAuthorization(authorization, &user, &password) ||
        !current->auth->Check(user, password)) {
      return Respond(conn, head, 401, kPlain, "Unauthorized\n",
                     {{"WWW-Authenticate", "Basic"}}, headers);
    }
  }

  const bool known = path == options.metrics_path || path == "/" ||
                     path == "/-/healthy" || path == "/-/ready";
  if (!known)
    return Respond(conn, head, 404, kPlain, "Not found\n", {}, headers);
  if (method != "GET" && !head) {
    return Respond(conn, head, 405, kPlain, "Method not allowed\n",
                   {{"Allow", "GET, HEAD"}}, headers);
  }
  if (path == options.metrics_path) return HandleMetrics(conn, head, headers);
  if (path == "/")
    return Respond(conn, head, 200, kHtml, landing_page, {}, headers);
  if (path == "/-/healthy") {
    return Respond(conn, head, 200, kPlain, "Healthy\n", {}, headers);
  }
  if (ready()) return Respond(conn, head, 200, kPlain, "Ready\n", {}, headers);
  return Respond(conn, head, 503, kPlain, "Not ready\n", {}, headers);
}

int HttpServer::Impl::HandleMetrics(mg_connection* conn, bool head,
                                    const HeaderList& headers) {
  const ExpositionFormat format =
      NegotiateFormat(HeaderOrEmpty(conn, "Accept"));
  const bool gzip = AcceptsGzip(HeaderOrEmpty(conn, "Accept-Encoding"));
  PooledBuffer text(buffers);
  std::optional<PooledBuffer> compressed;
  {
    if (options.stats != nullptr) ++options.stats->scrapes_waiting;
    std::unique_lock lock(scrape_mutex);
    if (options.stats != nullptr) --options.stats->scrapes_waiting;
    try {
      Serialize(gather(), format, text.get());
    } catch (const std::exception& e) {
      // The gatherer logs its own failures; the client gets one line.
      std::string message = "error gathering metrics: ";
      for (const char* p = e.what(); *p != '\0'; ++p) {
        message += (*p == '\n' || *p == '\r') ? ' ' : *p;
      }
      message += '\n';
      return Respond(conn, head, 500, kPlain, message, {}, headers);
    }
    if (gzip) {
      compressed.emplace(buffers);
      Gzip(text.get(), compressed->get());
    }
  }
  // The body depends on both headers, so caches must key on them.
  constexpr std::string_view kVary = "Accept, Accept-Encoding";
  if (gzip) {
    return Respond(conn, head, 200, ContentType(format), compressed->get(),
                   {{"Content-Encoding", "gzip"}, {"Vary", kVary}}, headers);
  }
  return Respond(conn, head, 200, ContentType(format), text.get(),
                 {{"Vary", kVary}}, headers);
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
  impl_->security = MakeSecurity(options.web_config);
  if (options.web_config.tls_enabled) {
    impl_->tls = std::make_unique<TlsServerContext>(options.web_config.tls);
  }
  impl_->Start();
}

void HttpServer::Impl::Start() {
  const bool ipv6 = mg_check_feature(MG_FEATURES_IPV6) != 0;
  ListenSpec spec = ParseListenAddress(options.listen_address, ipv6);
  if (tls) {
    EnableCivetwebTls();
    spec.civetweb_ports += 's';  // civetweb's suffix for a TLS port
  }

  // clang-format off: one option per line.
  const char* config[] = {
      "listening_ports", spec.civetweb_ports.c_str(),
      // A scrape is one request every few seconds; a few threads cover
      // Prometheus HA pairs and a curious human.
      "num_threads", "4", "request_timeout_ms", "10000", "enable_keep_alive",
      "yes",
      // An idle keep-alive connection pins a worker thread; let it go soon.
      "keep_alive_timeout_ms", "500",
      // Headers and body are separate writes; without this, Nagle plus
      // delayed ACK can add 40 ms to every keep-alive scrape.
      "tcp_nodelay", "1", "enable_directory_listing", "no",
      "enable_auth_domain_check", "no", nullptr};
  // clang-format on

  mg_callbacks callbacks{};
  // civetweb would print to stderr; our log decides what is shown.
  callbacks.log_message = [](const mg_connection* conn, const char* message) {
    std::string_view text(message);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
      text.remove_suffix(1);
    }
    spdlog::debug("civetweb: {}", text);
    const mg_context* ctx = conn != nullptr ? mg_get_context(conn) : nullptr;
    auto* impl =
        ctx != nullptr ? static_cast<Impl*>(mg_get_user_data(ctx)) : nullptr;
    if (impl != nullptr) {
      std::lock_guard lock(impl->log_mutex);
      // "Failed to setup server ports" follows the useful line; keep the
      // first message of a failing start.
      if (impl->starting && impl->start_log.empty()) impl->start_log = text;
    }
    return 1;
  };
  // civetweb takes our SSL_CTX as it is (returning 1) and, when it stops,
  // leaves freeing it to us (returning 1 again).
  callbacks.external_ssl_ctx = [](void** ssl_ctx, void* user_data) {
    auto* impl = static_cast<Impl*>(user_data);
    if (*ssl_ctx == nullptr) {
      if (!impl->tls) return -1;
      *ssl_ctx = impl->tls->ssl_ctx();
    }
    return 1;
  };

  // Reference-counted by civetweb; paired with mg_exit_library() in Stop().
  const unsigned features = tls ? MG_FEATURES_TLS : 0;
  if ((mg_init_library(features) & features) != features) {
    mg_exit_library();
    throw std::runtime_error("listen on " + options.listen_address +
                             ": civetweb could not initialize OpenSSL for TLS");
  }
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = this;
  init.configuration_options = config;
  char error_text[256] = {};
  unsigned error_code = 0;
  mg_error_data error{};
  error.code = &error_code;
  error.text = error_text;
  error.text_buffer_size = sizeof(error_text);

  {
    std::lock_guard lock(log_mutex);
    starting = true;
    start_log.clear();
  }
  const std::vector<int> sockets_before = SocketFds();
  context = mg_start2(&init, &error);
  if (context == nullptr) {
    mg_exit_library();
    std::string reason;
    {
      std::lock_guard lock(log_mutex);
      reason = ReasonFromLog(start_log);
    }
    if (reason.empty()) reason = error_text[0] != '\0' ? error_text : "failed";
    ListenError(options.listen_address, reason);
  }
  try {
    std::vector<int> bound;
    mg_server_port ports[8] = {};
    const int n = mg_get_server_ports(context, 8, ports);
    bound.reserve(n > 0 ? static_cast<std::size_t>(n) : 0);
    for (int i = 0; i < n; ++i) bound.push_back(ports[i].port);
    listening_sockets = NewListeningSockets(sockets_before, bound);
  } catch (...) {
    // The destructor does not run for a throwing constructor.
    mg_stop(context);
    context = nullptr;
    mg_exit_library();
    throw;
  }
  {
    std::lock_guard lock(log_mutex);
    starting = false;
    start_log.clear();
  }
  // "**" catches every path, so unknown ones get our 404 rather than
  // civetweb's file handling.
  mg_set_request_handler(
      context, "**",
      [](mg_connection* conn, void* data) {
        auto* impl = static_cast<Impl*>(data);
        HttpStats* stats = impl->options.stats;
        if (stats != nullptr) ++stats->requests_in_flight;
        t_write_failed = false;
        int status = 500;
        try {
          status = impl->Handle(conn);
        } catch (...) {
          // Nothing may unwind into civetweb's C code.
          status = Respond(conn, false, 500, kPlain, "internal error\n");
        }
        if (stats != nullptr) {
          const int status_class = status / 100;
          if (status_class >= 1 && status_class <= 5) {
            ++stats->responses[status_class];
          }
          if (t_write_failed) ++stats->write_failures;
          --stats->requests_in_flight;
        }
        return status;
      },
      this);
}

void HttpServer::Impl::Stop() {
  if (context == nullptr) return;
  // Stops accepting (the fds stay open until mg_stop closes them), which
  // wakes civetweb's accept loop so mg_stop returns in milliseconds.
  for (const int fd : listening_sockets) shutdown(fd, SHUT_RDWR);
  mg_stop(context);
  context = nullptr;
  listening_sockets.clear();
  mg_exit_library();
}

HttpServer::~HttpServer() { impl_->Stop(); }

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
      "Responses a client did not take: it stopped reading until the request "
      "timeout ran out, or closed the connection early.",
      MetricType::Counter,
      {}};
  ClientMetric m;
  m.counter.value = static_cast<double>(stats.write_failures.load());
  failures.metric.push_back(std::move(m));
  out.push_back(std::move(failures));
  return out;
}

std::vector<int> HttpServer::ports() const {
  std::vector<int> out;
  if (impl_->context == nullptr) return out;
  mg_server_port ports[8] = {};
  const int n = mg_get_server_ports(impl_->context, 8, ports);
  out.reserve(n > 0 ? static_cast<std::size_t>(n) : 0);
  for (int i = 0; i < n; ++i) out.push_back(ports[i].port);
  return out;
}

bool HttpServer::running() const { return impl_->context != nullptr; }

void HttpServer::UpdateWebConfig(const WebSecurityConfig& config) {
  std::shared_ptr<const Security> security = MakeSecurity(config);
  const bool tls_now = impl_->tls != nullptr;
  if (config.tls_enabled == tls_now) {
    if (tls_now) impl_->tls->Update(config.tls);
    std::lock_guard lock(impl_->security_mutex);
    impl_->security = std::move(security);
    return;
  }
  // TLS on or off: civetweb decides at start whether a port is TLS, so the
  // server restarts, with the new settings or else the old ones.
  std::unique_ptr<TlsServerContext> tls;
  if (config.tls_enabled) tls = std::make_unique<TlsServerContext>(config.tls);
  impl_->Stop();
  std::swap(impl_->tls, tls);
  {
    std::lock_guard lock(impl_->security_mutex);
    std::swap(impl_->security, security);
  }
  try {
    impl_->Start();
    return;
  } catch (const std::exception& e) {
    const std::string reason = e.what();
    std::swap(impl_->tls, tls);
    {
      std::lock_guard lock(impl_->security_mutex);
      std::swap(impl_->security, security);
    }
    try {
      impl_->Start();
    } catch (const std::exception& again) {
      throw std::runtime_error(reason +
                               "; restarting with the previous web config "
                               "failed too: " +
                               again.what() + "; the HTTP server is stopped");
    }
    throw std::runtime_error(reason + "; kept the previous web config");
  }
}

}  // namespace synwatch
