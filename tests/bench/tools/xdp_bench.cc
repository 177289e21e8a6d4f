// SPDX-License-Identifier: Apache-2.0
// Per-packet cost of the XDP program through BPF_PROG_TEST_RUN: the floor (an
// XDP program that only passes) and synwatch's program with a realistic rule
// set, in one process, cases interleaved run by run so that drift on a shared
// machine hits every case alike. Figures are the kernel's own ns/packet
// (bpf_test_run's timer, which stops while the loop is rescheduled).
//
// "A new peer every packet" cannot be one frame repeated: harness.bpf.c
// rewrites the source /64 in place and tail-calls the program under test, and
// the harness's own cost (the same harness tail-calling the floor) is taken
// out again. See tests/bench/README.md for every method and JSON key.
//
//   xdp_bench [--runs N] [--repeat N] [--notfull-repeat N] [--json FILE]
//       (root, inside a scratch network namespace)
//   xdp_bench --print-rules toml|nft
//       (the benchmark rule set, for run.sh's synwatch and nftables configs)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/abi.h"
#include "base/net.h"
#include "config/config.h"
#include "floor.skel.h"
#include "harness.skel.h"
#include "packet_builder.h"
#include "peer_alt.skel.h"
#include "test_run.h"
#include "xdp/bpf_program.h"
#include "xdp/rules.h"

namespace synwatch::bench {
namespace {

constexpr uint32_t kPeerEntries = SW_DEFAULT_PEER_ENTRIES;
// Frame offset of IPv6 source bytes 4..7 (harness.bpf.c, peer_alt.bpf.c).
constexpr size_t kSrc6WordOff = 26;

// Source /64 ranges (big-endian value of source bytes 4..7, i.e. the third
// and fourth groups of 2001:db8:XXXX:YYYY::) used by the new-peer cases,
// kept apart from each other and from every rule below.
constexpr uint32_t kNotFullBase = 0x00100000;  // 2001:db8:10::/48 ...
constexpr uint32_t kFullBase = 0x02000000;     // 2001:db8:200::/48 ...
constexpr uint32_t kFullStride = 0x00200000;   // per run: 2 Mi sources apart
constexpr uint32_t kPrefillBase = 0x40000000;  // 2001:db8:4000::/48 ...
constexpr uint32_t kScanBase = 0x06000000;
// 2001:db8:e000::/47, denied by the rule set (run.sh's IPv6 flood range):
// 2^17 /64s, walked once per run by the denied-flood case.
constexpr uint32_t kDeniedFloodBase = 0xe0000000;
constexpr uint32_t kDeniedFloodSources = 1U << 17;

void PrintRules(const std::string& format) {
  const RuleSet r = RealisticRules();
  if (format == "toml") {
    const auto list = [](const char* name, const std::vector<std::string>& v) {
      std::printf("%s = [\n", name);
      for (const std::string& s : v) std::printf("  \"%s\",\n", s.c_str());
      std::printf("]\n");
    };
    list("allow", r.allow);
    list("deny", r.deny);
    return;
  }
  if (format == "nft") {
    // Four element lists for interval sets (auto-merge folds the nested
    // IPv4 prefixes): allow4, allow6, deny4, deny6, one per line.
    for (const auto* v : {&r.allow, &r.deny}) {
      std::string v4, v6;
      for (const std::string& s : *v) {
        std::string& out = s.find(':') == std::string::npos ? v4 : v6;
        out += (out.empty() ? "" : ", ") + s;
      }
      std::printf("%s\n%s\n", v4.c_str(), v6.c_str());
    }
    return;
  }
  throw std::runtime_error("--print-rules toml|nft");
}

// ---- frames ---------------------------------------------------------------
std::vector<uint8_t> Syn4(const std::string& src) {
  Ipv4Spec ip;
  ip.src = src;
  return PacketBuilder().Eth(ETH_P_IP).Ipv4(ip).Tcp(kTcpSyn).Build();
}

std::vector<uint8_t> Syn6(const std::string& src) {
  Ipv6Spec ip;
  ip.src = src;
  return PacketBuilder().Eth(ETH_P_IPV6).Ipv6(ip).Tcp(kTcpSyn).Build();
}

void SetSrc6Word(std::vector<uint8_t>& frame, uint32_t value) {
  const uint32_t be = htonl(value);
  std::memcpy(frame.data() + kSrc6WordOff, &be, sizeof(be));
}

std::vector<uint32_t> ProgMapIds(int prog_fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) != 0) return {};
  std::vector<uint32_t> ids(info.nr_map_ids);
  bpf_prog_info again{};
  again.nr_map_ids = info.nr_map_ids;
  again.map_ids = reinterpret_cast<uint64_t>(ids.data());
  len = sizeof(again);
  if (bpf_obj_get_info_by_fd(prog_fd, &again, &len) != 0) return {};
  ids.resize(again.nr_map_ids);
  return ids;
}

// True when synwatch's program has a port-scan table (a map whose name
// mentions "scan" or "block"): until then, the scan cases are n/a.
bool HasPortScanTracking(int prog_fd, std::string* names) {
  bool found = false;
  for (uint32_t id : ProgMapIds(prog_fd)) {
    const int fd = bpf_map_get_fd_by_id(id);
    if (fd < 0) continue;
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
      const std::string name = info.name;
      *names += (names->empty() ? "" : ",") + name;
      if (name.find("scan") != std::string::npos ||
          name.find("block") != std::string::npos) {
        found = true;
      }
    }
    close(fd);
  }
  return found;
}

uint32_t MapValueStride(int fd, bool percpu) {
  bpf_map_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) Die("map info", errno);
  const uint32_t v = (info.value_size + 7) / 8 * 8;
  return percpu ? v * static_cast<uint32_t>(libbpf_num_possible_cpus()) : v;
}

void ClearMap(int fd) {
  std::vector<sw_peer_key> keys;
  sw_peer_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    keys.push_back(next);
    key = next;
    prev = &key;
  }
  for (const sw_peer_key& k : keys) bpf_map_delete_elem(fd, &k);
}

// Fills a peer table from user space with n new /64 peers starting at
// `base` (the same key shape the program writes for an unmatched SYN). For a
// table without eviction, stops at the first refusal (full).
void Prefill(int fd, bool percpu, uint32_t base, uint32_t n) {
  const uint32_t stride = MapValueStride(fd, percpu);
  constexpr uint32_t kChunk = 4096;
  std::vector<sw_peer_key> keys(kChunk);
  std::vector<uint8_t> values(static_cast<size_t>(kChunk) * stride, 0);
  for (uint32_t done = 0; done < n;) {
    const uint32_t count = std::min(kChunk, n - done);
    for (uint32_t i = 0; i < count; ++i) {
      sw_peer_key& k = keys[i];
      k = sw_peer_key{};
      k.ifindex = kLoIfindex;
      k.family = SW_FAMILY_IPV6;
      k.prefix_len = 64;
      k.outcome = SW_OUTCOME_UNMATCHED;
      k.action = SW_ACTION_PASS;
      const uint8_t head[4] = {0x20, 0x01, 0x0d, 0xb8};
      std::memcpy(k.addr, head, 4);
      const uint32_t be = htonl(base + done + i);
      std::memcpy(k.addr + 4, &be, 4);
      values[static_cast<size_t>(i) * stride] = 1;
    }
    uint32_t c = count;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (bpf_map_update_batch(fd, keys.data(), values.data(), &c, &opts) != 0) {
      if (errno == E2BIG || errno == ENOMEM || errno == ENOSPC) return;
      Die("prefill peer table", errno);
    }
    done += count;
  }
}

// ---- output ---------------------------------------------------------------
struct Row {
  std::string key;
  std::string label;
  Stats stats;
  bool have = true;           // false: n/a
  std::string note;           // why n/a, or how derived
  std::optional<double> net;  // harness cases: ns with the harness taken out
  double ratio = 0;           // median (or net) over the floor's median
  std::optional<double> target;
};

std::string JsonEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.3f", v);
  return buf;
}

struct Options {
  int runs = 11;
  uint32_t repeat = 1000000;
  uint32_t notfull_repeat = 16384;
  std::string json;
  std::string print_rules;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "--runs") {
      o.runs = std::stoi(value());
    } else if (a == "--repeat") {
      o.repeat = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--notfull-repeat") {
      o.notfull_repeat = static_cast<uint32_t>(std::stoul(value()));
    } else if (a == "--json") {
      o.json = value();
    } else if (a == "--print-rules") {
      o.print_rules = value();
    } else {
      throw std::runtime_error("unknown argument " + a);
    }
  }
  if (o.runs < 1 || o.repeat < 1)
    throw std::runtime_error("bad --runs/--repeat");
  return o;
}

template <typename T>
struct Destroy {
  void (*fn)(T*);
  void operator()(T* p) const { fn(p); }
};

int Run(const Options& o) {
  if (!InScratchNetns()) {
    throw std::runtime_error(
        "run me inside a scratch network namespace (tests/bench/run.sh does): "
        "I attach a generic XDP program to its loopback");
  }
  // One CPU for the whole run: test_run executes on the caller's CPU, and
  // the LRU's per-CPU free lists then behave the same from run to run.
  cpu_set_t set;
  CPU_ZERO(&set);
  const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  CPU_SET(static_cast<int>(ncpu - 1), &set);
  sched_setaffinity(0, sizeof(set), &set);

  // The floor.
  std::unique_ptr<floor_bpf, Destroy<floor_bpf>> floor(
      floor_bpf__open_and_load(), {floor_bpf__destroy});
  if (!floor) Die("load floor program", errno);
  const int floor_fd = bpf_program__fd(floor->progs.xdp_floor);

  // synwatch, loaded and configured the way the exporter does it.
  PeersConfig peers;
  peers.max_entries = kPeerEntries;
  MapSizes sizes;
  sizes.peers = kPeerEntries;
  BpfProgram sw(sizes);
  const RuleSet rules = RealisticRules();
  Policy policy;
  policy.peers = peers;
  policy.rules.dry_run = false;
  policy.rules.default_action = Action::kPass;
  policy.rules.allow = ParseAll(rules.allow);
  policy.rules.deny = ParseAll(rules.deny);
  policy.port_scan.enabled = false;
  sw.ApplyPolicy(policy);
  // Registers lo's slot the way a real interface is registered (this is a
  // scratch namespace: nothing else uses its loopback).
  sw.Attach("lo", kLoIfindex, XdpMode::kGeneric);
  // The copy attached to lo: the program an interface runs.
  const int sw_fd = bpf_prog_get_fd_by_id(sw.prog_id(kLoIfindex));
  if (sw_fd < 0) Die("synwatch program fd", errno);
  std::string map_names;
  const bool has_scan = HasPortScanTracking(sw_fd, &map_names);

  std::unique_ptr<harness_bpf, Destroy<harness_bpf>> harness(
      harness_bpf__open_and_load(), {harness_bpf__destroy});
  if (!harness) Die("load harness program", errno);
  const int target_fd = bpf_map__fd(harness->maps.target);
  const auto aim = [&](int prog_fd) {
    const uint32_t zero = 0;
    if (bpf_map_update_elem(target_fd, &zero, &prog_fd, BPF_ANY) != 0) {
      Die("tail-call target", errno);
    }
  };
  const int next_src6 = bpf_program__fd(harness->progs.xdp_next_src6);
  const int next_dport4 = bpf_program__fd(harness->progs.xdp_next_dport4);
  const int same = bpf_program__fd(harness->progs.xdp_same);

  std::unique_ptr<peer_alt_bpf, Destroy<peer_alt_bpf>> alt(
      peer_alt_bpf__open_and_load(), {peer_alt_bpf__destroy});
  if (!alt) Die("load peer_alt programs", errno);
  for (const RuleEntry& e :
       BuildRuleEntries(policy.rules.allow, policy.rules.deny, 0)) {
    if (bpf_map_update_elem(bpf_map__fd(alt->maps.rules), &e.key, &e.value,
                            BPF_ANY) != 0) {
      Die("write experiment rule", errno);
    }
  }
  const int rule_lookup = bpf_program__fd(alt->progs.alt_rule_lookup);

  // Frames.
  Ipv4Spec udp_ip;
  udp_ip.protocol = IPPROTO_UDP;
  const auto udp4 = PacketBuilder().Eth(ETH_P_IP).Ipv4(udp_ip).Udp().Build();
  const auto ack4 = PacketBuilder().Eth(ETH_P_IP).Ipv4({}).Tcp(kTcpAck).Build();
  const auto ack6 =
      PacketBuilder().Eth(ETH_P_IPV6).Ipv6({}).Tcp(kTcpAck).Build();
  const auto known4 = Syn4("192.0.2.56");
  const auto known6 = Syn6("2001:db8:1:2:3:4:5:6");
  Ipv4Spec vlan_ip;
  vlan_ip.src = "192.0.2.57";
  const auto vlan4 = PacketBuilder()
                         .Eth(ETH_P_8021Q)
                         .Vlan(100, ETH_P_IP)
                         .Ipv4(vlan_ip)
                         .Tcp(kTcpSyn)
                         .Build();
  const auto allowed4 = Syn4("192.0.2.120");
  const auto denied4 = Syn4("203.0.113.7");
  const auto denied6 = Syn6("2001:db8:8000::5");
  auto new6 = Syn6("2001:db8::1");

  const int sw_peers = sw.peers_fd();
  std::map<std::string, std::vector<Sample>> samples;
  const auto rec = [&](const std::string& key, Sample s) {
    samples[key].push_back(s);
  };

  std::fprintf(stderr,
               "xdp_bench: %d runs, repeat %u (new peer, not full: %u)\n",
               o.runs, o.repeat, o.notfull_repeat);
  for (int run = 0; run < o.runs; ++run) {
    const uint32_t r = o.repeat;
    rec("floor", TestRunFine(floor_fd, udp4, r, XDP_PASS, "floor"));
    rec("udp_v4", TestRunFine(sw_fd, udp4, r, XDP_PASS, "udp"));
    rec("tcp_ack_v4", TestRunFine(sw_fd, ack4, r, XDP_PASS, "ack4"));
    rec("tcp_ack_v6", TestRunFine(sw_fd, ack6, r, XDP_PASS, "ack6"));
    rec("syn_known_v4", TestRunFine(sw_fd, known4, r, XDP_PASS, "known4"));
    rec("syn_known_v6", TestRunFine(sw_fd, known6, r, XDP_PASS, "known6"));
    rec("syn_known_vlan", TestRunFine(sw_fd, vlan4, r, XDP_PASS, "vlan"));
    rec("syn_allowed_v4", TestRunFine(sw_fd, allowed4, r, XDP_PASS, "allowed"));
    rec("syn_denied_v4", TestRunFine(sw_fd, denied4, r, XDP_DROP, "denied4"));
    rec("syn_denied_v6", TestRunFine(sw_fd, denied6, r, XDP_DROP, "denied6"));

    // The harness: its own cost, a check of the subtraction, new peers.
    aim(floor_fd);
    rec("harness_same_floor",
        TestRunFine(same, udp4, r, XDP_PASS, "same>floor"));
    SetSrc6Word(new6, kFullBase + static_cast<uint32_t>(run) * kFullStride);
    rec("harness_next_src6_floor",
        TestRunFine(next_src6, new6, r, XDP_PASS, "next_src6>floor"));
    aim(sw_fd);
    rec("harness_same_known_v6",
        TestRunFine(same, known6, r, XDP_PASS, "same>known6"));

    // Table full: every SYN evicts the least recently used peer.
    Prefill(sw_peers, true, kPrefillBase, kPeerEntries + 8192);
    SetSrc6Word(new6, kFullBase + static_cast<uint32_t>(run) * kFullStride);
    rec("harness_new_peer_full",
        TestRunFine(next_src6, new6, r, XDP_PASS, "new peer, full"));
    // Table not full: an empty table, fewer new peers than it holds.
    ClearMap(sw_peers);
    SetSrc6Word(new6, kNotFullBase + static_cast<uint32_t>(run) * 0x10000);
    rec("harness_new_peer_notfull", TestRun(next_src6, new6, o.notfull_repeat,
                                            XDP_PASS, "new peer, not full"));
    // Normal operation (flood admission off): every new peer is inserted on
    // its first SYN, into a table that is not full.
    {
      Policy exact = policy;
      exact.peers.flood_new_peers_per_second = 0;
      sw.ApplyPolicy(exact);
      ClearMap(sw_peers);
      SetSrc6Word(new6,
                  kNotFullBase + 0x8000 + static_cast<uint32_t>(run) * 0x10000);
      rec("harness_new_peer_exact", TestRun(next_src6, new6, o.notfull_repeat,
                                            XDP_PASS, "new peer, exact"));
      sw.ApplyPolicy(policy);
    }

    if (has_scan) {
      // The default port-scan settings (3 ports in 60 s, blocked 10 min).
      Policy scan = policy;
      scan.port_scan = PortScanConfig{};
      scan.port_scan.enabled = true;
      sw.ApplyPolicy(scan);
      rec("syn_known_v4_scan",
          TestRunFine(sw_fd, known4, r, XDP_PASS, "scan known"));
      SetSrc6Word(new6, kScanBase + static_cast<uint32_t>(run) * kFullStride);
      rec("harness_new_peer_scan",
          TestRunFine(next_src6, new6, r, XDP_PASS, "scan new peer"));
      // One source walking ports: detected after max_ports, then blocked,
      // so nearly every repeat is the blocked path (dropped).
      auto scanner = Syn4("192.0.2.58");
      rec("harness_port_sweep",
          TestRunFine(next_dport4, scanner, r, XDP_DROP, "scan sweep"));
      sw.ApplyPolicy(policy);
    }

    // The rule lookup alone (no parse beyond fixed offsets, no counting).
    rec("lpm_known_v4", TestRunFine(rule_lookup, known4, r, XDP_PASS, "lpm"));
    rec("lpm_denied_v4", TestRunFine(rule_lookup, denied4, r, XDP_DROP, "lpm"));
    rec("lpm_known_v6", TestRunFine(rule_lookup, known6, r, XDP_PASS, "lpm"));
    rec("lpm_denied_v6", TestRunFine(rule_lookup, denied6, r, XDP_DROP, "lpm"));

    // The alternatives experiment: the table operation alone.
    struct Design {
      const char* key;
      int prog_fd;
      int map_fd;
      bool percpu;
    };
    const Design designs[] = {
        {"key_only", bpf_program__fd(alt->progs.alt_key_only), -1, false},
        {"lookup_only", bpf_program__fd(alt->progs.alt_lookup_only),
         bpf_map__fd(alt->maps.lru_percpu), true},
        {"lru_percpu", bpf_program__fd(alt->progs.alt_lru_percpu),
         bpf_map__fd(alt->maps.lru_percpu), true},
        {"lru_percpu_nocommon",
         bpf_program__fd(alt->progs.alt_lru_percpu_nocommon),
         bpf_map__fd(alt->maps.lru_percpu_nocommon), true},
        {"lru_shared", bpf_program__fd(alt->progs.alt_lru_shared),
         bpf_map__fd(alt->maps.lru_shared), false},
        {"lru_shared_nocommon",
         bpf_program__fd(alt->progs.alt_lru_shared_nocommon),
         bpf_map__fd(alt->maps.lru_shared_nocommon), false},
        {"hash_noevict", bpf_program__fd(alt->progs.alt_hash_noevict),
         bpf_map__fd(alt->maps.hash_noevict), true},
        {"admit", bpf_program__fd(alt->progs.alt_admit),
         bpf_map__fd(alt->maps.admitted), true},
    };
    auto frame = Syn6("2001:db8:1:2::1");
    for (const Design& d : designs) {
      const std::string k = std::string("alt_") + d.key;
      // Known peer: the same frame every time (the admit design needs two
      // SYNs before the peer is in its table; the first repeats do that).
      alt->data->advance = 0;
      SetSrc6Word(frame, 0x00030004);
      rec(k + "_known", TestRunFine(d.prog_fd, frame, r, XDP_PASS, k));
      alt->data->advance = 1;
      if (d.map_fd >= 0)
        Prefill(d.map_fd, d.percpu, kPrefillBase, kPeerEntries + 8192);
      SetSrc6Word(frame, kFullBase + static_cast<uint32_t>(run) * kFullStride);
      rec(k + "_new_full", TestRunFine(d.prog_fd, frame, r, XDP_PASS, k));
      if (d.map_fd >= 0) ClearMap(d.map_fd);
      SetSrc6Word(frame, kNotFullBase + static_cast<uint32_t>(run) * 0x10000);
      rec(k + "_new_notfull",
          TestRun(d.prog_fd, frame, o.notfull_repeat, XDP_PASS, k));
    }
    // A spoofed flood from a denied range: a new source every packet, all
    // of them inside one denied /47 (the harness adds 1 before each). Last
    // in the run: its peers fill the table, which the next run's cases
    // start from empty.
    aim(sw_fd);
    SetSrc6Word(new6, kDeniedFloodBase - 1);
    rec("harness_denied_flood", TestRun(next_src6, new6, kDeniedFloodSources,
                                        XDP_DROP, "denied flood"));
    ClearMap(sw_peers);
    std::fprintf(stderr, "  run %d/%d done\n", run + 1, o.runs);
  }

  std::map<std::string, Stats> st;
  for (const auto& [k, v] : samples) st[k] = Summarise(v);
  const double floor_ns = st["floor"].value();
  const double harness_src = st["harness_next_src6_floor"].value();
  const double harness_same = st["harness_same_floor"].value();

  std::vector<Row> rows;
  const auto direct = [&](const std::string& key, const std::string& label,
                          std::optional<double> target) {
    Row row;
    row.key = key;
    row.label = label;
    row.stats = st[key];
    row.ratio = row.stats.value() / floor_ns;
    row.target = target;
    rows.push_back(row);
  };
  const auto via_harness = [&](const std::string& key, const std::string& raw,
                               const std::string& label, double harness_cost,
                               std::optional<double> target,
                               const std::string& note) {
    Row row;
    row.key = key;
    row.label = label;
    row.stats = st[raw];
    row.net = row.stats.value() - harness_cost + floor_ns;
    row.ratio = *row.net / floor_ns;
    row.target = target;
    row.note = note;
    rows.push_back(row);
  };
  const auto missing = [&](const std::string& key, const std::string& label,
                           const std::string& note) {
    Row row;
    row.key = key;
    row.label = label;
    row.have = false;
    row.note = note;
    rows.push_back(row);
  };

  direct("floor", "floor (XDP_PASS only)", std::nullopt);
  direct("udp_v4", "UDP IPv4", 1.3);
  direct("tcp_ack_v4", "TCP ACK IPv4", 1.3);
  direct("tcp_ack_v6", "TCP ACK IPv6", 1.3);
  direct("syn_known_v4", "SYN known peer IPv4", 6);
  direct("syn_known_v6", "SYN known peer IPv6", 6);
  direct("syn_known_vlan", "SYN known peer IPv4 in VLAN", 6);
  direct("syn_allowed_v4", "SYN allow-listed IPv4", 6);
  direct("syn_denied_v4", "SYN denied IPv4 (drop)", 6);
  direct("syn_denied_v6", "SYN denied IPv6 (drop)", 6);
  via_harness(
      "syn_known_v6_tailcall", "harness_same_known_v6",
      "SYN known peer IPv6 via tail call (method check)", harness_same, 6,
      "tail-call harness minus harness->floor; should match syn_known_v6");
  via_harness("syn_new_peer_full", "harness_new_peer_full",
              "SYN new peer every packet, table full (IPv6)", harness_src, 30,
              "harness rewrites the source /64 per packet; table pre-filled to "
              "capacity");
  via_harness("syn_new_peer_notfull", "harness_new_peer_notfull",
              "SYN new peer every packet, table not full (IPv6)", harness_src,
              30, "empty table, fewer new peers than capacity per run");
  via_harness("syn_new_peer_exact", "harness_new_peer_exact",
              "SYN new peer every packet, flood admission off (IPv6)",
              harness_src, std::nullopt,
              "info: a new peer's first SYN in normal operation (inserted); "
              "the rows above run under flood admission, as a spoofed "
              "flood does");
  via_harness("syn_denied_flood_v6", "harness_denied_flood",
              "SYN denied, new source every packet (flood, drop)", harness_src,
              30, "the harness walks the 131,072 /64s of a denied /47");
  if (has_scan) {
    direct("syn_known_v4_scan", "SYN known peer IPv4, port-scan tracking on",
           6);
    via_harness("syn_new_peer_scan", "harness_new_peer_scan",
                "SYN new peer, port-scan tracking on", harness_src, 30, "");
    via_harness("syn_port_sweep_scan", "harness_port_sweep",
                "SYN from a scanner sweeping ports (blocked, drop)",
                harness_src, 6,
                "one source, next port every packet: detected, then blocked");
  } else {
    const std::string why =
        "n/a: the program has no port-scan table yet (maps: " + map_names + ")";
    missing("syn_known_v4_scan", "SYN known peer IPv4, port-scan tracking on",
            why);
    missing("syn_new_peer_scan", "SYN new peer, port-scan tracking on", why);
    missing("syn_port_sweep_scan",
            "SYN from a scanner sweeping ports (blocked, drop)", why);
  }

  // Table.
  std::printf(
      "\n== 1. XDP per-packet cost (BPF_PROG_TEST_RUN, ns/packet, %d runs x "
      "%u repeats; min/median/max: the kernel's integer ns, fine: sub-ns "
      "median, what net and ratio use where measured) ==\n",
      o.runs, o.repeat);
  std::printf("%-52s %6s %6s %6s %7s %8s %7s %7s %s\n", "case", "min", "median",
              "max", "fine", "net", "ratio", "target", "");
  for (const Row& row : rows) {
    if (!row.have) {
      std::printf("%-52s %6s %6s %6s %7s %8s %7s %7s %s\n", row.label.c_str(),
                  "-", "-", "-", "-", "-", "n/a", row.target ? "" : "", "n/a");
      continue;
    }
    const bool met = !row.target || row.ratio <= *row.target;
    const std::string fine =
        row.stats.fine_median >= 0 ? Num(row.stats.fine_median) : "";
    std::printf("%-52s %6u %6u %6u %7s %8s %6.2fx %6s %s\n", row.label.c_str(),
                row.stats.min, row.stats.median, row.stats.max, fine.c_str(),
                row.net ? Num(*row.net).c_str() : "", row.ratio,
                row.target ? (Num(*row.target).substr(0, 4) + "x").c_str() : "",
                row.target ? (met ? "met" : "MISSED") : "");
  }
  std::printf("harness->floor: same frame %.2f ns, new source /64 %.2f ns\n",
              harness_same, harness_src);

  // Alternatives.
  const double key_known = st["alt_key_only_known"].value();
  const double key_full = st["alt_key_only_new_full"].value();
  const double key_notfull = st["alt_key_only_new_notfull"].value();
  const double sw_known6 = st["syn_known_v6"].value();
  const double cur_known = st["alt_lru_percpu_known"].value() - key_known;
  std::printf(
      "\n-- per-peer table designs (tests/bench/peer_alt.bpf.c): ns of the "
      "table operation alone (program minus alt_key_only) --\n");
  std::printf("%-22s %8s %10s %12s %22s\n", "design", "known", "new,full",
              "new,notfull", "projected new-peer/floor");
  std::ostringstream alt_json;
  bool first_alt = true;
  for (const char* d :
       {"lookup_only", "lru_percpu", "lru_percpu_nocommon", "lru_shared",
        "lru_shared_nocommon", "hash_noevict", "admit"}) {
    const std::string k = std::string("alt_") + d;
    const double known = st[k + "_known"].value() - key_known;
    const double full = st[k + "_new_full"].value() - key_full;
    const double notfull = st[k + "_new_notfull"].value() - key_notfull;
    // synwatch's known-peer SYN with its count_peer() swapped for this
    // design's new-peer path.
    const double projected = (sw_known6 - cur_known + full) / floor_ns;
    std::printf("%-22s %8.0f %10.0f %12.0f %21.1fx\n", d, known, full, notfull,
                projected);
    alt_json << (first_alt ? "" : ",") << "\n      \"" << d
             << "\": {\"known_ns\": " << Num(known)
             << ", \"new_full_ns\": " << Num(full)
             << ", \"new_notfull_ns\": " << Num(notfull)
             << ", \"projected_new_peer_ratio\": " << Num(projected) << "}";
    first_alt = false;
  }

  std::printf(
      "\n-- rule lookup alone (LPM trie, %zu entries; program minus "
      "floor, ns) --\n",
      rules.allow.size() + rules.deny.size());
  std::ostringstream lpm_json;
  bool first_lpm = true;
  for (const char* c : {"known_v4", "denied_v4", "known_v6", "denied_v6"}) {
    const double ns = st[std::string("lpm_") + c].value() - floor_ns;
    std::printf("%-22s %8.0f\n", c, ns);
    lpm_json << (first_lpm ? "" : ", ") << "\"" << c << "_ns\": " << Num(ns);
    first_lpm = false;
  }

  if (o.json.empty()) return 0;
  std::ofstream out(o.json);
  utsname u{};
  uname(&u);
  out << "{\n  \"method\": \"BPF_PROG_TEST_RUN, median of runs; ns_*: the "
         "kernel-reported ns/packet (integer); ns_fine_median: thread CPU time "
         "of N "
         "packets minus that of N/8 over the 7N/8 between (sub-ns); ratio = "
         "fine (else integer) median / the floor's\",\n"
      << "  \"kernel\": \"" << JsonEscape(u.release) << "\",\n"
      << "  \"runs\": " << o.runs << ",\n  \"repeat\": " << o.repeat
      << ",\n  \"notfull_repeat\": " << o.notfull_repeat
      << ",\n  \"rules\": {\"allow\": " << rules.allow.size()
      << ", \"deny\": " << rules.deny.size() << "},\n"
      << "  \"peer_entries\": " << kPeerEntries << ",\n"
      << "  \"port_scan_tracking\": " << (has_scan ? "true" : "false") << ",\n"
      << "  \"harness_same_floor_ns\": " << Num(harness_same) << ",\n"
      << "  \"harness_new_src_floor_ns\": " << Num(harness_src) << ",\n"
      << "  \"cases\": {";
  bool first = true;
  for (const Row& row : rows) {
    out << (first ? "" : ",") << "\n    \"" << row.key << "\": {";
    first = false;
    if (!row.have) {
      out << "\"ns_median\": null, \"ratio\": null, \"note\": \""
          << JsonEscape(row.note) << "\"}";
      continue;
    }
    out << "\"ns_min\": " << row.stats.min
        << ", \"ns_median\": " << row.stats.median
        << ", \"ns_max\": " << row.stats.max
        << ", \"ns_mean\": " << Num(row.stats.mean)
        << ", \"wall_ns_median\": " << Num(row.stats.wall_median);
    if (row.stats.fine_median >= 0)
      out << ", \"ns_fine_median\": " << Num(row.stats.fine_median);
    if (row.net) out << ", \"net_ns\": " << Num(*row.net);
    out << ", \"above_floor_ns\": "
        << Num((row.net ? *row.net : row.stats.value()) - floor_ns);
    out << ", \"ratio\": " << Num(row.ratio);
    if (row.target) {
      out << ", \"target_ratio\": " << Num(*row.target)
          << ", \"met\": " << (row.ratio <= *row.target ? "true" : "false");
    }
    if (!row.note.empty())
      out << ", \"note\": \"" << JsonEscape(row.note) << "\"";
    out << "}";
  }
  out << "\n  },\n  \"alternatives\": {" << alt_json.str() << "\n  },\n"
      << "  \"rule_lookup\": {" << lpm_json.str() << "}\n}\n";
  return 0;
}

}  // namespace
}  // namespace synwatch::bench

int main(int argc, char** argv) {
  try {
    const auto o = synwatch::bench::ParseArgs(argc, argv);
    if (!o.print_rules.empty()) {
      synwatch::bench::PrintRules(o.print_rules);
      return 0;
    }
    return synwatch::bench::Run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "xdp_bench: %s\n", e.what());
    return 1;
  }
}
