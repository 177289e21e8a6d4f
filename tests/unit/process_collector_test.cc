// SPDX-License-Identifier: Apache-2.0
#include "metrics/process_collector.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace synwatch {
namespace {

using prometheus::MetricType;

std::optional<double> Value(
    const std::vector<prometheus::MetricFamily>& families,
    const std::string& name, MetricType type) {
  for (const auto& family : families) {
    if (family.name != name) continue;
    EXPECT_EQ(family.type, type) << name;
    EXPECT_FALSE(family.help.empty()) << name;
    EXPECT_EQ(family.metric.size(), 1u) << name;
    if (family.metric.empty()) return std::nullopt;
    return type == MetricType::Counter ? family.metric[0].counter.value
                                       : family.metric[0].gauge.value;
  }
  return std::nullopt;
}

TEST(ProcessCollectorTest, ReportsAllMetrics) {
  const auto families = ProcessCollector().Collect();
  EXPECT_EQ(families.size(), 6u);
  for (const char* name :
       {"process_cpu_seconds_total", "process_resident_memory_bytes",
        "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
        "process_start_time_seconds"}) {
    bool found = false;
    for (const auto& family : families) found = found || family.name == name;
    EXPECT_TRUE(found) << name;
  }
}

TEST(ProcessCollectorTest, ValuesAreSane) {
  const auto families = ProcessCollector().Collect();
  const auto cpu =
      Value(families, "process_cpu_seconds_total", MetricType::Counter);
  const auto rss =
      Value(families, "process_resident_memory_bytes", MetricType::Gauge);
  const auto vsize =
      Value(families, "process_virtual_memory_bytes", MetricType::Gauge);
  const auto open_fds = Value(families, "process_open_fds", MetricType::Gauge);
  const auto max_fds = Value(families, "process_max_fds", MetricType::Gauge);
  const auto start =
      Value(families, "process_start_time_seconds", MetricType::Gauge);
  ASSERT_TRUE(cpu && rss && vsize && open_fds && max_fds && start);

  EXPECT_GE(*cpu, 0.0);
  EXPECT_GT(*rss, 0.0);
  EXPECT_GE(*vsize, *rss);
  EXPECT_GT(*open_fds, 0.0);
  EXPECT_GE(*max_fds, *open_fds);

  const double now = std::chrono::duration<double>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
  EXPECT_LE(*start, now + 1.0);
  EXPECT_GT(*start, now - 86400.0);
}

TEST(ProcessCollectorTest, CountsOpenFds) {
  const ProcessCollector collector;
  const auto before =
      Value(collector.Collect(), "process_open_fds", MetricType::Gauge);
  const int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  const auto during =
      Value(collector.Collect(), "process_open_fds", MetricType::Gauge);
  close(fd);
  ASSERT_TRUE(before && during);
  EXPECT_EQ(*during, *before + 1);
  // Collecting leaks nothing.
  EXPECT_EQ(*Value(collector.Collect(), "process_open_fds", MetricType::Gauge),
            *before);
}

TEST(ProcessCollectorTest, CpuTimeGrows) {
  const ProcessCollector collector;
  const auto before = Value(collector.Collect(), "process_cpu_seconds_total",
                            MetricType::Counter);
  // Burn 30 ms of CPU (three clock ticks at USER_HZ=100), measured as CPU
  // time rather than wall time so a loaded machine cannot starve the loop.
  const auto cpu_now = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) +
           static_cast<double>(ts.tv_nsec) / 1e9;
  };
  const double cpu_until = cpu_now() + 0.03;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  volatile unsigned spin = 0;
  while (cpu_now() < cpu_until && std::chrono::steady_clock::now() < deadline) {
    spin = spin + 1;
  }
  const auto after = Value(collector.Collect(), "process_cpu_seconds_total",
                           MetricType::Counter);
  ASSERT_TRUE(before && after);
  EXPECT_GT(*after, *before);
}

}  // namespace
}  // namespace synwatch
