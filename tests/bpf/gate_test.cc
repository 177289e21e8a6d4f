// SPDX-License-Identifier: Apache-2.0
// The gate of xdp.attach = "dispatcher": a copy of the program loaded with a
// token (sw_gate_token) counts and acts only while the "active" map holds
// that token, and passes every packet untouched otherwise. A hand-over runs
// two such copies one after the other on each packet (the dispatcher's
// chain) and moves the token from one to the other: every SYN is counted
// once. Driven through BPF_PROG_TEST_RUN; the copies share every map of a
// BpfProgram through its pins.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/net.h"
#include "packet_builder.h"
#include "synwatch.skel.h"
#include "xdp/bpf_program.h"
#include "xdp_run.h"

namespace synwatch {
namespace {

constexpr uint32_t kLo = 1;  // loopback's ifindex in every namespace
constexpr uint32_t kSlot = 0;

struct SkelDeleter {
  void operator()(synwatch_bpf* skel) const { synwatch_bpf__destroy(skel); }
};
using Skel = std::unique_ptr<synwatch_bpf, SkelDeleter>;

class GateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string missing = MissingKernelFeatures(); !missing.empty()) {
      GTEST_SKIP() << missing;
    }
    char dir[] = "/tmp/synwatch-gate-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
    ASSERT_EQ(mount("bpf", root_.c_str(), "bpf", 0, nullptr), 0)
        << "mount bpffs (needs root)";
    pin_ = root_ + "/synwatch";
    MapSizes sizes;
    sizes.peers = 1024;
    sizes.scan_track = 256;
    sizes.blocked = 256;
    program_ = std::make_unique<BpfProgram>(sizes, PinDir::Open(pin_));
    Policy policy;
    policy.rules.dry_run = false;
    std::string error;
    const std::optional<Cidr> deny = ParseCidr("203.0.113.0/24", &error);
    ASSERT_TRUE(deny.has_value()) << error;
    policy.rules.deny = {*deny};
    policy.port_scan.enabled = false;
    program_->ApplyPolicy(policy);
  }
  void TearDown() override {
    copies_.clear();
    program_.reset();
    if (!root_.empty()) {
      umount2(root_.c_str(), MNT_DETACH);
      rmdir(root_.c_str());
    }
  }

  // A copy with token, counting under kSlot, on the pinned maps.
  int LoadCopy(uint64_t token) {
    Skel copy(synwatch_bpf__open());
    EXPECT_NE(copy, nullptr);
    if (!copy) return -1;
    copy->rodata->sw_if_slot = kSlot;
    copy->rodata->sw_gate_token = token;
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, copy->obj) {
      if (bpf_map__is_internal(map)) continue;
      const std::string path = pin_ + "/" + bpf_map__name(map);
      const int fd = bpf_obj_get(path.c_str());
      EXPECT_GE(fd, 0) << path << ": " << std::strerror(errno);
      EXPECT_EQ(bpf_map__reuse_fd(map, fd), 0) << path;
      close(fd);
    }
    EXPECT_EQ(synwatch_bpf__load(copy.get()), 0) << std::strerror(errno);
    const int fd = bpf_program__fd(copy->progs.xdp_synwatch);
    copies_.push_back(std::move(copy));
    return fd;
  }

  void SetActive(uint64_t token) {
    const uint32_t zero = 0;
    ASSERT_EQ(
        bpf_map_update_elem(program_->active_fd(), &zero, &token, BPF_ANY), 0);
  }

  uint64_t Syns() const {
    std::vector<sw_if_stats> v(
        static_cast<std::size_t>(libbpf_num_possible_cpus()));
    EXPECT_EQ(bpf_map_lookup_elem(program_->if_stats_fd(), &kSlot, v.data()),
              0);
    uint64_t sum = 0;
    for (const auto& s : v) sum += s.classes[SW_CLASS_SYN];
    return sum;
  }

  static uint32_t Verdict(int fd, const std::vector<uint8_t>& frame) {
    const RunResult run = RunXdp(fd, frame, kLo);
    EXPECT_EQ(run.err, 0) << std::strerror(run.err);
    return run.verdict;
  }

  std::string root_;
  std::string pin_;
  std::unique_ptr<BpfProgram> program_;
  std::vector<Skel> copies_;
};

TEST_F(GateTest, CopyPassesAndCountsNothingUntilItsTokenIsActive) {
  const int fd = LoadCopy(0x1234);
  ASSERT_GE(fd, 0);
  SetActive(0x9999);  // another synwatch is in charge
  EXPECT_EQ(Verdict(fd, SynFrame("203.0.113.7")), XDP_PASS);
  EXPECT_EQ(Verdict(fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Syns(), 0U);
  SetActive(0x1234);
  EXPECT_EQ(Verdict(fd, SynFrame("203.0.113.7")), XDP_DROP);
  EXPECT_EQ(Verdict(fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Syns(), 2U);
}

TEST_F(GateTest, NoTokenInTheMapMeansNoGatedCopyActs) {
  const int fd = LoadCopy(0x1234);
  ASSERT_GE(fd, 0);
  // A fresh map holds 0, which no copy's token is.
  EXPECT_EQ(Verdict(fd, SynFrame("203.0.113.7")), XDP_PASS);
  EXPECT_EQ(Syns(), 0U);
}

TEST_F(GateTest, UngatedCopyIgnoresTheActiveMap) {
  const int fd = LoadCopy(0);  // direct attach and test runs
  ASSERT_GE(fd, 0);
  SetActive(0x1234);
  EXPECT_EQ(Verdict(fd, SynFrame("203.0.113.7")), XDP_DROP);
  EXPECT_EQ(Syns(), 1U);
}

// The chain of a restart: old and new copy on every packet (a drop ends the
// chain), the token moved from old to new between packets: each SYN is
// counted once and each denied SYN dropped once, whichever runs first.
TEST_F(GateTest, HandOverCountsEverySynOnce) {
  for (const bool new_first : {false, true}) {
    SCOPED_TRACE(new_first ? "new copy first in the chain"
                           : "old copy first in the chain");
    const uint64_t old_token = new_first ? 0x10 : 0x20;
    const uint64_t new_token = new_first ? 0x11 : 0x21;
    const int old_fd = LoadCopy(old_token);
    const int new_fd = LoadCopy(new_token);
    ASSERT_GE(old_fd, 0);
    ASSERT_GE(new_fd, 0);
    const int first = new_first ? new_fd : old_fd;
    const int second = new_first ? old_fd : new_fd;
    SetActive(old_token);
    const uint64_t before = Syns();
    int dropped = 0;
    for (int i = 0; i < 20; ++i) {
      if (i == 10) SetActive(new_token);  // Activate()
      const auto frame = SynFrame(i % 2 ? "203.0.113.7" : "192.0.2.7");
      uint32_t verdict = Verdict(first, frame);
      if (verdict == XDP_PASS) verdict = Verdict(second, frame);
      if (verdict == XDP_DROP) ++dropped;
    }
    EXPECT_EQ(Syns() - before, 20U);
    EXPECT_EQ(dropped, 10);
  }
}

}  // namespace
}  // namespace synwatch
