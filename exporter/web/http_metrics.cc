// SPDX-License-Identifier: Apache-2.0
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <string>
#include <utility>
#include <vector>

#include "metrics/family.h"
#include "web/http_server.h"

namespace synwatch {

std::vector<prometheus::MetricFamily> CollectHttpStats(const HttpStats& stats) {
  using prometheus::MetricFamily;
  using prometheus::MetricType;
  auto gauge = [](std::string name, std::string help, double value) {
    return SingleSampleFamily(std::move(name), std::move(help),
                              MetricType::Gauge, value);
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
  MetricFamily responses =
      MakeFamily("synwatch_http_responses_total",
                 "HTTP responses, by status class.", MetricType::Counter);
  for (int c = 1; c <= 5; ++c) {
    AddSample(responses, static_cast<double>(stats.responses[c].load()),
              {{"code", std::to_string(c) + "xx"}});
  }
  out.push_back(std::move(responses));
  out.push_back(SingleSampleFamily(
      "synwatch_http_response_write_failures_total",
      "Responses a client did not take: it stopped reading for the write "
      "timeout, closed the connection early, or its stalled response gave "
      "way to a new scrape.",
      MetricType::Counter, static_cast<double>(stats.write_failures.load())));
  out.push_back(gauge("synwatch_http_connections_open",
                      "HTTP connections open now, this scrape's included.",
                      static_cast<double>(stats.connections_open.load())));
  MetricFamily dropped = MakeFamily(
      "synwatch_http_connections_dropped_total",
      "Connections the server ended before answering a request: over the "
      "connection limit, no complete request within the request timeout, "
      "or a failed TLS handshake.",
      MetricType::Counter);
  for (const auto& [reason, value] :
       {std::pair{"connection_limit", &stats.connections_dropped_limit},
        std::pair{"request_timeout", &stats.request_timeouts},
        std::pair{"tls_handshake", &stats.tls_handshake_failures}}) {
    AddSample(dropped, static_cast<double>(value->load()),
              {{"reason", reason}});
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
