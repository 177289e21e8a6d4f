// SPDX-License-Identifier: Apache-2.0
// The standard process_* metrics of Prometheus client libraries, read from
// /proc/self on each scrape.
#pragma once

#include <prometheus/metric_family.h>

#include <vector>

namespace synwatch {

class ProcessCollector {
 public:
  // process_cpu_seconds_total, process_resident_memory_bytes,
  // process_virtual_memory_bytes, process_open_fds, process_max_fds,
  // process_start_time_seconds. A value that cannot be read is left out.
  std::vector<prometheus::MetricFamily> Collect() const;
};

}  // namespace synwatch
