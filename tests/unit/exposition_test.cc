// SPDX-License-Identifier: Apache-2.0
#include "metrics/exposition.h"

#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <zlib.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace synwatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric Sample(std::vector<ClientMetric::Label> labels, double value,
                    MetricType type) {
  ClientMetric metric;
  metric.label = std::move(labels);
  switch (type) {
    case MetricType::Counter:
      metric.counter.value = value;
      break;
    case MetricType::Gauge:
      metric.gauge.value = value;
      break;
    default:
      metric.untyped.value = value;
      break;
  }
  return metric;
}

std::vector<MetricFamily> SynFamilies() {
  MetricFamily syn;
  syn.name = "synwatch_syn_packets_total";
  syn.help = "SYN packets by outcome and action.";
  syn.type = MetricType::Counter;
  syn.metric.push_back(Sample(
      {{"interface", "eth0"}, {"outcome", "unmatched"}, {"action", "pass"}}, 5,
      MetricType::Counter));
  syn.metric.push_back(
      Sample({{"interface", "eth0"}, {"outcome", "denied"}, {"action", "drop"}},
             1000000, MetricType::Counter));

  MetricFamily blocked;
  blocked.name = "synwatch_blocked_peers";
  blocked.help = "Peers in the block table now.";
  blocked.type = MetricType::Gauge;
  blocked.metric.push_back(Sample({}, 3, MetricType::Gauge));
  return {syn, blocked};
}

std::string ToText(const std::vector<MetricFamily>& families) {
  std::string out;
  Serialize(families, ExpositionFormat::kText004, out);
  return out;
}

std::string ToOpenMetrics(const std::vector<MetricFamily>& families) {
  std::string out;
  Serialize(families, ExpositionFormat::kOpenMetrics100, out);
  return out;
}

std::string Gunzip(std::string_view data) {
  z_stream stream{};
  if (inflateInit2(&stream, 16 + MAX_WBITS) != Z_OK) {
    throw std::runtime_error("inflateInit2");
  }
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  stream.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    stream.next_out = reinterpret_cast<Bytef*>(buf);
    stream.avail_out = sizeof(buf);
    rc = inflate(&stream, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&stream);
      throw std::runtime_error("inflate failed");
    }
    out.append(buf, sizeof(buf) - stream.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&stream);
  return out;
}

TEST(ExpositionTest, TextGolden) {
  EXPECT_EQ(ToText(SynFamilies()),
            "# HELP synwatch_syn_packets_total SYN packets by outcome and "
            "action.\n"
            "# TYPE synwatch_syn_packets_total counter\n"
            "synwatch_syn_packets_total{interface=\"eth0\",outcome="
            "\"unmatched\",action=\"pass\"} 5\n"
            "synwatch_syn_packets_total{interface=\"eth0\",outcome="
            "\"denied\",action=\"drop\"} 1000000\n"
            "# HELP synwatch_blocked_peers Peers in the block table now.\n"
            "# TYPE synwatch_blocked_peers gauge\n"
            "synwatch_blocked_peers 3\n");
}

TEST(ExpositionTest, OpenMetricsGolden) {
  EXPECT_EQ(ToOpenMetrics(SynFamilies()),
            "# HELP synwatch_syn_packets SYN packets by outcome and "
            "action.\n"
            "# TYPE synwatch_syn_packets counter\n"
            "synwatch_syn_packets_total{interface=\"eth0\",outcome="
            "\"unmatched\",action=\"pass\"} 5\n"
            "synwatch_syn_packets_total{interface=\"eth0\",outcome="
            "\"denied\",action=\"drop\"} 1000000\n"
            "# HELP synwatch_blocked_peers Peers in the block table now.\n"
            "# TYPE synwatch_blocked_peers gauge\n"
            "synwatch_blocked_peers 3\n"
            "# EOF\n");
}

TEST(ExpositionTest, OpenMetricsCounterWithoutTotalGetsSuffix) {
  MetricFamily family;
  family.name = "odd_counter";
  family.type = MetricType::Counter;
  family.metric.push_back(Sample({}, 2, MetricType::Counter));
  EXPECT_EQ(ToOpenMetrics({family}),
            "# TYPE odd_counter counter\nodd_counter_total 2\n# EOF\n");
  EXPECT_EQ(ToText({family}), "# TYPE odd_counter counter\nodd_counter 2\n");
}

TEST(ExpositionTest, UntypedIsUnknownInOpenMetrics) {
  MetricFamily family;
  family.name = "thing";
  family.help = "A thing.";
  family.type = MetricType::Untyped;
  family.metric.push_back(Sample({{"a", "b"}}, 1.5, MetricType::Untyped));
  EXPECT_EQ(ToText({family}),
            "# HELP thing A thing.\n# TYPE thing untyped\nthing{a=\"b\"} "
            "1.5\n");
  EXPECT_EQ(ToOpenMetrics({family}),
            "# HELP thing A thing.\n# TYPE thing unknown\nthing{a=\"b\"} "
            "1.5\n# EOF\n");
}

TEST(ExpositionTest, EscapesLabelValues) {
  MetricFamily family;
  family.name = "g";
  family.type = MetricType::Gauge;
  family.metric.push_back(
      Sample({{"path", R"(C:\dir)"}, {"quote", "say \"hi\""}, {"nl", "a\nb"}},
             1, MetricType::Gauge));
  const std::string expected =
      R"(g{path="C:\\dir",quote="say \"hi\"",nl="a\nb"} 1)"
      "\n";
  EXPECT_EQ(ToText({family}), "# TYPE g gauge\n" + expected);
  EXPECT_EQ(ToOpenMetrics({family}), "# TYPE g gauge\n" + expected + "# EOF\n");
}

TEST(ExpositionTest, EscapesHelpPerFormat) {
  MetricFamily family;
  family.name = "g";
  family.help = "back\\slash \"quoted\"\nnext line";
  family.type = MetricType::Gauge;
  // The 0.0.4 format escapes only backslash and newline in HELP;
  // OpenMetrics escapes the double quote as well.
  EXPECT_EQ(ToText({family}),
            "# HELP g back\\\\slash \"quoted\"\\nnext line\n"
            "# TYPE g gauge\n");
  EXPECT_EQ(ToOpenMetrics({family}),
            "# HELP g back\\\\slash \\\"quoted\\\"\\nnext line\n"
            "# TYPE g gauge\n# EOF\n");
}

TEST(ExpositionTest, FormatsNumbers) {
  struct Case {
    double value;
    const char* text;
  };
  const Case cases[] = {
      {0, "0"},
      {5, "5"},
      {-3, "-3"},
      {1000000, "1000000"},
      {123456789012345.0, "123456789012345"},
      {0.5, "0.5"},
      {0.1, "0.1"},
      {1e-7, "1e-07"},
      {1e20, "1e+20"},
      {std::numeric_limits<double>::infinity(), "+Inf"},
      {-std::numeric_limits<double>::infinity(), "-Inf"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
  };
  for (const Case& c : cases) {
    MetricFamily family;
    family.name = "g";
    family.type = MetricType::Gauge;
    family.metric.push_back(Sample({}, c.value, MetricType::Gauge));
    EXPECT_EQ(ToText({family}),
              std::string("# TYPE g gauge\ng ") + c.text + "\n")
        << c.text;
  }
}

TEST(ExpositionTest, TimestampsInMillisecondsOrSeconds) {
  MetricFamily family;
  family.name = "g";
  family.type = MetricType::Gauge;
  ClientMetric metric = Sample({}, 1, MetricType::Gauge);
  metric.timestamp_ms = 1700000000123;
  family.metric.push_back(metric);
  EXPECT_EQ(ToText({family}), "# TYPE g gauge\ng 1 1700000000123\n");
  EXPECT_EQ(ToOpenMetrics({family}),
            "# TYPE g gauge\ng 1 1700000000.123\n# EOF\n");
}

TEST(ExpositionTest, HistogramGolden) {
  MetricFamily family;
  family.name = "latency_seconds";
  family.help = "Latency.";
  family.type = MetricType::Histogram;
  ClientMetric metric;
  metric.label = {{"op", "read"}};
  metric.histogram.sample_count = 4;
  metric.histogram.sample_sum = 2.5;
  metric.histogram.bucket = {
      {1, 0.1}, {3, 1}, {4, std::numeric_limits<double>::infinity()}};
  family.metric.push_back(metric);
  const std::string samples =
      "latency_seconds_bucket{op=\"read\",le=\"0.1\"} 1\n"
      "latency_seconds_bucket{op=\"read\",le=\"1\"} 3\n"
      "latency_seconds_bucket{op=\"read\",le=\"+Inf\"} 4\n"
      "latency_seconds_sum{op=\"read\"} 2.5\n"
      "latency_seconds_count{op=\"read\"} 4\n";
  EXPECT_EQ(ToText({family}),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n" +
                samples);
  EXPECT_EQ(ToOpenMetrics({family}),
            "# HELP latency_seconds Latency.\n"
            "# TYPE latency_seconds histogram\n" +
                samples + "# EOF\n");
}

TEST(ExpositionTest, HistogramWithoutInfBucketGetsOne) {
  MetricFamily family;
  family.name = "h";
  family.type = MetricType::Histogram;
  ClientMetric metric;
  metric.histogram.sample_count = 2;
  metric.histogram.sample_sum = 7;
  metric.histogram.bucket = {{1, 5}};
  family.metric.push_back(metric);
  EXPECT_EQ(ToText({family}),
            "# TYPE h histogram\n"
            "h_bucket{le=\"5\"} 1\n"
            "h_bucket{le=\"+Inf\"} 2\n"
            "h_sum 7\n"
            "h_count 2\n");
}

TEST(ExpositionTest, SummaryGolden) {
  MetricFamily family;
  family.name = "rpc_seconds";
  family.type = MetricType::Summary;
  ClientMetric metric;
  metric.summary.sample_count = 10;
  metric.summary.sample_sum = 1.25;
  metric.summary.quantile = {{0.5, 0.1}, {0.99, 0.75}};
  family.metric.push_back(metric);
  EXPECT_EQ(ToText({family}),
            "# TYPE rpc_seconds summary\n"
            "rpc_seconds{quantile=\"0.5\"} 0.1\n"
            "rpc_seconds{quantile=\"0.99\"} 0.75\n"
            "rpc_seconds_sum 1.25\n"
            "rpc_seconds_count 10\n");
}

TEST(ExpositionTest, EmptyInput) {
  EXPECT_EQ(ToText({}), "");
  EXPECT_EQ(ToOpenMetrics({}), "# EOF\n");
}

TEST(ExpositionTest, AppendsToExistingBuffer) {
  std::string out = "prefix\n";
  Serialize(SynFamilies(), ExpositionFormat::kText004, out);
  EXPECT_EQ(out, "prefix\n" + ToText(SynFamilies()));
}

TEST(ExpositionTest, ContentTypes) {
  EXPECT_EQ(ContentType(ExpositionFormat::kText004),
            "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(ContentType(ExpositionFormat::kOpenMetrics100),
            "application/openmetrics-text; version=1.0.0; charset=utf-8");
}

TEST(ExpositionTest, NegotiatesFormat) {
  constexpr auto kText = ExpositionFormat::kText004;
  constexpr auto kOpenMetrics = ExpositionFormat::kOpenMetrics100;
  struct Case {
    std::string_view accept;
    ExpositionFormat want;
  };
  const Case cases[] = {
      {"", kText},
      // Prometheus 2.x/3.x scrape header.
      {"application/openmetrics-text;version=1.0.0,application/"
       "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,"
       "*/*;q=0.1",
       kOpenMetrics},
      // Older Prometheus.
      {"application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;"
       "q=0.5,*/*;q=0.1",
       kOpenMetrics},
      // Prometheus with scrape_protocols preferring the text format.
      {"text/plain;version=0.0.4;q=1,application/"
       "openmetrics-text;version=1.0.0;q=0.5",
       kText},
      // Firefox and Chrome.
      {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
       "image/webp,*/*;q=0.8",
       kText},
      {"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
       "image/webp,image/apng,*/*;q=0.8,application/"
       "signed-exchange;v=b3;q=0.7",
       kText},
      {"*/*", kText},  // curl
      {"text/plain", kText},
      {"application/openmetrics-text", kOpenMetrics},
      {"APPLICATION/OpenMetrics-Text ; Version=1.0.0", kOpenMetrics},
      {"application/openmetrics-text; version=1.0.0; charset=utf-8",
       kOpenMetrics},
      {"application/openmetrics-text;q=0", kText},
      {"application/openmetrics-text;q=0.0,*/*", kText},
      {"application/openmetrics-text;q=0.3,*/*", kOpenMetrics},
      {"application/openmetrics-text;q=bogus", kText},
      {"application/openmetrics-text;version=2.0.0", kText},
      {"application/openmetrics-text, text/plain", kOpenMetrics},
      {"text/plain;q=0.9, application/openmetrics-text;q=0.8", kText},
      {" , ;, application/openmetrics-text ,", kOpenMetrics},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NegotiateFormat(c.accept), c.want) << "Accept: " << c.accept;
  }
}

TEST(ExpositionTest, AcceptsGzip) {
  struct Case {
    std::string_view accept_encoding;
    bool want;
  };
  const Case cases[] = {
      {"", false},
      {"gzip", true},
      {"gzip, deflate, br", true},  // browsers
      {"deflate, gzip;q=1.0, *;q=0.5", true},
      {"identity", false},
      {"deflate", false},
      {"*", true},
      {"*;q=0", false},
      {"gzip;q=0", false},
      {"gzip;q=0, *", false},
      {"GZIP;q=0.5", true},
      {"x-gzip", true},
      {"br;q=1.0, gzip;q=0.8, *;q=0.1", true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(AcceptsGzip(c.accept_encoding), c.want)
        << "Accept-Encoding: " << c.accept_encoding;
  }
}

TEST(ExpositionTest, GzipRoundTrip) {
  const std::string text = ToText(SynFamilies());
  const std::string compressed = Gzip(text);
  ASSERT_GE(compressed.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(compressed[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(compressed[1]), 0x8b);
  EXPECT_EQ(Gunzip(compressed), text);
}

TEST(ExpositionTest, GzipRoundTripLargeAndEmpty) {
  MetricFamily family;
  family.name = "synwatch_peer_syn_packets_total";
  family.type = MetricType::Counter;
  for (int i = 0; i < 20000; ++i) {
    family.metric.push_back(Sample({{"peer", "192.0.2." + std::to_string(i)}},
                                   i, MetricType::Counter));
  }
  const std::string text = ToOpenMetrics({family});
  const std::string compressed = Gzip(text);
  EXPECT_LT(compressed.size(), text.size() / 4);
  EXPECT_EQ(Gunzip(compressed), text);
  EXPECT_EQ(Gunzip(Gzip("")), "");
}

}  // namespace
}  // namespace synwatch
