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
    if (options.status_page) {
      return MakeResponse(request, 200, kHtml, options.status_page(), {},
                          headers);
    }
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

}  // namespace synwatch
