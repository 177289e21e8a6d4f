// SPDX-License-Identifier: Apache-2.0
// The copy of the program that BpfProgram::Attach loads for each interface,
// with the interface's slot in its read-only data: it counts under that slot
// whatever ifindex the packet says (no lookup), shares every map with the
// program that looks slots up, and goes with its interface. Each test runs
// in a network namespace of its own (lo and a veth pair, nothing else),
// so that attaching touches no interface of the host.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/net.h"
#include "packet_builder.h"
#include "xdp/bpf_program.h"
#include "xdp_run.h"

namespace synwatch {
namespace {

constexpr uint32_t kLo = 1;            // loopback's ifindex in every namespace
constexpr char kDummy[] = "sw-copy0";  // one end of a veth pair

class InterfaceCopyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A kernel older than the program: BpfProgram refuses it (with this
    // line), so there is nothing to test here.
    if (const std::string missing = synwatch::MissingKernelFeatures();
        !missing.empty()) {
      GTEST_SKIP() << missing;
    }
    // One process per test (ctest), so leaving the host's namespace here
    // touches no other test.
    if (unshare(CLONE_NEWNET) != 0) {
      if (errno == EPERM) GTEST_SKIP() << "unshare(CLONE_NEWNET) needs root";
      FAIL() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
    }
    const std::string add =
        std::string("ip link add ") + kDummy + " type veth peer name sw-copy1";
    ASSERT_EQ(std::system(add.c_str()), 0) << add;
    dummy_ = if_nametoindex(kDummy);
    ASSERT_NE(dummy_, 0U);

    MapSizes sizes;
    sizes.peers = 1024;
    sizes.scan_track = 256;
    sizes.blocked = 256;
    program_ = std::make_unique<BpfProgram>(sizes);
    Policy policy;
    policy.rules.dry_run = false;
    std::string error;
    const std::optional<Cidr> deny = ParseCidr("203.0.113.0/24", &error);
    ASSERT_TRUE(deny.has_value()) << error;
    policy.rules.deny = {*deny};
    policy.port_scan.enabled = false;
    program_->ApplyPolicy(policy);
  }

  // One frame through the program of id, as received on ifindex.
  static void Run(uint32_t id, const std::vector<uint8_t>& frame,
                  uint32_t ifindex, uint32_t want_verdict = XDP_PASS) {
    const int fd = bpf_prog_get_fd_by_id(id);
    ASSERT_GE(fd, 0) << "program id " << id << ": " << std::strerror(errno);
    const RunResult run = RunXdp(fd, frame, ifindex);
    close(fd);
    ASSERT_EQ(run.err, 0) << std::strerror(run.err);
    EXPECT_EQ(run.verdict, want_verdict);
  }

  // A class counter of slot, summed over CPUs.
  uint64_t Count(uint32_t slot, sw_class cls) const {
    const int cpus = libbpf_num_possible_cpus();
    std::vector<sw_if_stats> v(static_cast<std::size_t>(cpus));
    EXPECT_EQ(bpf_map_lookup_elem(program_->if_stats_fd(), &slot, v.data()), 0);
    uint64_t sum = 0;
    for (const sw_if_stats& s : v) sum += s.classes[cls];
    return sum;
  }

  uint32_t SlotOf(uint32_t ifindex) const {
    return FindIfindexSlot(program_->config(), ifindex);
  }

  uint32_t dummy_ = 0;
  std::unique_ptr<BpfProgram> program_;
};

const std::vector<uint8_t> kUdp =
    PacketBuilder().Eth(ETH_P_IP).Ipv4({.protocol = IPPROTO_UDP}).Udp().Build();

TEST_F(InterfaceCopyTest, EachInterfaceRunsACopyOfItsOwn) {
  program_->Attach("lo", kLo, XdpMode::kGeneric);
  program_->Attach(kDummy, dummy_, XdpMode::kGeneric);
  const uint32_t lo = program_->prog_id(kLo);
  const uint32_t dummy = program_->prog_id(dummy_);
  EXPECT_NE(lo, 0U);
  EXPECT_NE(dummy, 0U);
  EXPECT_NE(lo, dummy);
  EXPECT_NE(lo, program_->prog_id());
  EXPECT_NE(dummy, program_->prog_id());
  EXPECT_EQ(program_->prog_id(12345), 0U);
}

// The copy counts under the slot it was loaded with, even for a packet that
// claims another interface: it never looks the slot up. The program that
// does look it up puts the same packet under the ifindex it names.
TEST_F(InterfaceCopyTest, CopyCountsUnderItsSlotWithoutALookup) {
  program_->Attach("lo", kLo, XdpMode::kGeneric);
  program_->Attach(kDummy, dummy_, XdpMode::kGeneric);
  const uint32_t lo_slot = SlotOf(kLo);
  const uint32_t dummy_slot = SlotOf(dummy_);
  ASSERT_NE(lo_slot, SW_IF_UNKNOWN);
  ASSERT_NE(dummy_slot, SW_IF_UNKNOWN);
  ASSERT_NE(lo_slot, dummy_slot);

  Run(program_->prog_id(kLo), kUdp, dummy_);
  Run(program_->prog_id(kLo), kUdp, kLo);
  EXPECT_EQ(Count(lo_slot, SW_CLASS_OTHER_IP), 2U);
  EXPECT_EQ(Count(dummy_slot, SW_CLASS_OTHER_IP), 0U);

  Run(program_->prog_id(), kUdp, dummy_);
  EXPECT_EQ(Count(dummy_slot, SW_CLASS_OTHER_IP), 1U);
  EXPECT_EQ(Count(lo_slot, SW_CLASS_OTHER_IP), 2U);
}

// Rules written after the attach reach the copies: they read the same maps,
// and a SYN they decide lands in the same totals and per-peer table.
TEST_F(InterfaceCopyTest, CopiesShareEveryMap) {
  program_->Attach(kDummy, dummy_, XdpMode::kGeneric);
  const uint32_t id = program_->prog_id(dummy_);
  Run(id, SynFrame("203.0.113.7"), dummy_, XDP_DROP);

  Policy allow_all;
  allow_all.rules.dry_run = false;
  allow_all.port_scan.enabled = false;
  program_->ApplyPolicy(allow_all);
  Run(id, SynFrame("203.0.113.7"), dummy_, XDP_PASS);
  Run(id, SynFrame("203.0.113.7"), dummy_, XDP_PASS);
  EXPECT_EQ(Count(SlotOf(dummy_), SW_CLASS_SYN), 3U);

  // The peer entered the shared table on its second SYN, under the
  // interface's ifindex.
  sw_peer_key key{};
  key.ifindex = dummy_;
  key.family = SW_FAMILY_IPV4;
  key.prefix_len = 32;
  key.outcome = SW_OUTCOME_UNMATCHED;
  key.action = SW_ACTION_PASS;
  const uint8_t addr[] = {203, 0, 113, 7};
  std::memcpy(key.addr, addr, sizeof(addr));
  std::vector<uint64_t> counts(
      static_cast<std::size_t>(libbpf_num_possible_cpus()));
  ASSERT_EQ(bpf_map_lookup_elem(program_->peers_fd(), &key, counts.data()), 0)
      << std::strerror(errno);
  uint64_t sum = 0;
  for (uint64_t c : counts) sum += c;
  EXPECT_EQ(sum, 2U);
}

// A detached interface's copy goes with its link; attaching again loads a
// new one, which continues the interface's totals.
TEST_F(InterfaceCopyTest, DetachDropsTheCopyAndTotalsContinue) {
  program_->Attach(kDummy, dummy_, XdpMode::kGeneric);
  const uint32_t first = program_->prog_id(dummy_);
  Run(first, kUdp, dummy_);
  program_->Detach(dummy_);
  EXPECT_EQ(program_->prog_id(dummy_), 0U);

  program_->Attach(kDummy, dummy_, XdpMode::kGeneric);
  const uint32_t second = program_->prog_id(dummy_);
  EXPECT_NE(second, 0U);
  EXPECT_NE(second, first);
  Run(second, kUdp, dummy_);
  EXPECT_EQ(Count(SlotOf(dummy_), SW_CLASS_OTHER_IP), 2U);
}

}  // namespace
}  // namespace synwatch
