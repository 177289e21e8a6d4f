// SPDX-License-Identifier: Apache-2.0
#include "metrics/family.h"

#include <utility>

namespace synwatch {

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddSample(prometheus::MetricFamily& family, double value,
               std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  if (family.type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  family.metric.push_back(std::move(m));
}

prometheus::MetricFamily SingleSampleFamily(std::string name, std::string help,
                                            prometheus::MetricType type,
                                            double value) {
  prometheus::MetricFamily f =
      MakeFamily(std::move(name), std::move(help), type);
  AddSample(f, value);
  return f;
}

}  // namespace synwatch
