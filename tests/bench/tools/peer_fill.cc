// SPDX-License-Identifier: Apache-2.0
// Fills a running exporter's per-peer table the way real peers would: two SYNs
// from each of N distinct IPv6 /64 peers (2001:db8::/32) driven through the
// program that is attached to the interface, with BPF_PROG_TEST_RUN and that
// interface as the ingress device, so every entry is written by the kernel
// program itself and labelled with the interface, as real traffic would be. The
// exporter runs with pin_path = "", so its maps are reachable only through its
// program.
//
//   peer_fill --interface NAME --count N [--base HEX]   (root, in NAME's netns)
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "packet_builder.h"
#include "xdp_run.h"

namespace {

[[noreturn]] void Die(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

double NowS() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

int Fill(const std::string& ifname, uint32_t count, uint32_t base) {
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) Die("interface " + ifname, errno);
  bpf_xdp_query_opts query{};
  query.sz = sizeof(query);
  if (bpf_xdp_query(static_cast<int>(ifindex), 0, &query) != 0) {
    Die("query XDP on " + ifname, errno);
  }
  const uint32_t prog_id = query.prog_id       ? query.prog_id
                           : query.drv_prog_id ? query.drv_prog_id
                                               : query.skb_prog_id;
  if (prog_id == 0) throw std::runtime_error("no XDP program on " + ifname);
  const int fd = bpf_prog_get_fd_by_id(prog_id);
  if (fd < 0) Die("program id " + std::to_string(prog_id), errno);

  // One CPU: the LRU's per-CPU free lists then hand out every entry before
  // anything is evicted, so N distinct peers make N entries.
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof(set), &set);

  std::vector<uint8_t> frame =
      synwatch::SynFrame("2001:db8::1", 80, 40000, "2001:db8::2");
  const double start = NowS();
  for (uint32_t i = 0; i < count; ++i) {
    // Source bytes 4..7 (frame offset 14 + 8 + 4): one /64 per SYN.
    const uint32_t be = htonl(base + i);
    std::memcpy(frame.data() + 26, &be, sizeof(be));
    // Two SYNs per peer: the program admits a peer to its table on the
    // second (the doorkeeper, README "What it measures").
    const synwatch::RunResult run = synwatch::RunXdp(fd, frame, ifindex, 2);
    if (run.err != 0) Die("BPF_PROG_TEST_RUN", run.err);
  }
  const double took = NowS() - start;
  std::printf("filled %u peers through prog %u on %s (ifindex %u) in %.2f s\n",
              count, prog_id, ifname.c_str(), ifindex, took);
  close(fd);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string ifname;
    uint32_t count = 0;
    uint32_t base = 0x00010000;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--interface") {
        ifname = v;
      } else if (a == "--count") {
        count = static_cast<uint32_t>(std::stoul(v));
      } else if (a == "--base") {
        base = static_cast<uint32_t>(std::stoul(v, nullptr, 16));
      } else {
        throw std::runtime_error("unknown argument " + a);
      }
    }
    if (ifname.empty()) throw std::runtime_error("--interface is required");
    return Fill(ifname, count, base);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "peer_fill: %s\n", e.what());
    return 1;
  }
}
