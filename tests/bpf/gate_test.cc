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
#include <sched.h>
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
    // The programs of one chain run on one CPU, and so must the test runs
    // that stand for them: the hand-over note is per CPU.
    ASSERT_EQ(sched_getaffinity(0, sizeof(affinity_), &affinity_), 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(sched_getcpu(), &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
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
    sched_setaffinity(0, sizeof(affinity_), &affinity_);
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

  void SetHandover(uint64_t token) {
    const uint32_t zero = 0;
    ASSERT_EQ(
        bpf_map_update_elem(program_->handover_fd(), &zero, &token, BPF_ANY),
        0);
  }

  uint64_t Word(int fd) const {
    const uint32_t zero = 0;
    uint64_t v = 0;
    EXPECT_EQ(bpf_map_lookup_elem(fd, &zero, &v), 0);
    return v;
  }

  // The note of this CPU's entry of "handover_note".
  sw_handover_note Note() const {
    const std::string path = pin_ + "/handover_note";
    const int fd = bpf_obj_get(path.c_str());
    EXPECT_GE(fd, 0) << path;
    std::vector<sw_handover_note> v(
        static_cast<std::size_t>(libbpf_num_possible_cpus()));
    const uint32_t zero = 0;
    EXPECT_EQ(bpf_map_lookup_elem(fd, &zero, v.data()), 0);
    close(fd);
    const int cpu = sched_getcpu();
    return cpu >= 0 && static_cast<std::size_t>(cpu) < v.size()
               ? v[static_cast<std::size_t>(cpu)]
               : sw_handover_note{};
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
  cpu_set_t affinity_{};
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

// The instant of the store: the token moves while the packet is between
// the two programs of the chain (what a test-only program between them does
// to every packet in e2e/dispatcher_test.sh). With "handover" set, the
// first notes its read and the second decides on the note: each SYN is
// counted once and each denied one dropped once, either order, and no note
// is left behind.
TEST_F(GateTest, StoreBetweenTheProgramsCountsEverySynOnce) {
  for (const bool new_first : {false, true}) {
    SCOPED_TRACE(new_first ? "new copy first in the chain"
                           : "old copy first in the chain");
    const uint64_t old_token = new_first ? 0x30 : 0x40;
    const uint64_t new_token = new_first ? 0x31 : 0x41;
    const int old_fd = LoadCopy(old_token);
    const int new_fd = LoadCopy(new_token);
    ASSERT_GE(old_fd, 0);
    ASSERT_GE(new_fd, 0);
    const int first = new_first ? new_fd : old_fd;
    const int second = new_first ? old_fd : new_fd;
    SetHandover(new_token);
    const uint64_t before = Syns();
    int dropped = 0;
    for (int i = 0; i < 20; ++i) {
      SetActive(old_token);
      const auto frame = SynFrame(i % 2 ? "203.0.113.7" : "192.0.2.7");
      uint32_t verdict = Verdict(first, frame);
      SetActive(new_token);  // the store, mid-chain
      if (verdict == XDP_PASS) verdict = Verdict(second, frame);
      if (verdict == XDP_DROP) ++dropped;
      EXPECT_EQ(Note().target, 0U) << "packet " << i;
    }
    EXPECT_EQ(Syns() - before, 20U);
    EXPECT_EQ(dropped, 10);
  }
}

// The same chain without "handover" (the old program): the store mid-chain
// counts a SYN twice. What the test above guards against, and proof that
// its chain does cross the store.
TEST_F(GateTest, StoreBetweenTheProgramsWithoutHandoverIsInexact) {
  const int old_fd = LoadCopy(0x50);
  const int new_fd = LoadCopy(0x51);
  ASSERT_GE(old_fd, 0);
  ASSERT_GE(new_fd, 0);
  SetActive(0x50);
  const auto frame = SynFrame("192.0.2.7");
  EXPECT_EQ(Verdict(old_fd, frame), XDP_PASS);
  SetActive(0x51);
  EXPECT_EQ(Verdict(new_fd, frame), XDP_PASS);
  EXPECT_EQ(Syns(), 2U);
}

// Outside a hand-over no note is written; the only program of a chain
// writes one per packet (its own, which it never takes for a read).
TEST_F(GateTest, NotesOnlyDuringAHandOver) {
  const int fd = LoadCopy(0x60);
  ASSERT_GE(fd, 0);
  SetActive(0x60);
  EXPECT_EQ(Verdict(fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Note().target, 0U);
  SetHandover(0x61);
  EXPECT_EQ(Verdict(fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Note().target, 0x61U);
  EXPECT_EQ(Note().writer, 0x60U);
  EXPECT_EQ(Note().token, 0x60U);
  EXPECT_EQ(Verdict(fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Syns(), 3U);
}

// A packet the first program drops meets no second one: its note goes, and
// the next packet's second program (the first one gone: detached) reads
// "active" itself. A note of an earlier hand-over is not this one's.
TEST_F(GateTest, NoteOfADroppedPacketOrAnEarlierHandOverIsNotTaken) {
  const int old_fd = LoadCopy(0x70);
  const int new_fd = LoadCopy(0x71);
  ASSERT_GE(old_fd, 0);
  ASSERT_GE(new_fd, 0);
  SetHandover(0x71);
  SetActive(0x70);
  EXPECT_EQ(Verdict(old_fd, SynFrame("203.0.113.7")), XDP_DROP);
  EXPECT_EQ(Note().target, 0U);
  SetActive(0x71);
  EXPECT_EQ(Verdict(new_fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Syns(), 2U);
  // Left by the old program under another hand-over's token.
  SetHandover(0x99);
  SetActive(0x70);
  EXPECT_EQ(Verdict(old_fd, SynFrame("192.0.2.7")), XDP_PASS);
  SetHandover(0x71);
  SetActive(0x71);
  EXPECT_EQ(Verdict(new_fd, SynFrame("192.0.2.7")), XDP_PASS);
  EXPECT_EQ(Syns(), 4U);
}

// Activate() ends with "handover" at 0, also when a synwatch killed in the
// middle of a hand-over left it set; "active" then holds the new token.
TEST_F(GateTest, ActivateClearsAHandOverLeftBehind) {
  SetHandover(0x1234);
  program_->UseDispatcher(10);
  program_->Activate();
  EXPECT_EQ(Word(program_->handover_fd()), 0U);
  EXPECT_NE(Word(program_->active_fd()), 0U);
  EXPECT_NE(Word(program_->active_fd()), 0x1234U);
}

}  // namespace
}  // namespace synwatch
