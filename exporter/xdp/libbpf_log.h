// SPDX-License-Identifier: Apache-2.0
// libbpf's own messages, routed into spdlog one level down.
#pragma once

namespace synwatch {

// Call once, after SetUpLogging (base/logging.h).
void RouteLibbpfLog();

}  // namespace synwatch
