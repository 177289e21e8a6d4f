// SPDX-License-Identifier: Apache-2.0
// Prometheus exposition: text format 0.0.4 and OpenMetrics 1.0.0, content
// negotiation, gzip. Serializers write straight into a string buffer: a
// scrape of a full peer table is hundreds of thousands of lines.
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace synwatch {

enum class ExpositionFormat { kText004, kOpenMetrics100 };

// Picks the format from an Accept header: OpenMetrics when the client asks
// for application/openmetrics-text (honouring q-values; q=0 refuses), the
// 0.0.4 text format otherwise (also for an empty or absent header).
ExpositionFormat NegotiateFormat(std::string_view accept);

// True when Accept-Encoding allows gzip (q > 0, "*" counts).
bool AcceptsGzip(std::string_view accept_encoding);

// "text/plain; version=0.0.4; charset=utf-8" or
// "application/openmetrics-text; version=1.0.0; charset=utf-8".
std::string_view ContentType(ExpositionFormat format);

// Appends the families to out. OpenMetrics: counter families are named
// without the _total suffix in # TYPE/# HELP, samples keep it, and the
// output ends with "# EOF\n". Label values and help text are escaped.
// The same as AppendFamilies, then AppendEnd.
void Serialize(const std::vector<prometheus::MetricFamily>& families,
               ExpositionFormat format, std::string& out);

// A counter or gauge family whose samples are made one at a time while it
// is written: fill(i, sample) sets the labels and value of sample i in a
// ClientMetric that is reused for every sample (assigning to its labels
// reuses their storage). A family of a million samples then never exists
// as a million objects.
struct StreamedFamily {
  prometheus::MetricFamily family;  // name, help, type; metric unused
  std::size_t size = 0;
  std::function<void(std::size_t index, prometheus::ClientMetric& sample)> fill;
};

// A scrape written piece by piece, in order: families, streamed families,
// then AppendEnd once. Serialize(f, format, out) is AppendFamilies(f,
// format, out) followed by AppendEnd(format, out).
void AppendFamilies(std::span<const prometheus::MetricFamily> families,
                    ExpositionFormat format, std::string& out);
void AppendFamily(const StreamedFamily& family, ExpositionFormat format,
                  std::string& out);
void AppendEnd(ExpositionFormat format, std::string& out);  // "# EOF"

// gzip (RFC 1952) of data. Throws std::runtime_error if zlib fails.
std::string Gzip(std::string_view data);

// The same into out (replacing its contents), reusing out's capacity: a
// server keeps its buffers across scrapes.
void Gzip(std::string_view data, std::string& out);

}  // namespace synwatch
