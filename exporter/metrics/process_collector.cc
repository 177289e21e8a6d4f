// SPDX-License-Identifier: Apache-2.0
#include "metrics/process_collector.h"

#include <dirent.h>
#include <fcntl.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "base/unique_fd.h"
#include "metrics/family.h"

namespace synwatch {
namespace {

int OpenReadOnly(const char* path, int extra_flags = 0) {
  int fd;
  do {
    fd = open(path, O_RDONLY | O_CLOEXEC | extra_flags);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

ssize_t ReadSome(int fd, char* buf, std::size_t size) {
  ssize_t n;
  do {
    n = read(fd, buf, size);
  } while (n < 0 && errno == EINTR);
  return n;
}

// Reads a small file (one read is enough for /proc/self/stat) into buf:
// no allocation on the scrape path (base/file.h allocates).
std::optional<std::string_view> ReadIntoBuffer(const char* path, char* buf,
                                               std::size_t size) {
  const UniqueFd fd(OpenReadOnly(path));
  if (fd.get() < 0) return std::nullopt;
  std::size_t total = 0;
  while (total < size) {
    const ssize_t n = ReadSome(fd.get(), buf + total, size - total);
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    total += static_cast<std::size_t>(n);
  }
  return std::string_view(buf, total);
}

template <typename T>
bool ParseNumber(std::string_view text, T& value) {
  const auto [ptr, ec] =
      std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && ptr == text.data() + text.size();
}

struct Stat {
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t start_ticks = 0;  // since boot
  uint64_t vsize_bytes = 0;
  uint64_t rss_pages = 0;
};

// /proc/self/stat; the command name may contain spaces and ')', so fields
// are counted from the last ')'.
std::optional<Stat> ReadStat() {
  char buf[1024];
  const auto text = ReadIntoBuffer("/proc/self/stat", buf, sizeof(buf));
  if (!text) return std::nullopt;
  const std::size_t paren = text->rfind(')');
  if (paren == std::string_view::npos) return std::nullopt;
  std::string_view rest = text->substr(paren + 1);

  // Field numbers as in proc(5); the first after ')' is 3 (state).
  constexpr int kUtime = 14, kStime = 15, kStartTime = 22, kVsize = 23,
                kRss = 24;
  Stat stat;
  int field = 2;
  int found = 0;
  while (!rest.empty() && field < kRss) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::size_t end = std::min(rest.find_first_of(" \n"), rest.size());
    const std::string_view token = rest.substr(0, end);
    rest.remove_prefix(end);
    ++field;
    uint64_t* target = nullptr;
    switch (field) {
      case kUtime:
        target = &stat.utime_ticks;
        break;
      case kStime:
        target = &stat.stime_ticks;
        break;
      case kStartTime:
        target = &stat.start_ticks;
        break;
      case kVsize:
        target = &stat.vsize_bytes;
        break;
      case kRss:
        target = &stat.rss_pages;
        break;
      default:
        continue;
    }
    if (!ParseNumber(token, *target)) return std::nullopt;
    ++found;
  }
  if (found != 5) return std::nullopt;
  return stat;
}

// Boot time in seconds since the epoch, from the clocks rather than the
// "btime" line of /proc/stat: the systemd unit runs with ProcSubset=pid, which
// hides /proc/stat. /proc/self/stat's starttime counts from boot including
// suspend, which is CLOCK_BOOTTIME.
std::optional<double> ReadBootTime() {
  timespec real{};
  timespec boot{};
  if (clock_gettime(CLOCK_REALTIME, &real) != 0 ||
      clock_gettime(CLOCK_BOOTTIME, &boot) != 0) {
    return std::nullopt;
  }
  return static_cast<double>(real.tv_sec - boot.tv_sec) +
         static_cast<double>(real.tv_nsec - boot.tv_nsec) / 1e9;
}

// Counts /proc/self/fd with getdents64 into a stack buffer: no DIR*
// allocation, and the directory's own fd is not counted.
std::optional<uint64_t> CountOpenFds() {
  const UniqueFd dir(OpenReadOnly("/proc/self/fd", O_DIRECTORY));
  if (dir.get() < 0) return std::nullopt;
  alignas(dirent64) char buf[4096];
  uint64_t count = 0;
  for (;;) {
    const ssize_t n = getdents64(dir.get(), buf, sizeof(buf));
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    for (ssize_t offset = 0; offset < n;) {
      const auto* entry = reinterpret_cast<const dirent64*>(buf + offset);
      offset += entry->d_reclen;
      const std::string_view name(entry->d_name);
      if (name.empty() || name.front() == '.') continue;
      int fd = -1;
      if (ParseNumber(name, fd) && fd == dir.get()) continue;
      ++count;
    }
  }
  return count;
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  // Help strings match client_golang's, so dashboards read the same.
  std::vector<prometheus::MetricFamily> families;
  families.reserve(6);
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  const long page_size = sysconf(_SC_PAGESIZE);
  const std::optional<Stat> stat = ReadStat();
  if (stat && ticks_per_second > 0) {
    const double ticks = static_cast<double>(ticks_per_second);
    families.push_back(SingleSampleFamily(
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        prometheus::MetricType::Counter,
        static_cast<double>(stat->utime_ticks + stat->stime_ticks) / ticks));
    if (const auto boot = ReadBootTime()) {
      families.push_back(SingleSampleFamily(
          "process_start_time_seconds",
          "Start time of the process since unix epoch in seconds.",
          prometheus::MetricType::Gauge,
          *boot + static_cast<double>(stat->start_ticks) / ticks));
    }
  }
  if (stat) {
    families.push_back(SingleSampleFamily(
        "process_virtual_memory_bytes", "Virtual memory size in bytes.",
        prometheus::MetricType::Gauge, static_cast<double>(stat->vsize_bytes)));
    if (page_size > 0) {
      families.push_back(SingleSampleFamily(
          "process_resident_memory_bytes", "Resident memory size in bytes.",
          prometheus::MetricType::Gauge,
          static_cast<double>(stat->rss_pages) *
              static_cast<double>(page_size)));
    }
  }
  if (const auto open_fds = CountOpenFds()) {
    families.push_back(SingleSampleFamily(
        "process_open_fds", "Number of open file descriptors.",
        prometheus::MetricType::Gauge, static_cast<double>(*open_fds)));
  }
  // getrlimit gives the soft limit /proc/self/limits shows, without parsing.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
      limit.rlim_cur != RLIM_INFINITY) {
    families.push_back(SingleSampleFamily(
        "process_max_fds", "Maximum number of open file descriptors.",
        prometheus::MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
  }
  return families;
}

}  // namespace synwatch
