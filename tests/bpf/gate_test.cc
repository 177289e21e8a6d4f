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

#include <algorithm>
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

  // A packet as one program of a dispatcher chain hands it to the next:
  // the XDP metadata in front of the frame, and the frame.
  struct Packet {
    std::vector<uint8_t> meta;
    std::vector<uint8_t> frame;
  };

  // One program of the chain on packet, through BPF_PROG_TEST_RUN, which
  // takes and gives back the metadata in front of the data (xdp_md.data is
  // its length); packet becomes what the program leaves.
  static uint32_t Step(int fd, Packet* packet) {
    std::vector<uint8_t> in = packet->meta;
    in.insert(in.end(), packet->frame.begin(), packet->frame.end());
    xdp_md ctx{};
    ctx.data = static_cast<uint32_t>(packet->meta.size());
    ctx.data_end = static_cast<uint32_t>(in.size());
    ctx.ingress_ifindex = kLo;
    xdp_md ctx_out{};
    std::vector<uint8_t> out(in.size() + 256);
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = in.data();
    opts.data_size_in = static_cast<uint32_t>(in.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
    opts.ctx_out = &ctx_out;
    opts.ctx_size_out = sizeof(ctx_out);
    EXPECT_EQ(bpf_prog_test_run_opts(fd, &opts), 0) << std::strerror(errno);
    out.resize(opts.data_size_out);
    EXPECT_LE(ctx_out.data, out.size());
    const auto data =
        out.begin() + std::min<std::size_t>(ctx_out.data, out.size());
    packet->meta.assign(out.begin(), data);
    packet->frame.assign(data, out.end());
    return opts.retval;
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

// The instant of the store: the token moves while the packet is between
// the two programs of the chain (what a test-only program between them does
// to every packet in e2e/dispatcher_test.sh). With "handover" set, the
// first passes its read on in the packet's metadata and the second decides
// on it: each SYN is counted once and each denied one dropped once, either
// order, and the packet leaves the chain without the metadata.
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
      Packet packet{{}, SynFrame(i % 2 ? "203.0.113.7" : "192.0.2.7")};
      const std::vector<uint8_t> sent = packet.frame;
      uint32_t verdict = Step(first, &packet);
      EXPECT_EQ(packet.meta.size(), sizeof(sw_meta)) << "packet " << i;
      SetActive(new_token);  // the store, mid-chain
      if (verdict == XDP_PASS) {
        verdict = Step(second, &packet);
        EXPECT_TRUE(packet.meta.empty()) << "packet " << i;
        EXPECT_EQ(packet.frame, sent) << "packet " << i;
      }
      if (verdict == XDP_DROP) ++dropped;
    }
    EXPECT_EQ(Syns() - before, 20U);
    EXPECT_EQ(dropped, 10);
  }
}

// The same chain without "handover" (the old program, or a driver without
// XDP metadata): the store mid-chain counts a SYN twice. What the test
// above guards against, and proof that its chain does cross the store.
TEST_F(GateTest, StoreBetweenTheProgramsWithoutHandoverIsInexact) {
  const int old_fd = LoadCopy(0x50);
  const int new_fd = LoadCopy(0x51);
  ASSERT_GE(old_fd, 0);
  ASSERT_GE(new_fd, 0);
  SetActive(0x50);
  Packet packet{{}, SynFrame("192.0.2.7")};
  EXPECT_EQ(Step(old_fd, &packet), XDP_PASS);
  EXPECT_TRUE(packet.meta.empty());
  SetActive(0x51);
  EXPECT_EQ(Step(new_fd, &packet), XDP_PASS);
  EXPECT_EQ(Syns(), 2U);
}

// Outside a hand-over, and once "active" holds the token handed to, no
// metadata is pushed: the packet leaves as it came.
TEST_F(GateTest, NoMetadataOutsideTheSwitch) {
  const int fd = LoadCopy(0x60);
  ASSERT_GE(fd, 0);
  SetActive(0x60);
  for (const uint64_t handover : {0x0, 0x60}) {
    SetHandover(handover);
    Packet packet{{}, SynFrame("192.0.2.7")};
    const std::vector<uint8_t> sent = packet.frame;
    EXPECT_EQ(Step(fd, &packet), XDP_PASS);
    EXPECT_TRUE(packet.meta.empty()) << "handover " << handover;
    EXPECT_EQ(packet.frame, sent);
  }
  EXPECT_EQ(Syns(), 2U);
}

// A foreign program's metadata is never taken for ours, stays behind ours
// and is what the packet carries after the chain.
TEST_F(GateTest, ForeignMetadataStaysAndIsNotOurs) {
  const int old_fd = LoadCopy(0x70);
  const int new_fd = LoadCopy(0x71);
  ASSERT_GE(old_fd, 0);
  ASSERT_GE(new_fd, 0);
  SetHandover(0x71);
  // 16 bytes that are not ours: the old program reads the map, pushes ours
  // in front, acts; the new one finds ours and passes.
  std::vector<uint8_t> foreign(16);
  for (std::size_t i = 0; i < foreign.size(); ++i) {
    foreign[i] = static_cast<uint8_t>(0xa0 + i);
  }
  SetActive(0x70);
  Packet packet{foreign, SynFrame("192.0.2.7")};
  EXPECT_EQ(Step(old_fd, &packet), XDP_PASS);
  ASSERT_EQ(packet.meta.size(), foreign.size() + sizeof(sw_meta));
  EXPECT_TRUE(std::equal(foreign.begin(), foreign.end(),
                         packet.meta.begin() + sizeof(sw_meta)));
  SetActive(0x71);
  EXPECT_EQ(Step(new_fd, &packet), XDP_PASS);
  EXPECT_EQ(packet.meta, foreign);
  EXPECT_EQ(Syns(), 1U);
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
