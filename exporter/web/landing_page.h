// SPDX-License-Identifier: Apache-2.0
// The "/" page: links to the metrics path, health and readiness, and the
// version.
#pragma once

#include <string>
#include <string_view>

namespace synwatch {

std::string LandingPage(std::string_view metrics_path,
                        std::string_view version);

}  // namespace synwatch
