// SPDX-License-Identifier: Apache-2.0
#include "xdp/privileges.h"

#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace synwatch {
namespace {

// capget/capset without libcap: two 32-bit words per set (version 3).
bool GetCaps(__user_cap_data_struct data[2]) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  return syscall(SYS_capget, &header, data) == 0;
}

// Sets this thread's capability sets.
bool SetCaps(uint64_t effective, uint64_t permitted, uint64_t inheritable = 0) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  data[0].effective = static_cast<uint32_t>(effective);
  data[1].effective = static_cast<uint32_t>(effective >> 32);
  data[0].permitted = static_cast<uint32_t>(permitted);
  data[1].permitted = static_cast<uint32_t>(permitted >> 32);
  data[0].inheritable = static_cast<uint32_t>(inheritable);
  data[1].inheritable = static_cast<uint32_t>(inheritable >> 32);
  return syscall(SYS_capset, &header, data) == 0;
}

uint64_t Join(uint32_t low, uint32_t high) {
  return (static_cast<uint64_t>(high) << 32) | low;
}

constexpr const char* kNames[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

}  // namespace

CapabilitySets CurrentCapabilities() {
  __user_cap_data_struct data[2]{};
  CapabilitySets sets;
  if (!GetCaps(data)) return sets;
  sets.effective = Join(data[0].effective, data[1].effective);
  sets.permitted = Join(data[0].permitted, data[1].permitted);
  sets.inheritable = Join(data[0].inheritable, data[1].inheritable);
  return sets;
}

uint64_t RuntimeCapabilities() {
  return (uint64_t{1} << CAP_BPF) | (uint64_t{1} << CAP_NET_ADMIN);
}

uint64_t LibxdpCapabilities(XdpAttach attach) {
  if (attach == XdpAttach::kDirect) return 0;
  return (uint64_t{1} << CAP_SYS_ADMIN) | (uint64_t{1} << CAP_PERFMON) |
         (uint64_t{1} << CAP_DAC_OVERRIDE);
}

std::string CapabilityNames(uint64_t mask) {
  std::string out;
  for (unsigned cap = 0; cap < 64; ++cap) {
    if ((mask & (uint64_t{1} << cap)) == 0) continue;
    if (!out.empty()) out += ' ';
    out += cap < std::size(kNames) ? std::string(kNames[cap])
                                   : "cap_" + std::to_string(cap);
  }
  return out;
}

std::string DropCapabilitiesExcept(uint64_t effective,
                                   uint64_t permitted_only) {
  const uint64_t keep = effective | permitted_only;
  const CapabilitySets before = CurrentCapabilities();
  const uint64_t kept = before.permitted & keep;

  // Ambient first (it must stay a subset of permitted and inheritable), then
  // the bounding set while CAP_SETPCAP is still effective, then capset.
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if ((before.effective & (uint64_t{1} << CAP_SETPCAP)) != 0) {
    // As root: uid 0 must not regain everything on an execve.
    const int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    if (bits >= 0) {
      prctl(PR_SET_SECUREBITS,
            static_cast<unsigned long>(bits) | SECBIT_NOROOT |
                SECBIT_NOROOT_LOCKED,
            0, 0, 0);
    }
    for (unsigned cap = 0; cap <= CAP_LAST_CAP; ++cap) {
      if ((keep & (uint64_t{1} << cap)) == 0) {
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
      }
    }
  }
  if (!SetCaps(kept & effective, kept)) {
    throw std::runtime_error(std::string("drop capabilities: ") +
                             std::strerror(errno));
  }
  return CapabilityNames(before.permitted & ~kept);
}

ScopedCapabilities::ScopedCapabilities(uint64_t caps) {
  const CapabilitySets now = CurrentCapabilities();
  const uint64_t missing = caps & now.permitted & ~now.effective;
  if (missing != 0 &&
      SetCaps(now.effective | missing, now.permitted, now.inheritable)) {
    raised_ = missing;
  }
}

ScopedCapabilities::~ScopedCapabilities() {
  if (raised_ == 0) return;
  const CapabilitySets now = CurrentCapabilities();
  // Lowering the effective set is always allowed: this cannot fail short
  // of a seccomp filter that also refused the raise.
  SetCaps(now.effective & ~raised_, now.permitted, now.inheritable);
}

}  // namespace synwatch
