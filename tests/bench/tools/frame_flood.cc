// SPDX-License-Identifier: Apache-2.0
// A bounded IPv6 SYN flood of XDP frames: the benchmark's second traffic
// source (tests/bench/run.sh, flood section). BPF_PROG_RUN in live-frames
// mode runs frame_source.bpf.c on COUNT frames; each gets the next source
// of the pool (source bytes 4..7 from 0xe0000000, one /64 per source, in
// order, as the trafgen source walks them) and is redirected out of
// INTERFACE (a veth). Its peer receives XDP frames, as a NIC driver does:
// a native XDP program there runs before any socket buffer exists, where
// a socket-sent frame is first copied into a page by veth.
//
//   frame_flood --interface NAME --dst-mac MAC --count N --pool P
//   (root, in NAME's netns; the peer needs NAPI: an XDP program or GRO on)
//
// Prints one JSON line: {"sent": N, "wall_us": T}.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <time.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "frame_source.skel.h"
#include "packet_builder.h"

namespace {

constexpr uint32_t kFirstSource = 0xe0000000;
constexpr size_t kSourceWordOff = 14 + 8 + 4;  // source bytes 4..7
constexpr size_t kTcpOff = 14 + 40;
constexpr size_t kTcpLen = 20;

[[noreturn]] void Die(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

uint64_t NowUs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000 +
         static_cast<uint64_t>(ts.tv_nsec) / 1000;
}

std::vector<uint8_t> ParseMac(const std::string& text) {
  std::vector<uint8_t> mac;
  unsigned b[6];
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3],
                  &b[4], &b[5]) != 6) {
    throw std::runtime_error("not a MAC address: " + text);
  }
  for (unsigned v : b) {
    if (v > 0xff) throw std::runtime_error("not a MAC address: " + text);
    mac.push_back(static_cast<uint8_t>(v));
  }
  return mac;
}

// The 16-bit one's complement sum of the TCP checksum's inputs (RFC 9293
// pseudo-header for IPv6, RFC 8200 8.1), with source bytes 4..7 and the
// checksum field zero: the program adds the source word it stamps.
uint32_t PartialSum(std::vector<uint8_t> frame) {
  std::memset(frame.data() + kSourceWordOff, 0, 4);
  std::memset(frame.data() + kTcpOff + 16, 0, 2);
  std::vector<uint8_t> in(frame.begin() + 14 + 8,
                          frame.begin() + 14 + 40);  // addresses
  const uint8_t tail[8] = {0, 0, 0, kTcpLen, 0, 0, 0, IPPROTO_TCP};
  in.insert(in.end(), tail, tail + sizeof(tail));
  in.insert(in.end(), frame.begin() + kTcpOff,
            frame.begin() + kTcpOff + kTcpLen);
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < in.size(); i += 2)
    sum += (uint32_t{in[i]} << 8) | in[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return sum;
}

int Flood(const std::string& ifname, const std::string& dst_mac, uint32_t count,
          uint32_t pool) {
  const unsigned ifindex = if_nametoindex(ifname.c_str());
  if (ifindex == 0) Die("interface " + ifname, errno);
  if (count == 0 || pool == 0)
    throw std::runtime_error("--count and --pool must be positive");

  std::vector<uint8_t> frame =
      synwatch::SynFrame("2001:db8:e000::1", 80, 40000, "2001:db8:ffff::2");
  const std::vector<uint8_t> mac = ParseMac(dst_mac);
  std::copy(mac.begin(), mac.end(), frame.begin());

  std::unique_ptr<frame_source_bpf, decltype(&frame_source_bpf__destroy)> skel(
      frame_source_bpf__open(), &frame_source_bpf__destroy);
  if (!skel) Die("open frame_source", errno);
  skel->rodata->out_ifindex = ifindex;
  skel->rodata->pool_size = pool;
  skel->rodata->first_source = kFirstSource;
  skel->rodata->partial_sum = PartialSum(frame);
  if (frame_source_bpf__load(skel.get()) != 0) Die("load frame_source", errno);

  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.repeat = count;
  opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
  const uint64_t start = NowUs();
  if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.frame_source),
                             &opts) != 0) {
    Die("BPF_PROG_RUN (live frames)", errno);
  }
  const uint64_t took = NowUs() - start;
  std::printf("{\"sent\": %u, \"wall_us\": %llu}\n", count,
              static_cast<unsigned long long>(took));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    std::string ifname, mac;
    uint32_t count = 0, pool = 0;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      const std::string v = argv[++i];
      if (a == "--interface") {
        ifname = v;
      } else if (a == "--dst-mac") {
        mac = v;
      } else if (a == "--count") {
        count = static_cast<uint32_t>(std::stoul(v));
      } else if (a == "--pool") {
        pool = static_cast<uint32_t>(std::stoul(v));
      } else {
        throw std::runtime_error("unknown argument " + a);
      }
    }
    if (ifname.empty() || mac.empty()) {
      throw std::runtime_error("--interface and --dst-mac are required");
    }
    return Flood(ifname, mac, count, pool);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "frame_flood: %s\n", e.what());
    return 1;
  }
}
