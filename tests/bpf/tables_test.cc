// SPDX-License-Identifier: Apache-2.0
// The program's lookups into what user space sizes and fills: the interface
// slot table and the bounded per-peer table.
#include <linux/if_ether.h>

#include <map>
#include <string>
#include <vector>

#include "packet_builder.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

std::vector<uint8_t> Syn4(const std::string& source) {
  return PacketBuilder()
      .Eth(ETH_P_IP)
      .Ipv4({.src = source})
      .Tcp(kTcpSyn)
      .Build();
}

// Interfaces whose home slots are taken push lo down the probe sequence;
// the program must walk the same sequence as PlaceIfindex.
TEST_F(XdpTest, CountsLandInTheProbedSlot) {
  sw_config cfg = prog_.ReadConfig();
  RemoveIfindex(cfg, kLoIfindex);
  for (uint32_t ifindex : {SW_IF_SLOTS + 1, SW_IF_SLOTS + 2, SW_IF_SLOTS + 3}) {
    ASSERT_GE(PlaceIfindex(cfg, ifindex), 0);
  }
  const int slot = PlaceIfindex(cfg, kLoIfindex);
  ASSERT_EQ(slot, 4);
  prog_.WriteConfig(cfg);

  ASSERT_EQ(prog_.Run(Syn4(kSrc4), kLoIfindex).err, 0);
  const std::map<std::string, uint64_t> counters = {{"class.syn", 1},
                                                    {"syn.unmatched.pass", 1}};
  EXPECT_EQ(prog_.SlotCounters(4), counters);
  EXPECT_TRUE(prog_.OtherBusySlots(4).empty());
}

// Nothing is lost on an interface user space never registered: its counts
// go to the SW_IF_UNKNOWN slot, and its SYNs are still decided.
TEST_F(XdpTest, UnregisteredInterfaceCountsInUnknownSlot) {
  sw_config cfg = prog_.ReadConfig();
  RemoveIfindex(cfg, kLoIfindex);
  prog_.WriteConfig(cfg);
  prog_.WritePolicy(0, {.default_drop = true});

  // Twice: a peer's first SYN only leaves a fingerprint (the doorkeeper).
  EXPECT_EQ(prog_.Run(Syn4(kSrc4), kLoIfindex, 2).verdict, XDP_DROP);
  const std::map<std::string, uint64_t> counters = {{"class.syn", 2},
                                                    {"syn.unmatched.drop", 2}};
  EXPECT_EQ(prog_.SlotCounters(SW_IF_UNKNOWN), counters);
  EXPECT_TRUE(prog_.OtherBusySlots(SW_IF_UNKNOWN).empty());
  const std::map<std::string, uint64_t> peers = {
      {ExpectedPeer("192.0.2.56/32", SW_OUTCOME_UNMATCHED, SW_ACTION_DROP), 2}};
  EXPECT_EQ(prog_.Peers(), peers);
}

class SmallPeerTableTest : public XdpTest {
 protected:
  static constexpr uint32_t kEntries = 64;
  uint32_t PeerEntries() const override { return kEntries; }
};

// The loader sizes the peer table before load; more peers than that evict
// old ones (LRU) while the exact per-interface totals keep counting.
TEST_F(SmallPeerTableTest, PeerTableStaysWithinMaxEntries) {
  constexpr uint64_t kPeers = 500;
  for (uint64_t i = 0; i < kPeers; ++i) {
    const std::string source = "198.51." + std::to_string(100 + i / 250) + "." +
                               std::to_string(1 + i % 250);
    ASSERT_EQ(prog_.Run(Syn4(source), kLoIfindex).err, 0);
  }
  std::map<std::string, uint64_t> counters = prog_.SlotCounters(Slot());
  EXPECT_EQ(counters["class.syn"], kPeers);
  EXPECT_EQ(counters["syn.unmatched.pass"], kPeers);
  const size_t entries = prog_.Peers().size();
  EXPECT_GT(entries, 0u);
  EXPECT_LE(entries, kEntries);
}

}  // namespace
}  // namespace synwatch
