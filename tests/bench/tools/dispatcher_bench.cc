// SPDX-License-Identifier: Apache-2.0
// Per-packet cost through libxdp's dispatcher against direct attach, in one
// run: two BpfPrograms loaded and configured the way the exporter does it,
// one attached directly (generic mode) to DIRECT_IF, the other through the
// dispatcher (xdp.attach = "dispatcher", run priority 10, chain call on
// pass) to DISPATCHER_IF; both run with BPF_PROG_TEST_RUN, the dispatcher as
// the kernel runs it on that interface (its fd from libxdp), the direct one
// as its copy. Cases interleaved run by run; each figure is the thread's CPU
// time of `repeat` packets minus that of repeat / 8 (xdp_bench's "fine"
// figure, see tests/bench/README.md section 1). Exits 77 when the kernel
// refuses libxdp's dispatcher (its extension programs).
//
//   dispatcher_bench --direct IF --dispatcher IF [--runs N] [--repeat N]
//       (root, inside a scratch network namespace; LIBXDP_BPFFS may point
//       libxdp at a BPF filesystem of the caller's own)
// Prints a table on stderr and one JSON object on stdout.
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
#include <xdp/libxdp.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "floor.skel.h"
#include "packet_builder.h"
#include "test_run.h"
#include "xdp/bpf_program.h"

namespace synwatch::bench {
namespace {

// CPU ns per packet of `repeat` packets of frame coming in on ifindex,
// below BPF_PROG_TEST_RUN's ns resolution (TestRunFine, test_run.h).
double FineNs(int prog_fd, uint32_t ifindex, const std::vector<uint8_t>& frame,
              uint32_t repeat, const std::string& what) {
  return TestRunFine(prog_fd, frame, repeat, XDP_PASS, what, ifindex).fine_ns;
}

struct Spread {
  double min = 0, median = 0, max = 0;
};

Spread Summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  if (v.empty()) return {};
  return {v.front(), v[v.size() / 2], v.back()};
}

// Entries in a hash map (the peers synwatch counted).
uint32_t Entries(int fd, uint32_t key_size) {
  std::vector<uint8_t> key(key_size), next(key_size);
  uint32_t n = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key = next;
    prev = key.data();
  }
  return n;
}

bool InScratchNetns() {
  struct stat self = {};
  struct stat init = {};
  if (stat("/proc/self/ns/net", &self) != 0) return false;
  if (stat("/proc/1/ns/net", &init) != 0) return true;
  return self.st_ino != init.st_ino;
}

uint32_t Ifindex(const std::string& name) {
  const unsigned idx = if_nametoindex(name.c_str());
  if (idx == 0) Die("interface " + name, errno);
  return idx;
}

Policy BenchPolicy() {
  Policy policy;
  policy.rules.dry_run = false;
  policy.port_scan.enabled = false;
  return policy;
}

struct Options {
  std::string direct_if, dispatcher_if;
  int runs = 11;
  uint32_t repeat = 1000000;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value for " + a);
    const std::string v = argv[++i];
    if (a == "--direct") {
      o.direct_if = v;
    } else if (a == "--dispatcher") {
      o.dispatcher_if = v;
    } else if (a == "--runs") {
      o.runs = std::stoi(v);
    } else if (a == "--repeat") {
      o.repeat = static_cast<uint32_t>(std::stoul(v));
    } else {
      throw std::runtime_error("unknown option " + a);
    }
  }
  if (o.direct_if.empty() || o.dispatcher_if.empty() || o.runs < 1 ||
      o.repeat < 8) {
    throw std::runtime_error(
        "usage: dispatcher_bench --direct IF --dispatcher IF [--runs N] "
        "[--repeat N>=8]");
  }
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
        "run me inside a scratch network namespace: I attach XDP programs");
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN) - 1), &set);
  sched_setaffinity(0, sizeof(set), &set);

  std::unique_ptr<floor_bpf, Destroy<floor_bpf>> floor(
      floor_bpf__open_and_load(), {floor_bpf__destroy});
  if (!floor) Die("load floor program", errno);
  const int floor_fd = bpf_program__fd(floor->progs.xdp_floor);

  const uint32_t direct_idx = Ifindex(o.direct_if);
  const uint32_t disp_idx = Ifindex(o.dispatcher_if);
  BpfProgram direct{MapSizes{}};
  direct.ApplyPolicy(BenchPolicy());
  direct.Attach(o.direct_if, direct_idx, XdpMode::kGeneric);
  const int direct_fd = bpf_prog_get_fd_by_id(direct.prog_id(direct_idx));
  if (direct_fd < 0) Die("direct program fd", errno);

  BpfProgram through{MapSizes{}};
  through.UseDispatcher(10);
  through.ApplyPolicy(BenchPolicy());
  try {
    through.Attach(o.dispatcher_if, disp_idx, XdpMode::kGeneric);
  } catch (const std::exception& e) {
    if (std::strstr(e.what(), "libxdp cannot load its dispatcher") ||
        std::strstr(e.what(), "Operation not permitted")) {
      std::fprintf(stderr, "dispatcher_bench: SKIPPED (%s)\n", e.what());
      return 77;
    }
    throw;
  }
  through.Activate();  // the gate: the component counts from here on
  xdp_multiprog* mp =
      xdp_multiprog__get_from_ifindex(static_cast<int>(disp_idx));
  if (libxdp_get_error(mp) != 0 || mp == nullptr ||
      xdp_multiprog__is_legacy(mp)) {
    throw std::runtime_error("no libxdp dispatcher on " + o.dispatcher_if);
  }
  const int disp_fd = xdp_program__fd(xdp_multiprog__main_prog(mp));
  if (disp_fd < 0) Die("dispatcher fd", EINVAL);

  const auto ack4 = PacketBuilder().Eth(ETH_P_IP).Ipv4({}).Tcp(kTcpAck).Build();
  Ipv4Spec known;
  known.src = "192.0.2.56";
  const auto syn4 =
      PacketBuilder().Eth(ETH_P_IP).Ipv4(known).Tcp(kTcpSyn).Build();

  // The known peer becomes known to both, and the dispatcher really runs
  // synwatch: its peer table has the peer afterwards.
  TestRun(direct_fd, syn4, 16, XDP_PASS, "warm direct", direct_idx);
  TestRun(disp_fd, syn4, 16, XDP_PASS, "warm dispatcher", disp_idx);
  const uint32_t key_size = sizeof(sw_peer_key);
  if (Entries(through.peers_fd(), key_size) != 1 ||
      Entries(direct.peers_fd(), key_size) != 1) {
    throw std::runtime_error(
        "the known peer is not in both peer tables: the dispatcher did not "
        "run synwatch");
  }

  std::map<std::string, std::vector<double>> s;
  std::fprintf(stderr, "dispatcher_bench: %d runs, repeat %u\n", o.runs,
               o.repeat);
  for (int run = 0; run < o.runs; ++run) {
    const uint32_t r = o.repeat;
    s["floor"].push_back(FineNs(floor_fd, direct_idx, ack4, r, "floor"));
    s["direct_non_syn"].push_back(
        FineNs(direct_fd, direct_idx, ack4, r, "direct ack"));
    s["dispatcher_non_syn"].push_back(
        FineNs(disp_fd, disp_idx, ack4, r, "dispatcher ack"));
    s["direct_known_syn"].push_back(
        FineNs(direct_fd, direct_idx, syn4, r, "direct known"));
    s["dispatcher_known_syn"].push_back(
        FineNs(disp_fd, disp_idx, syn4, r, "dispatcher known"));
  }
  xdp_multiprog__close(mp);
  if (Entries(through.peers_fd(), key_size) != 1) {
    throw std::runtime_error("the dispatcher's peer table changed");
  }

  utsname u{};
  uname(&u);
  const double floor_ns = Summarise(s["floor"]).median;
  const Spread dn = Summarise(s["direct_non_syn"]);
  const Spread pn = Summarise(s["dispatcher_non_syn"]);
  const Spread dk = Summarise(s["direct_known_syn"]);
  const Spread pk = Summarise(s["dispatcher_known_syn"]);
  // Per-run ratios too: the spread of the ratio, drift cancelled.
  std::vector<double> rn, rk;
  for (size_t i = 0; i < s["direct_non_syn"].size(); ++i) {
    rn.push_back(s["dispatcher_non_syn"][i] / s["direct_non_syn"][i]);
    rk.push_back(s["dispatcher_known_syn"][i] / s["direct_known_syn"][i]);
  }
  const Spread rns = Summarise(rn);
  const Spread rks = Summarise(rk);
  std::fprintf(stderr,
               "kernel %s (medians; min-max of the per-run ratio)\n"
               "case            direct ns  dispatcher ns  ratio\n"
               "non-SYN (ACK)   %9.2f  %13.2f  %5.3f (%.3f-%.3f)\n"
               "known-peer SYN  %9.2f  %13.2f  %5.3f (%.3f-%.3f)\n"
               "floor (XDP_PASS only): %.2f ns\n",
               u.release, dn.median, pn.median, pn.median / dn.median, rns.min,
               rns.max, dk.median, pk.median, pk.median / dk.median, rks.min,
               rks.max, floor_ns);
  std::printf(
      "{\"kernel\":\"%s\",\"runs\":%d,\"repeat\":%u,\"floor_ns\":%.3f,"
      "\"direct_non_syn_ns\":%.3f,\"dispatcher_non_syn_ns\":%.3f,"
      "\"ratio_non_syn\":%.3f,\"ratio_non_syn_min\":%.3f,"
      "\"ratio_non_syn_max\":%.3f,\"direct_known_syn_ns\":%.3f,"
      "\"dispatcher_known_syn_ns\":%.3f,\"ratio_known_syn\":%.3f,"
      "\"ratio_known_syn_min\":%.3f,\"ratio_known_syn_max\":%.3f}\n",
      u.release, o.runs, o.repeat, floor_ns, dn.median, pn.median,
      pn.median / dn.median, rns.min, rns.max, dk.median, pk.median,
      pk.median / dk.median, rks.min, rks.max);
  return 0;
}

}  // namespace
}  // namespace synwatch::bench

int main(int argc, char** argv) {
  try {
    return synwatch::bench::Run(synwatch::bench::ParseArgs(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dispatcher_bench: %s\n", e.what());
    return 1;
  }
}
