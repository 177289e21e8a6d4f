// SPDX-License-Identifier: Apache-2.0
#include "metrics/exposition.h"

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "base/huge_pages.h"
#include "base/text.h"

namespace synwatch {
namespace {

constexpr std::string_view kTextContentType =
    "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kOpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

// ---------------------------------------------------------------------------
// Header parsing (Accept, Accept-Encoding).

std::string_view Unquote(std::string_view s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') {
    return s.substr(1, s.size() - 2);
  }
  return s;
}

// Splits s at the first sep; returns the head and leaves the tail in s.
std::string_view NextToken(std::string_view& s, char sep) {
  const std::size_t pos = s.find(sep);
  std::string_view head = s.substr(0, pos);
  s = pos == std::string_view::npos ? std::string_view() : s.substr(pos + 1);
  return head;
}

// One element of a comma-separated header: "value;param=x;q=0.5".
struct HeaderElement {
  std::string_view value;
  std::string_view version;  // the "version" parameter, if any
  double q = 1.0;
};

// A malformed q-value counts as 0: a client that cannot spell its
// preference is not taken to insist on that entry.
double ParseQ(std::string_view text) {
  text = Unquote(TrimBlanks(text));
  double q = 0.0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(),
                                         q, std::chars_format::fixed);
  if (ec != std::errc() || ptr != text.data() + text.size() || !(q >= 0.0)) {
    return 0.0;
  }
  return std::min(q, 1.0);
}

HeaderElement ParseElement(std::string_view element) {
  HeaderElement out;
  out.value = TrimBlanks(NextToken(element, ';'));
  while (!element.empty()) {
    std::string_view param = NextToken(element, ';');
    std::string_view key = TrimBlanks(NextToken(param, '='));
    if (EqualsIgnoringCase(key, "q")) {
      out.q = ParseQ(param);
    } else if (EqualsIgnoringCase(key, "version")) {
      out.version = Unquote(TrimBlanks(param));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Serialization.

// Longest number std::to_chars writes: shortest round-trip doubles need at
// most 24 characters, int64 at most 20.
constexpr std::size_t kMaxNumber = 32;

constexpr std::size_t kWriterChunk = 64 * 1024;

// Writes into the output string through a raw pointer: a scrape of a full
// peer table is hundreds of thousands of lines, and one bounds check per
// line beats one per token. std::string has no uninitialised resize, so
// room is made in 64 KiB chunks (each zero-filled once, while still in
// cache); the unused tail is trimmed on destruction, also when unwinding.
class Writer {
 public:
  explicit Writer(std::string& out)
      : out_(out), p_(out.data() + out.size()), limit_(p_) {}
  ~Writer() { out_.resize(static_cast<std::size_t>(p_ - out_.data())); }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Must precede each line's Put calls with an upper bound on its length.
  void Reserve(std::size_t bound) {
    if (static_cast<std::size_t>(limit_ - p_) >= bound) return;
    const auto used = static_cast<std::size_t>(p_ - out_.data());
    out_.resize(used + std::max(bound, kWriterChunk));
    p_ = out_.data() + used;
    limit_ = out_.data() + out_.size();
  }

  void Put(char c) { *p_++ = c; }
  void Put(std::string_view s) {
    if (s.empty()) return;  // data() may be null
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }

  // Backslash, newline and (when quote) double quote are escaped, so the
  // result is at most twice as long as s. Label values always use quote;
  // HELP text only in OpenMetrics.
  void PutEscaped(std::string_view s, bool quote) {
    for (const char c : s) {
      if (c == '\\' || (c == '"' && quote)) {
        *p_++ = '\\';
        *p_++ = c;
      } else if (c == '\n') {
        *p_++ = '\\';
        *p_++ = 'n';
      } else {
        *p_++ = c;
      }
    }
  }

  void PutNumber(double value) {
    if (std::isnan(value)) {
      Put("NaN");
    } else if (std::isinf(value)) {
      Put(value > 0 ? "+Inf" : "-Inf");
    } else if (value == std::trunc(value) && std::fabs(value) < 9.2e18) {
      // Counters and gauges are almost always whole numbers; printing them
      // as integers keeps "1000000" from becoming "1e+06".
      p_ = std::to_chars(p_, p_ + kMaxNumber, static_cast<int64_t>(value)).ptr;
    } else {
      p_ = std::to_chars(p_, p_ + kMaxNumber, value).ptr;
    }
  }

  void PutTimestamp(int64_t timestamp_ms, ExpositionFormat format) {
    if (timestamp_ms == 0) return;
    Put(' ');
    if (format == ExpositionFormat::kText004) {
      p_ = std::to_chars(p_, p_ + kMaxNumber, timestamp_ms).ptr;
    } else {
      // OpenMetrics timestamps are in seconds.
      p_ = std::to_chars(p_, p_ + kMaxNumber,
                         static_cast<double>(timestamp_ms) / 1000.0)
               .ptr;
    }
  }

 private:
  std::string& out_;
  char* p_;
  char* limit_;
};

// The most bytes a metric's label pairs can take: name="value", with every
// value character escaped.
std::size_t LabelsBound(
    const std::vector<prometheus::ClientMetric::Label>& labels) {
  std::size_t size = 0;
  for (const auto& label : labels) {
    size += label.name.size() + 2 * label.value.size() + 4;
  }
  return size;
}

// Room for one sample line: name, a suffix ("_bucket" at most), labels, an
// extra label ("quantile" at most), value and timestamp, punctuation.
constexpr std::size_t LineBound(std::size_t name_size,
                                std::size_t labels_bound) {
  return name_size + 7 + labels_bound + 8 + 3 * kMaxNumber + 16;
}

// name{labels} value [timestamp]\n, optionally with one extra label (le or
// quantile) whose value is a number. labels_bound is LabelsBound(labels).
void WriteSample(Writer& w, std::string_view name, std::string_view suffix,
                 const prometheus::ClientMetric& metric,
                 std::size_t labels_bound, double value,
                 ExpositionFormat format, std::string_view extra_label = {},
                 double extra_value = 0.0) {
  w.Reserve(LineBound(name.size(), labels_bound));
  w.Put(name);
  w.Put(suffix);
  if (!metric.label.empty() || !extra_label.empty()) {
    w.Put('{');
    bool first = true;
    for (const auto& label : metric.label) {
      if (!first) w.Put(',');
      first = false;
      w.Put(label.name);
      w.Put("=\"");
      w.PutEscaped(label.value, /*quote=*/true);
      w.Put('"');
    }
    if (!extra_label.empty()) {
      if (!first) w.Put(',');
      w.Put(extra_label);
      w.Put("=\"");
      w.PutNumber(extra_value);
      w.Put('"');
    }
    w.Put('}');
  }
  w.Put(' ');
  w.PutNumber(value);
  w.PutTimestamp(metric.timestamp_ms, format);
  w.Put('\n');
}

std::string_view TypeName(prometheus::MetricType type,
                          ExpositionFormat format) {
  switch (type) {
    case prometheus::MetricType::Counter:
      return "counter";
    case prometheus::MetricType::Gauge:
      return "gauge";
    case prometheus::MetricType::Summary:
      return "summary";
    case prometheus::MetricType::Histogram:
      return "histogram";
    case prometheus::MetricType::Untyped:
      break;
  }
  return format == ExpositionFormat::kText004 ? "untyped" : "unknown";
}

// Roughly how many bytes a family takes, to reserve the output once. The
// first metric stands in for the rest: an exact pass would read every label
// twice, and the line bounds it uses already carry generous slack. Only
// address space is reserved; pages are touched as lines are written.
std::size_t EstimateSize(const prometheus::MetricFamily& family) {
  std::size_t size = 2 * family.name.size() + 2 * family.help.size() + 64;
  if (family.metric.empty()) return size;
  const auto& first = family.metric.front();
  std::size_t lines = 1;
  if (family.type == prometheus::MetricType::Histogram) {
    lines = first.histogram.bucket.size() + 3;  // + "+Inf", _sum, _count
  } else if (family.type == prometheus::MetricType::Summary) {
    lines = first.summary.quantile.size() + 2;
  }
  return size + family.metric.size() * lines *
                    LineBound(family.name.size(), LabelsBound(first.label));
}

// The # HELP and # TYPE lines; returns the name samples are written with
// and the suffix counters' samples take in OpenMetrics.
std::pair<std::string_view, std::string_view> WriteFamilyHead(
    Writer& w, const prometheus::MetricFamily& family,
    ExpositionFormat format) {
  const bool open_metrics = format == ExpositionFormat::kOpenMetrics100;
  std::string_view name = family.name;
  std::string_view sample_suffix;
  if (family.type == prometheus::MetricType::Counter && open_metrics) {
    // OpenMetrics names the family without _total; its samples carry it.
    constexpr std::string_view kTotal = "_total";
    if (name.size() > kTotal.size() && name.ends_with(kTotal)) {
      name.remove_suffix(kTotal.size());
    }
    sample_suffix = kTotal;
  }

  // client_golang writes HELP before TYPE; OpenMetrics accepts either order.
  w.Reserve(2 * name.size() + 2 * family.help.size() + 64);
  if (!family.help.empty()) {
    w.Put("# HELP ");
    w.Put(name);
    w.Put(' ');
    w.PutEscaped(family.help, /*quote=*/open_metrics);
    w.Put('\n');
  }
  w.Put("# TYPE ");
  w.Put(name);
  w.Put(' ');
  w.Put(TypeName(family.type, format));
  w.Put('\n');
  return {name, sample_suffix};
}

void WriteFamily(Writer& w, const prometheus::MetricFamily& family,
                 ExpositionFormat format) {
  const auto [name, sample_suffix] = WriteFamilyHead(w, family, format);

  for (const auto& metric : family.metric) {
    const std::size_t labels = LabelsBound(metric.label);
    switch (family.type) {
      case prometheus::MetricType::Counter:
        WriteSample(w, name, sample_suffix, metric, labels,
                    metric.counter.value, format);
        break;
      case prometheus::MetricType::Gauge:
        WriteSample(w, name, {}, metric, labels, metric.gauge.value, format);
        break;
      case prometheus::MetricType::Untyped:
        WriteSample(w, name, {}, metric, labels, metric.untyped.value, format);
        break;
      case prometheus::MetricType::Summary: {
        const auto& summary = metric.summary;
        for (const auto& q : summary.quantile) {
          WriteSample(w, name, {}, metric, labels, q.value, format, "quantile",
                      q.quantile);
        }
        WriteSample(w, name, "_sum", metric, labels, summary.sample_sum,
                    format);
        WriteSample(w, name, "_count", metric, labels,
                    static_cast<double>(summary.sample_count), format);
        break;
      }
      case prometheus::MetricType::Histogram: {
        const auto& histogram = metric.histogram;
        bool has_inf = false;
        for (const auto& bucket : histogram.bucket) {
          has_inf = has_inf || std::isinf(bucket.upper_bound);
          WriteSample(w, name, "_bucket", metric, labels,
                      static_cast<double>(bucket.cumulative_count), format,
                      "le", bucket.upper_bound);
        }
        // Both formats require a +Inf bucket; prometheus-cpp always has
        // one, hand-built families might not.
        if (!has_inf) {
          WriteSample(w, name, "_bucket", metric, labels,
                      static_cast<double>(histogram.sample_count), format, "le",
                      HUGE_VAL);
        }
        WriteSample(w, name, "_sum", metric, labels, histogram.sample_sum,
                    format);
        WriteSample(w, name, "_count", metric, labels,
                    static_cast<double>(histogram.sample_count), format);
        break;
      }
    }
  }
}

}  // namespace

ExpositionFormat NegotiateFormat(std::string_view accept) {
  // Only an explicit text/plain entry competes with OpenMetrics: wildcards
  // say "anything will do", and an OpenMetrics entry is a stronger wish.
  double open_metrics_q = 0.0;
  double text_q = 0.0;
  while (!accept.empty()) {
    const HeaderElement element = ParseElement(NextToken(accept, ','));
    if (EqualsIgnoringCase(element.value, "application/openmetrics-text")) {
      if (element.version.empty() || element.version == "1.0.0" ||
          element.version == "0.0.1") {
        open_metrics_q = std::max(open_metrics_q, element.q);
      }
    } else if (EqualsIgnoringCase(element.value, "text/plain")) {
      text_q = std::max(text_q, element.q);
    }
  }
  if (open_metrics_q > 0.0 && open_metrics_q >= text_q) {
    return ExpositionFormat::kOpenMetrics100;
  }
  return ExpositionFormat::kText004;
}

bool AcceptsGzip(std::string_view accept_encoding) {
  // An explicit gzip entry decides; otherwise "*" does (RFC 9110 12.5.3).
  double gzip_q = -1.0;
  double wildcard_q = -1.0;
  while (!accept_encoding.empty()) {
    const HeaderElement element = ParseElement(NextToken(accept_encoding, ','));
    if (EqualsIgnoringCase(element.value, "gzip") ||
        EqualsIgnoringCase(element.value, "x-gzip")) {
      gzip_q = std::max(gzip_q, element.q);
    } else if (element.value == "*") {
      wildcard_q = std::max(wildcard_q, element.q);
    }
  }
  return gzip_q >= 0.0 ? gzip_q > 0.0 : wildcard_q > 0.0;
}

std::string_view ContentType(ExpositionFormat format) {
  return format == ExpositionFormat::kOpenMetrics100 ? kOpenMetricsContentType
                                                     : kTextContentType;
}

void AppendFamilies(std::span<const prometheus::MetricFamily> families,
                    ExpositionFormat format, std::string& out) {
  std::size_t size = out.size() + kWriterChunk;
  for (const auto& family : families) size += EstimateSize(family);
  out.reserve(size);
  AdviseHugePages(out.data(), out.capacity());
  Writer writer(out);
  for (const auto& family : families) WriteFamily(writer, family, format);
}

void AppendFamily(const StreamedFamily& streamed, ExpositionFormat format,
                  std::string& out) {
  const prometheus::MetricFamily& family = streamed.family;
  prometheus::ClientMetric sample;
  if (streamed.size > 0) {
    // The first sample stands in for the rest, as in EstimateSize.
    streamed.fill(0, sample);
    out.reserve(out.size() + kWriterChunk +
                streamed.size *
                    LineBound(family.name.size(), LabelsBound(sample.label)));
    AdviseHugePages(out.data(), out.capacity());
  }
  Writer writer(out);
  const auto [name, sample_suffix] = WriteFamilyHead(writer, family, format);
  for (std::size_t i = 0; i < streamed.size; ++i) {
    streamed.fill(i, sample);
    const double value = family.type == prometheus::MetricType::Counter
                             ? sample.counter.value
                             : sample.gauge.value;
    WriteSample(writer, name, sample_suffix, sample, LabelsBound(sample.label),
                value, format);
  }
}

void AppendEnd(ExpositionFormat format, std::string& out) {
  if (format == ExpositionFormat::kOpenMetrics100) out += "# EOF\n";
}

void Serialize(const std::vector<prometheus::MetricFamily>& families,
               ExpositionFormat format, std::string& out) {
  AppendFamilies(families, format, out);
  AppendEnd(format, out);
}

void Gzip(std::string_view data, std::string& out) {
  z_stream stream{};
  // Level 1: metrics text is so repetitive that the fastest level already
  // shrinks it ~12x, at less than half the time of the default level.
  if (deflateInit2(&stream, Z_BEST_SPEED, Z_DEFLATED, 16 + MAX_WBITS, 8,
                   Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error(std::string("gzip: deflateInit2: ") +
                             (stream.msg != nullptr ? stream.msg : "failed"));
  }
  // Grow as output arrives instead of sizing for deflateBound(): the bound
  // is larger than the input, and touching it all would cost resident
  // memory on every large scrape.
  out.resize(std::max<std::size_t>(data.size() / 8, 256));
  std::size_t written = 0;
  const auto* next_in = reinterpret_cast<const Bytef*>(data.data());
  std::size_t remaining_in = data.size();
  int rc = Z_OK;
  do {
    if (written == out.size()) out.resize(out.size() * 2);
    // avail_in/avail_out are 32-bit; feed at most 1 GiB per call.
    constexpr std::size_t kMaxStep = std::size_t{1} << 30;
    const std::size_t in_now = std::min(remaining_in, kMaxStep);
    const std::size_t out_now = std::min(out.size() - written, kMaxStep);
    stream.next_in = const_cast<Bytef*>(next_in);
    stream.avail_in = static_cast<uInt>(in_now);
    stream.next_out = reinterpret_cast<Bytef*>(out.data() + written);
    stream.avail_out = static_cast<uInt>(out_now);
    const int flush = in_now == remaining_in ? Z_FINISH : Z_NO_FLUSH;
    rc = deflate(&stream, flush);
    if (rc == Z_STREAM_ERROR) {
      deflateEnd(&stream);
      out.clear();
      throw std::runtime_error("gzip: deflate failed");
    }
    const std::size_t consumed = in_now - stream.avail_in;
    next_in += consumed;
    remaining_in -= consumed;
    written += out_now - stream.avail_out;
  } while (rc != Z_STREAM_END);
  deflateEnd(&stream);
  out.resize(written);
}

std::string Gzip(std::string_view data) {
  std::string out;
  Gzip(data, out);
  return out;
}

}  // namespace synwatch
