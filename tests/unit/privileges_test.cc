// SPDX-License-Identifier: Apache-2.0
// The capability sets synwatch keeps, and ScopedCapabilities, which raises
// libxdp's capabilities into the effective set only for one call. Sets are
// per thread, so each test changes them in a thread of its own and the
// test process keeps its own. The raise itself needs a process that holds
// CAP_SYS_ADMIN (root, as ctest runs here); without it those tests skip,
// and the one that checks nothing unpermitted is raised still runs.
#include "xdp/privileges.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <linux/capability.h>

#include <cerrno>
#include <cstdint>
#include <functional>
#include <future>
#include <thread>

namespace synwatch {
namespace {

constexpr uint64_t Bit(unsigned cap) { return uint64_t{1} << cap; }

const uint64_t kLibxdp = LibxdpCapabilities(XdpAttach::kDispatcher);

// Runs body in a thread of its own (its capability sets are its own).
void InThread(const std::function<void()>& body) {
  std::thread thread(body);
  thread.join();
}

bool MayRaise() {
  return (CurrentCapabilities().permitted & kLibxdp) == kLibxdp;
}

// The kernel's own check: BPF_PROG_GET_FD_BY_ID, which libxdp uses to read a
// dispatcher, is refused (EPERM) without an effective CAP_SYS_ADMIN, and
// with it looks the id up (an id no program has: ENOENT).
int GetFdByIdErrno() {
  const int fd = bpf_prog_get_fd_by_id(0xfffffff0U);
  return fd < 0 ? errno : 0;
}

TEST(CapabilitySetsTest, DispatcherKeepsLibxdpsThree) {
  EXPECT_EQ(LibxdpCapabilities(XdpAttach::kDirect), 0U);
  EXPECT_EQ(CapabilityNames(kLibxdp),
            "CAP_DAC_OVERRIDE CAP_SYS_ADMIN "
            "CAP_PERFMON");
  EXPECT_EQ(CapabilityNames(RuntimeCapabilities()), "CAP_NET_ADMIN CAP_BPF");
  EXPECT_EQ(RuntimeCapabilities() & kLibxdp, 0U);
}

TEST(ScopedCapabilitiesTest, RaisesForTheScopeOnlyAndInThisThreadOnly) {
  if (!MayRaise()) GTEST_SKIP() << "needs CAP_SYS_ADMIN, CAP_PERFMON, ...";
  InThread([] {
    // As synwatch does once attached in dispatcher mode.
    DropCapabilitiesExcept(RuntimeCapabilities(), kLibxdp);
    const CapabilitySets steady = CurrentCapabilities();
    EXPECT_EQ(steady.effective, RuntimeCapabilities());
    EXPECT_EQ(steady.permitted, RuntimeCapabilities() | kLibxdp);
    EXPECT_EQ(GetFdByIdErrno(), EPERM);

    // A thread that exists during the scope (as the HTTP server's do).
    std::promise<void> raised;
    std::promise<uint64_t> seen;
    std::thread other([&raised, &seen] {
      raised.get_future().wait();
      seen.set_value(CurrentCapabilities().effective);
    });
    {
      const ScopedCapabilities scope(kLibxdp);
      EXPECT_EQ(scope.raised(), kLibxdp);
      EXPECT_EQ(CurrentCapabilities().effective,
                RuntimeCapabilities() | kLibxdp);
      EXPECT_EQ(GetFdByIdErrno(), ENOENT);
      raised.set_value();
      EXPECT_EQ(seen.get_future().get(), RuntimeCapabilities());
    }
    other.join();
    const CapabilitySets after = CurrentCapabilities();
    EXPECT_EQ(after.effective, RuntimeCapabilities());
    EXPECT_EQ(after.permitted, steady.permitted);
    EXPECT_EQ(GetFdByIdErrno(), EPERM);
  });
}

TEST(ScopedCapabilitiesTest, InnerScopeLowersOnlyWhatItRaised) {
  if (!MayRaise()) GTEST_SKIP() << "needs CAP_SYS_ADMIN, CAP_PERFMON, ...";
  InThread([] {
    DropCapabilitiesExcept(RuntimeCapabilities(), kLibxdp);
    {
      const ScopedCapabilities outer(Bit(CAP_SYS_ADMIN));
      EXPECT_EQ(outer.raised(), Bit(CAP_SYS_ADMIN));
      {
        const ScopedCapabilities inner(kLibxdp);
        EXPECT_EQ(inner.raised(), kLibxdp & ~Bit(CAP_SYS_ADMIN));
        EXPECT_EQ(CurrentCapabilities().effective,
                  RuntimeCapabilities() | kLibxdp);
      }
      EXPECT_EQ(CurrentCapabilities().effective,
                RuntimeCapabilities() | Bit(CAP_SYS_ADMIN));
      EXPECT_EQ(GetFdByIdErrno(), ENOENT);
    }
    EXPECT_EQ(CurrentCapabilities().effective, RuntimeCapabilities());
  });
}

TEST(ScopedCapabilitiesTest, NeverRaisesWhatIsNotPermitted) {
  // Runs with or without privileges: direct attach keeps nothing for libxdp.
  InThread([] {
    DropCapabilitiesExcept(RuntimeCapabilities(),
                           LibxdpCapabilities(XdpAttach::kDirect));
    const CapabilitySets steady = CurrentCapabilities();
    EXPECT_EQ(steady.permitted & kLibxdp, 0U);
    {
      const ScopedCapabilities scope(kLibxdp);
      EXPECT_EQ(scope.raised(), 0U);
      EXPECT_EQ(CurrentCapabilities().effective, steady.effective);
      EXPECT_EQ(GetFdByIdErrno(), EPERM);
    }
    EXPECT_EQ(CurrentCapabilities().effective, steady.effective);
  });
}

}  // namespace
}  // namespace synwatch
