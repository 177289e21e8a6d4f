// SPDX-License-Identifier: Apache-2.0
// The one way synwatch builds a metric family: its own synwatch_* metrics
// (collector.cc), the process_* ones (process_collector.cc) and the
// synwatch_http_* ones (web/http_metrics.cc).
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <string>
#include <vector>

namespace synwatch {

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);

// Appends a sample; the value goes where the family's type (counter or
// gauge) keeps it.
void AddSample(prometheus::MetricFamily& family, double value,
               std::vector<prometheus::ClientMetric::Label> labels = {});

// A family of one sample without labels.
prometheus::MetricFamily SingleSampleFamily(std::string name, std::string help,
                                            prometheus::MetricType type,
                                            double value);

}  // namespace synwatch
