// SPDX-License-Identifier: Apache-2.0
// Pinned state (exporter/xdp/pinning.h) with the real program and a BPF
// filesystem of the test's own: what a second BpfProgram reuses, copies,
// replaces or refuses, and what --detach removes.
#include "xdp/pinning.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "crowdsec/bouncer.h"
#include "packet_builder.h"
#include "xdp/bpf_program.h"
#include "xdp_fixture.h"

namespace synwatch {
namespace {

namespace fs = std::filesystem;

constexpr char kMapNames[][16] = {
    "config",          "if_stats",    "rules",        "verdicts",
    "verdict_blocks",  "peers",       "peer_admit",   "scan_track",
    "scan_admit",      "blocked",     "block_hint",   "conn_rate",
    "scan_scratch",    "events",      "flood",        "active",
    "decisions",       "origin_syns", "origin_names", "decision_hosts",
    "decision_epochs", "handover",    "handover_note"};

class PinningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A kernel older than the program: BpfProgram refuses it (with this
    // line), so there is nothing to test here.
    if (const std::string missing = synwatch::MissingKernelFeatures();
        !missing.empty()) {
      GTEST_SKIP() << missing;
    }
    char dir[] = "/tmp/synwatch-pin-test.XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    root_ = dir;
    ASSERT_EQ(mount("bpf", root_.c_str(), "bpf", 0, nullptr), 0)
        << "mount bpffs (needs root)";
    pin_ = root_ + "/synwatch";
  }
  void TearDown() override {
    umount2(root_.c_str(), MNT_DETACH);
    rmdir(root_.c_str());
  }

  static MapSizes Sizes(uint32_t peers = 1024) {
    MapSizes sizes;
    sizes.peers = peers;
    sizes.scan_track = 256;
    sizes.blocked = 256;
    return sizes;
  }

  static int NumCpus() { return libbpf_num_possible_cpus(); }

  // Adds n to slot's SYN-class counter on CPU 0.
  static void AddToSlot(int if_stats_fd, uint32_t slot, uint64_t n) {
    std::vector<sw_if_stats> v(static_cast<std::size_t>(NumCpus()));
    ASSERT_EQ(bpf_map_lookup_elem(if_stats_fd, &slot, v.data()), 0);
    v[0].classes[SW_CLASS_SYN] += n;
    ASSERT_EQ(bpf_map_update_elem(if_stats_fd, &slot, v.data(), BPF_ANY), 0);
  }
  static uint64_t SlotSyns(int if_stats_fd, uint32_t slot) {
    std::vector<sw_if_stats> v(static_cast<std::size_t>(NumCpus()));
    EXPECT_EQ(bpf_map_lookup_elem(if_stats_fd, &slot, v.data()), 0);
    uint64_t sum = 0;
    for (const auto& s : v) sum += s.classes[SW_CLASS_SYN];
    return sum;
  }
  static sw_peer_key PeerKey(uint8_t last) {
    sw_peer_key key{};
    key.family = SW_FAMILY_IPV4;
    key.addr[0] = 192;
    key.addr[1] = 0;
    key.addr[2] = 2;
    key.addr[3] = last;
    return key;
  }
  static uint32_t MaxEntries(const std::string& path) {
    const int fd = bpf_obj_get(path.c_str());
    EXPECT_GE(fd, 0) << path;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    EXPECT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    close(fd);
    return info.max_entries;
  }

  // A synwatch pins blocks of sources until their expiry, written as such
  // (no detection, so no hint raised).
  void PinBlocks(const std::vector<std::pair<std::string, uint64_t>>& blocks) {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    for (const auto& [source, expires] : blocks) {
      const sw_scan_key key = XdpProgram::ScanKey(source, 32);
      const sw_block block{.expires_ns = expires, .detected_ns = 0};
      ASSERT_EQ(bpf_map_update_elem(first.blocked_fd(), &key, &block, BPF_ANY),
                0);
    }
  }

  // With blocks enforced, 192.0.2.9's SYN is dropped and its neighbour's
  // passes.
  static void ExpectOnly192029Blocked(BpfProgram& program) {
    Policy policy;
    policy.port_scan.enabled = true;
    policy.rules.dry_run = false;
    program.ApplyPolicy(policy);
    EXPECT_EQ(SynVerdict(program, "192.0.2.9"), XDP_DROP);
    EXPECT_EQ(SynVerdict(program, "192.0.2.10"), XDP_PASS);
  }

  // The values of the pinned "block_hint" slots that are not 0.
  std::vector<uint64_t> RaisedHints() const {
    const int fd = bpf_obj_get((pin_ + "/block_hint").c_str());
    EXPECT_GE(fd, 0) << std::strerror(errno);
    std::vector<uint64_t> raised;
    for (uint32_t slot = 0; slot < SW_BLOCK_HINT_SLOTS; ++slot) {
      uint64_t hint = 0;
      EXPECT_EQ(bpf_map_lookup_elem(fd, &slot, &hint), 0);
      if (hint != 0) raised.push_back(hint);
    }
    close(fd);
    return raised;
  }

  // The verdict of one SYN from source through program's XDP program.
  static uint32_t SynVerdict(const BpfProgram& program,
                             const std::string& source, uint16_t dport = 80) {
    const int fd = bpf_prog_get_fd_by_id(program.prog_id());
    EXPECT_GE(fd, 0) << std::strerror(errno);
    const RunResult run = RunXdp(fd, SynFrame(source, dport), 0);
    EXPECT_EQ(run.err, 0) << std::strerror(run.err);
    close(fd);
    return run.verdict;
  }

  std::string root_;
  std::string pin_;
};

TEST_F(PinningTest, FirstStartPinsEveryMap) {
  BpfProgram program(Sizes(), PinDir::Open(pin_));
  EXPECT_FALSE(program.continued());
  for (const char* name : kMapNames) {
    EXPECT_TRUE(fs::exists(pin_ + "/" + name)) << name;
  }
  struct stat st;
  ASSERT_EQ(stat(pin_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700U);
}

TEST_F(PinningTest, NextProgramContinuesCountersAndGeneration) {
  uint32_t gen = 0;
  uint32_t version = 0;
  {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    first.ApplyPolicy(Policy{});
    first.ApplyPolicy(Policy{});  // a reload: generation 1 in force
    gen = first.config().gen;
    version = first.config().params[gen].rules_version;
    AddToSlot(first.if_stats_fd(), 7, 41);
  }
  BpfProgram second(Sizes(), PinDir::Open(pin_));
  EXPECT_TRUE(second.continued());
  EXPECT_EQ(SlotSyns(second.if_stats_fd(), 7), 41U);
  EXPECT_EQ(second.config().gen, gen);
  EXPECT_EQ(second.config().abi_version, static_cast<uint32_t>(SW_ABI_VERSION));
  second.ApplyPolicy(Policy{});  // fills the other generation, flips
  EXPECT_EQ(second.config().gen, gen ^ 1U);
  // Above every version the pinned verdict cache may hold entries of.
  EXPECT_EQ(second.config().params[gen ^ 1U].rules_version, version + 1);
}

TEST_F(PinningTest, AnotherLayoutVersionIsReplacedNotRead) {
  {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    AddToSlot(first.if_stats_fd(), 7, 41);
    sw_config cfg = first.config();
    cfg.abi_version = SW_ABI_VERSION + 1;
    const uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(first.config_fd(), &zero, &cfg, BPF_ANY), 0);
  }
  BpfProgram second(Sizes(), PinDir::Open(pin_));
  EXPECT_FALSE(second.continued());
  EXPECT_EQ(SlotSyns(second.if_stats_fd(), 7), 0U);
  EXPECT_EQ(second.config().abi_version, static_cast<uint32_t>(SW_ABI_VERSION));
  // The pins now are the new maps: a third start continues them.
  AddToSlot(second.if_stats_fd(), 7, 5);
}

// Layout version 5 held a decision's expiry alone (8 bytes, no origin):
// pinned state of it is replaced whole, as README "Layout versions" says,
// and the new decision table takes origins.
TEST_F(PinningTest, DecisionsWithoutAnOriginAreReplacedWithTheRest) {
  {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    AddToSlot(first.if_stats_fd(), 7, 41);
    sw_config cfg = first.config();
    cfg.abi_version = 5;
    const uint32_t zero = 0;
    ASSERT_EQ(bpf_map_update_elem(first.config_fd(), &zero, &cfg, BPF_ANY), 0);
  }
  const std::string path = pin_ + "/decisions";
  ASSERT_EQ(unlink(path.c_str()), 0);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
  const int fd = bpf_map_create(BPF_MAP_TYPE_LPM_TRIE, "decisions",
                                sizeof(sw_decision_key), 8,
                                SW_DEFAULT_DECISION_ENTRIES, &opts);
  ASSERT_GE(fd, 0) << std::strerror(errno);
  ASSERT_EQ(bpf_obj_pin(fd, path.c_str()), 0) << std::strerror(errno);
  close(fd);

  BpfProgram second(Sizes(), PinDir::Open(pin_));
  EXPECT_FALSE(second.continued());
  EXPECT_EQ(SlotSyns(second.if_stats_fd(), 7), 0U);
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(second.decisions_fd(), &info, &len), 0);
  EXPECT_EQ(info.value_size, sizeof(sw_decision));
  const int pinned = bpf_obj_get(path.c_str());
  ASSERT_GE(pinned, 0);
  bpf_map_info pinned_info{};
  len = sizeof(pinned_info);
  ASSERT_EQ(bpf_obj_get_info_by_fd(pinned, &pinned_info, &len), 0);
  EXPECT_EQ(pinned_info.id, info.id);  // the new table is the one pinned
  close(pinned);
}

DecisionMapFds FdsOf(const BpfProgram& program) {
  DecisionMapFds fds;
  fds.ranges = program.decisions_fd();
  fds.hosts = program.decision_hosts_fd();
  fds.epochs = program.decision_epochs_fd();
  fds.names = program.origin_names_fd();
  return fds;
}

// The origin slots carry over with the pinned counters: a restarted
// synwatch's writer gives a known origin its old slot and a new one the
// next free slot.
TEST_F(PinningTest, OriginSlotsCarryOver) {
  std::string error;
  const Cidr a = ParseCidr("192.0.2.1", &error).value();
  const Cidr b = ParseCidr("192.0.2.2", &error).value();
  const Cidr c = ParseCidr("192.0.2.3", &error).value();
  const uint64_t until = MonotonicNs() + 3600ULL * 1000000000ULL;
  {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    KernelDecisionTable table(FdsOf(first));
    ASSERT_TRUE(table.Write(a, until, "CAPI"));
    ASSERT_TRUE(table.Write(b, until, "cscli"));
  }
  BpfProgram second(Sizes(), PinDir::Open(pin_));
  ASSERT_TRUE(second.continued());
  KernelDecisionTable table(FdsOf(second));
  ASSERT_TRUE(table.Write(c, until, "cscli"));
  ASSERT_TRUE(table.Write(a, until, "crowdsec"));
  const auto origin_of = [&second](const Cidr& p) {
    sw_decision_host key{};
    key.family = static_cast<uint8_t>(p.family);
    std::memcpy(key.addr, p.addr.data(), sizeof(key.addr));
    sw_decision value{};
    EXPECT_EQ(bpf_map_lookup_elem(second.decision_hosts_fd(), &key, &value), 0);
    return value.origin;
  };
  EXPECT_EQ(origin_of(b), 1U);  // cscli, written by the first
  EXPECT_EQ(origin_of(c), 1U);  // cscli again
  EXPECT_EQ(origin_of(a), 2U);  // crowdsec: new, after CAPI and cscli
  sw_origin_name name{};
  const uint32_t slot = 0;
  ASSERT_EQ(bpf_map_lookup_elem(second.origin_names_fd(), &slot, &name), 0);
  EXPECT_STREQ(name.name, "CAPI");
}

// The verdict caches of a synwatch whose entries had another layout (24
// bytes, before the port-scan memo): replaced by empty ones of this layout,
// while the counters and the rest carry over.
TEST_F(PinningTest, CacheOfAnotherLayoutIsReplacedAndTheRestContinues) {
  {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    AddToSlot(first.if_stats_fd(), 7, 41);
  }
  for (const char* name : {"verdicts", "verdict_blocks"}) {
    const std::string path = pin_ + "/" + name;
    ASSERT_EQ(unlink(path.c_str()), 0) << path;
    const int fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, name, 4, 24,
                                  SW_VERDICT_SLOTS, nullptr);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ASSERT_EQ(bpf_obj_pin(fd, path.c_str()), 0) << std::strerror(errno);
    close(fd);
  }

  BpfProgram second(Sizes(), PinDir::Open(pin_));
  EXPECT_TRUE(second.continued());
  EXPECT_EQ(SlotSyns(second.if_stats_fd(), 7), 41U);
  for (const char* name : {"verdicts", "verdict_blocks"}) {
    const int fd = bpf_obj_get((pin_ + "/" + name).c_str());
    ASSERT_GE(fd, 0) << name;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    ASSERT_EQ(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
    EXPECT_EQ(info.value_size, sizeof(sw_verdict)) << name;
    close(fd);
  }
  // The new caches work: a SYN goes through and is counted.
  second.ApplyPolicy(Policy{});
  EXPECT_EQ(SynVerdict(second, "192.0.2.9"), XDP_PASS);
}

TEST_F(PinningTest, ResizedPeerTableKeepsItsEntries) {
  {
    BpfProgram first(Sizes(1024), PinDir::Open(pin_));
    const int cpus = NumCpus();
    std::vector<uint64_t> value(static_cast<std::size_t>(cpus), 3);
    for (uint8_t i = 1; i <= 10; ++i) {
      const sw_peer_key key = PeerKey(i);
      ASSERT_EQ(
          bpf_map_update_elem(first.peers_fd(), &key, value.data(), BPF_ANY),
          0);
    }
  }
  BpfProgram second(Sizes(2048), PinDir::Open(pin_));
  EXPECT_TRUE(second.continued());
  EXPECT_EQ(MaxEntries(pin_ + "/peers"), 2048U);
  std::vector<uint64_t> value(static_cast<std::size_t>(NumCpus()));
  for (uint8_t i = 1; i <= 10; ++i) {
    const sw_peer_key key = PeerKey(i);
    ASSERT_EQ(bpf_map_lookup_elem(second.peers_fd(), &key, value.data()), 0);
    EXPECT_EQ(value[0], 3U);
  }
}

// A synwatch from before "block_hint" pinned its blocks without hints. The
// program skips "blocked" for a peer whose hint has passed, so the next
// synwatch raises the hints over the blocks it carries over: they still
// block, until they end.
TEST_F(PinningTest, BlocksCarriedOverWithoutHintsStillBlock) {
  PinBlocks({{"192.0.2.9", MonotonicNs() + 600'000'000'000}});
  ASSERT_EQ(unlink((pin_ + "/block_hint").c_str()), 0);

  BpfProgram second(Sizes(), PinDir::Open(pin_));
  ASSERT_TRUE(second.continued());
  ExpectOnly192029Blocked(second);
  EXPECT_TRUE(fs::exists(pin_ + "/block_hint"));
}

// Hints pinned alongside, but not over this block: as a synwatch with
// another fingerprint leaves them. The next synwatch raises the block's own
// hint, and only that one, so other peers still skip "blocked"; a block that
// has ended raises nothing.
TEST_F(PinningTest, BlocksCarriedOverWithHintsElsewhereStillBlock) {
  const uint64_t expires = MonotonicNs() + 600'000'000'000;
  PinBlocks({{"192.0.2.9", expires}, {"192.0.2.77", MonotonicNs() - 1}});
  ASSERT_EQ(RaisedHints(), std::vector<uint64_t>{});

  BpfProgram second(Sizes(), PinDir::Open(pin_));
  ASSERT_TRUE(second.continued());
  EXPECT_EQ(RaisedHints(), std::vector<uint64_t>{expires});
  ExpectOnly192029Blocked(second);
}

// With its hints pinned alongside, a block the program wrote carries over
// as it is.
TEST_F(PinningTest, BlocksAndHintsCarryOver) {
  Policy policy;
  policy.port_scan.enabled = true;
  policy.rules.dry_run = false;
  {
    BpfProgram first(Sizes(), PinDir::Open(pin_));
    first.ApplyPolicy(policy);
    // Four ports from one peer: a scan with the default max_ports of 3.
    for (uint16_t port = 1; port <= 4; ++port) {
      ASSERT_EQ(SynVerdict(first, "192.0.2.9", port), XDP_PASS);
    }
    ASSERT_EQ(SynVerdict(first, "192.0.2.9"), XDP_DROP);
  }
  BpfProgram second(Sizes(), PinDir::Open(pin_));
  ASSERT_TRUE(second.continued());
  second.ApplyPolicy(policy);
  EXPECT_EQ(SynVerdict(second, "192.0.2.9"), XDP_DROP);
  EXPECT_EQ(SynVerdict(second, "192.0.2.10"), XDP_PASS);
}

TEST_F(PinningTest, SecondOpenOfTheSameDirectoryIsRefused) {
  PinDir held = PinDir::Open(pin_);
  try {
    PinDir::Open(pin_);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("another synwatch is running"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(PinningTest, PathOutsideABpfFilesystemIsRefused) {
  const std::string path = root_ + "-not-bpffs/synwatch";
  try {
    PinDir::Open(path);
    FAIL() << "expected a refusal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("is not in a BPF filesystem"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(PinningTest, DetachRemovesOnlySynwatchPins) {
  { BpfProgram program(Sizes(), PinDir::Open(pin_)); }
  const int foreign =
      bpf_map_create(BPF_MAP_TYPE_ARRAY, "other", 4, 4, 1, nullptr);
  ASSERT_GE(foreign, 0);
  ASSERT_EQ(bpf_obj_pin(foreign, (pin_ + "/foreign").c_str()), 0);
  close(foreign);
  // A map pinned under a name that is not its own is not synwatch's either.
  const int renamed =
      bpf_map_create(BPF_MAP_TYPE_ARRAY, "peers", 4, 4, 1, nullptr);
  ASSERT_GE(renamed, 0);
  ASSERT_EQ(bpf_obj_pin(renamed, (pin_ + "/peers2").c_str()), 0);
  close(renamed);

  const DetachReport report = DetachPinned(pin_);
  EXPECT_TRUE(report.existed);
  EXPECT_EQ(report.maps, static_cast<int>(std::size(kMapNames)));
  EXPECT_EQ(report.links, 0);
  std::vector<std::string> left = report.left;
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"foreign", "peers2"}));
  EXPECT_FALSE(report.removed);
  EXPECT_TRUE(fs::exists(pin_ + "/foreign"));

  fs::remove(pin_ + "/foreign");
  fs::remove(pin_ + "/peers2");
  const DetachReport again = DetachPinned(pin_);
  EXPECT_TRUE(again.removed);
  EXPECT_FALSE(fs::exists(pin_));
  EXPECT_FALSE(DetachPinned(pin_).existed);
}

TEST(MapShapeTest, OnlyTheSizeMayDiffer) {
  const MapShape a{BPF_MAP_TYPE_LRU_PERCPU_HASH, 20, 8, 1024, 0};
  MapShape b = a;
  EXPECT_EQ(CompareMaps(a, b), MapFit::kSame);
  b.max_entries = 2048;
  EXPECT_EQ(CompareMaps(a, b), MapFit::kResized);
  for (MapShape c : {MapShape{BPF_MAP_TYPE_LRU_HASH, 20, 8, 1024, 0},
                     MapShape{BPF_MAP_TYPE_LRU_PERCPU_HASH, 24, 8, 1024, 0},
                     MapShape{BPF_MAP_TYPE_LRU_PERCPU_HASH, 20, 16, 1024, 0},
                     MapShape{BPF_MAP_TYPE_LRU_PERCPU_HASH, 20, 8, 1024, 1}}) {
    EXPECT_EQ(CompareMaps(a, c), MapFit::kIncompatible) << Describe(c);
  }
}

}  // namespace
}  // namespace synwatch
