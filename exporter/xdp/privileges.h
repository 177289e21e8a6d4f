// SPDX-License-Identifier: Apache-2.0
// Least privilege: once the program is loaded, pinned and attached and the
// listener is bound, synwatch keeps only the capabilities it still uses.
#pragma once

#include <cstdint>
#include <string>

#include "config/config.h"

namespace synwatch {

// Capability sets of this process, as bit masks (bit n = capability n).
struct CapabilitySets {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
};
CapabilitySets CurrentCapabilities();

// The capabilities a running synwatch keeps effective:
//   CAP_BPF        every scrape reads maps with bpf(2), which needs it while
//                  kernel.unprivileged_bpf_disabled is set (Debian's default);
//   CAP_NET_ADMIN  attaching XDP again: an interface added on reload, or one
//                  that comes back after it was deleted.
// Dropped: CAP_PERFMON (only the verifier needs it, at load), CAP_SYS_ADMIN
// (mounting bpffs, at start), and everything else.
uint64_t RuntimeCapabilities();

// With xdp.attach = "dispatcher", libxdp re-attaches (reload, hotplug) and
// detaches by changing the dispatcher, which needs three more:
//   CAP_SYS_ADMIN     libxdp reads the dispatcher's programs by id
//                     (BPF_PROG_GET_FD_BY_ID is CAP_SYS_ADMIN only);
//   CAP_PERFMON       a component program is an extension (freplace)
//                     program, which only CAP_PERFMON may load;
//   CAP_DAC_OVERRIDE  libxdp's state under /sys/fs/bpf/xdp belongs to
//                     whoever made the dispatcher first (root, for
//                     xdp-filter).
// synwatch keeps them permitted but not effective, and raises them only
// around its calls into libxdp (ScopedCapabilities), in the thread that
// makes them; 0 with direct attach.
uint64_t LibxdpCapabilities(XdpAttach attach);

// Reduces the effective set to effective and the permitted set to
// effective | permitted_only (both intersected with what is permitted now),
// clears the inheritable and ambient sets and, when allowed (CAP_SETPCAP),
// drops the rest of the bounding set, so nothing else can be regained.
// Capabilities are per thread: call it before any thread starts, so that
// every later thread inherits the reduced sets. Returns the names of what
// was dropped from the permitted set ("CAP_PERFMON CAP_SYS_ADMIN"), or ""
// when nothing was. Throws std::runtime_error when capset fails.
std::string DropCapabilitiesExcept(uint64_t effective,
                                   uint64_t permitted_only = 0);

// Raises caps (those of them this thread may: its permitted set) into the
// calling thread's effective set for the lifetime of the scope, and lowers
// again, at its end, what it raised. Other threads never see them: a scrape
// served meanwhile runs without. Nests: an inner scope lowers only what it
// raised. A capset that fails raises nothing (the privileged call then
// fails with EPERM and says so). A thread started inside a scope would
// inherit what it raised: start none there.
class ScopedCapabilities {
 public:
  explicit ScopedCapabilities(uint64_t caps);
  ~ScopedCapabilities();
  ScopedCapabilities(const ScopedCapabilities&) = delete;
  ScopedCapabilities& operator=(const ScopedCapabilities&) = delete;

  // What this scope raised (and will lower).
  uint64_t raised() const { return raised_; }

 private:
  uint64_t raised_ = 0;
};

// "CAP_BPF CAP_NET_ADMIN" for a mask (unknown bits as "cap_<n>").
std::string CapabilityNames(uint64_t mask);

}  // namespace synwatch
