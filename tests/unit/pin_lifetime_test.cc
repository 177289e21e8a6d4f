// SPDX-License-Identifier: Apache-2.0
// Whether pins can outlive synwatch: the decision and the mountinfo reading
// it rests on. The kernel side (a BPF filesystem mounted in a private mount
// namespace goes with it) is tested in tests/e2e/pin_namespace_test.sh.
#include <gtest/gtest.h>

#include "xdp/pinning.h"

namespace synwatch {
namespace {

// From a host with systemd's /sys/fs/bpf (0:30), a test's own BPF
// filesystem (0:45) and a tmpfs (0:31); the last line has no newline.
constexpr char kMountinfo[] =
    "26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/root rw\n"
    "36 25 0:30 / /sys/fs/bpf rw,nosuid,nodev,noexec,relatime shared:11 - "
    "bpf bpf rw,mode=700\n"
    "40 26 0:31 / /tmp rw,nosuid,nodev shared:14 master:3 - tmpfs tmpfs rw\n"
    "512 40 0:45 / /tmp/synwatch-e2e.x\\040y/bpffs rw,relatime - bpf bpf rw";

TEST(MountinfoHasBpffsTest, FindsBpffsByDevice) {
  EXPECT_TRUE(MountinfoHasBpffs(kMountinfo, 0, 30));
  EXPECT_TRUE(MountinfoHasBpffs(kMountinfo, 0, 45));  // no tags, last line
}

TEST(MountinfoHasBpffsTest, OtherDevicesAndTypesAreNot) {
  EXPECT_FALSE(MountinfoHasBpffs(kMountinfo, 0, 31));   // a tmpfs
  EXPECT_FALSE(MountinfoHasBpffs(kMountinfo, 0, 3));    // not a prefix match
  EXPECT_FALSE(MountinfoHasBpffs(kMountinfo, 0, 300));  // nor a longer one
  EXPECT_FALSE(MountinfoHasBpffs(kMountinfo, 259, 2));  // ext4
  EXPECT_FALSE(MountinfoHasBpffs("", 0, 30));
  // A truncated line has no type to match.
  EXPECT_FALSE(MountinfoHasBpffs("36 25 0:30 / /sys/fs/bpf rw", 0, 30));
}

TEST(JudgePinLifetimeTest, HostMountOutlivesTheProcess) {
  // The host's namespace, whether synwatch mounted bpffs there or not.
  EXPECT_EQ(JudgePinLifetime(HostMount::kYes, true),
            PinLifetime::kOutlivesProcess);
  EXPECT_EQ(JudgePinLifetime(HostMount::kYes, false),
            PinLifetime::kOutlivesProcess);
}

TEST(JudgePinLifetimeTest, PrivateMountEndsWithTheNamespace) {
  // `ip netns exec`: synwatch mounted it in the namespace's fresh /sys.
  EXPECT_EQ(JudgePinLifetime(HostMount::kNo, true),
            PinLifetime::kEndsWithNamespace);
  // A wrapper mounted one there before synwatch started: the same fate.
  EXPECT_EQ(JudgePinLifetime(HostMount::kNo, false),
            PinLifetime::kEndsWithNamespace);
}

TEST(JudgePinLifetimeTest, HiddenHost) {
  // systemd's ProtectProc=invisible hides PID 1; its BindPaths= prepared
  // the BPF filesystem, which is the host's.
  EXPECT_EQ(JudgePinLifetime(HostMount::kUnknown, false),
            PinLifetime::kOutlivesProcess);
  // synwatch mounted it and cannot tell where: no promise either way.
  EXPECT_EQ(JudgePinLifetime(HostMount::kUnknown, true), PinLifetime::kUnknown);
}

}  // namespace
}  // namespace synwatch
