// SPDX-License-Identifier: Apache-2.0
// The interfaces as their readers see them: a copy taken when asked, so the
// map reader and the event reader never hold the attach manager's lock nor
// know its type (docs/architecture.md, "The rooms"). xdp/interfaces.cc fills
// it; main.cc hands the snapshot function over.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/abi.h"

namespace synwatch {

struct InterfaceView {
  std::string name;
  uint32_t ifindex = 0;
  bool attached = false;
  uint32_t slot = SW_IF_UNKNOWN;  // its entry in if_stats
  std::string mode;  // attached mode, or the configured one while not attached
  std::string attach = "direct";  // or "dispatcher" (libxdp's)
  uint32_t run_priority = 0;      // in the dispatcher's chain
};

using InterfaceSnapshot = std::function<std::vector<InterfaceView>()>;

// The name of an interface synwatch does not know (any more): "ifindex7".
inline std::string UnknownInterfaceName(uint32_t ifindex) {
  return "ifindex" + std::to_string(ifindex);
}

// The name of ifindex in views, else UnknownInterfaceName(ifindex).
inline std::string InterfaceName(const std::vector<InterfaceView>& views,
                                 uint32_t ifindex) {
  for (const InterfaceView& v : views) {
    if (v.ifindex == ifindex) return v.name;
  }
  return UnknownInterfaceName(ifindex);
}

}  // namespace synwatch
