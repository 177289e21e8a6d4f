// SPDX-License-Identifier: Apache-2.0
#include "base/huge_pages.h"

#include <gtest/gtest.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>
#include <sys/mman.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "metrics/exposition.h"

namespace synwatch {
namespace {

// The VmFlags line of the mapping that holds address, from /proc/self/smaps
// ("hg" is MADV_HUGEPAGE).
std::string VmFlagsOf(const void* address) {
  const auto target = reinterpret_cast<std::uintptr_t>(address);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t begin = 0;
    std::uintptr_t end = 0;
    char dash = 0;
    std::istringstream range(line);
    if (range >> std::hex >> begin >> dash >> end && dash == '-') {
      inside = begin <= target && target < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return line;
    }
  }
  return "";
}

bool HasFlag(const std::string& vm_flags, const std::string& flag) {
  std::istringstream words(vm_flags);
  std::string word;
  while (words >> word) {
    if (word == flag) return true;
  }
  return false;
}

bool KernelHasThp() {
  void* probe = mmap(nullptr, kHugePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (probe == MAP_FAILED) return false;
  const bool ok = madvise(probe, kHugePageBytes, MADV_HUGEPAGE) == 0;
  munmap(probe, kHugePageBytes);
  return ok;
}

TEST(HugePagesTest, LargeScrapeTextIsAdvisedSmallIsNot) {
  if (!KernelHasThp()) GTEST_SKIP() << "kernel without transparent huge pages";
  StreamedFamily family;
  family.family.name = "synwatch_peer_syn_packets_total";
  family.family.help = "SYNs per peer.";
  family.family.type = prometheus::MetricType::Counter;
  family.fill = [](std::size_t i, prometheus::ClientMetric& sample) {
    sample.label = {{"peer", "2001:db8:" + std::to_string(i) + "::/64"}};
    sample.counter.value = static_cast<double>(i);
  };

  // A full table's worth: the reserve is well over kHugePageMinBuffer.
  family.size = 400000;
  std::string large;
  AppendFamily(family, ExpositionFormat::kText004, large);
  ASSERT_GE(large.capacity(), kHugePageMinBuffer);
  EXPECT_TRUE(HasFlag(VmFlagsOf(large.data() + large.capacity() / 2), "hg"))
      << VmFlagsOf(large.data() + large.capacity() / 2);

  // A small one stays on ordinary pages (its resident size is not rounded
  // up to 2 MiB steps).
  family.size = 1000;
  std::string small;
  AppendFamily(family, ExpositionFormat::kText004, small);
  ASSERT_LT(small.capacity(), kHugePageMinBuffer);
  EXPECT_FALSE(HasFlag(VmFlagsOf(small.data()), "hg"))
      << VmFlagsOf(small.data());
}

TEST(HugePagesTest, OnlyWholeAlignedPagesInsideTheBuffer) {
  if (!KernelHasThp()) GTEST_SKIP() << "kernel without transparent huge pages";
  // kHugePageMinBuffer bytes starting one ordinary page past a 2 MiB
  // boundary: the advice covers the whole huge pages inside, and neither
  // the partial one before them nor anything after the buffer.
  const std::size_t span = 12 * kHugePageBytes;
  void* region = mmap(nullptr, span, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(region, MAP_FAILED);
  const auto base = reinterpret_cast<std::uintptr_t>(region);
  const std::uintptr_t aligned =
      (base + kHugePageBytes - 1) & ~(kHugePageBytes - 1);
  const char* start =
      static_cast<const char*>(region) + (aligned - base) + 4096;
  AdviseHugePages(start, kHugePageMinBuffer);
  EXPECT_FALSE(HasFlag(VmFlagsOf(start), "hg"));  // before the first boundary
  EXPECT_TRUE(HasFlag(VmFlagsOf(start + kHugePageBytes), "hg"));
  EXPECT_FALSE(HasFlag(VmFlagsOf(start + kHugePageMinBuffer), "hg"));
  munmap(region, span);
}

}  // namespace
}  // namespace synwatch
