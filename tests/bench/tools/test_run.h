// SPDX-License-Identifier: Apache-2.0
// Running an XDP program through BPF_PROG_TEST_RUN and summarising the
// figures (the kernel's integer ns/packet and TestRunFine's sub-ns figure,
// tests/bench/README.md, section 1), and the benchmark rule set: shared by
// xdp_bench, crowdsec_bench and dispatcher_bench.
#pragma once

#include <bpf/bpf.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/net.h"

namespace synwatch::bench {

inline constexpr uint32_t kLoIfindex = 1;

[[noreturn]] inline void Die(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err));
}

// ---- running programs -----------------------------------------------------
struct Sample {
  uint32_t kernel_ns = 0;  // bpf_test_run's ns per repeat (integer)
  double wall_ns = 0;      // around the syscall, divided by repeat
  double cpu_ns = 0;       // this thread's CPU time in it, divided by repeat
  double fine_ns = -1;     // TestRunFine's sub-ns figure; < 0: not measured
};

inline double NowNs(clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// ifindex: the interface the packet comes in on (the program's slot).
inline Sample TestRun(int prog_fd, const std::vector<uint8_t>& frame,
                      uint32_t repeat, uint32_t want_verdict,
                      const std::string& what, uint32_t ifindex = kLoIfindex) {
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(frame.size());
  ctx.ingress_ifindex = ifindex;
  std::vector<uint8_t> out(frame.size() + 256);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = repeat;
  const double start = NowNs();
  const double cpu_start = NowNs(CLOCK_THREAD_CPUTIME_ID);
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) {
    Die("BPF_PROG_TEST_RUN " + what, errno);
  }
  const double cpu = NowNs(CLOCK_THREAD_CPUTIME_ID) - cpu_start;
  const double wall = NowNs() - start;
  if (opts.retval != want_verdict) {
    throw std::runtime_error("BPF_PROG_TEST_RUN " + what + ": verdict " +
                             std::to_string(opts.retval) + ", expected " +
                             std::to_string(want_verdict));
  }
  return Sample{opts.duration, wall / repeat, cpu / repeat};
}

// The cost of one packet below BPF_PROG_TEST_RUN's resolution: the kernel
// reports ns per repeat as an integer, so a 4.9 ns floor reads 4 and every
// ratio over it is off by up to 25%. Here the CPU time of `repeat` packets
// minus that of repeat / 8 run just before, over the packets in between:
// what one call costs whatever its repeat count (the syscall, copying the
// frame and context in and out, setting up the timer) cancels, and the rest
// is the run loop the kernel's own figure times, at ns resolution over
// millions of packets. This thread's CPU time (CLOCK_THREAD_CPUTIME_ID), not
// the wall clock: the run loop yields the CPU when another task needs it,
// and the kernel's figure leaves that time out too.
inline Sample TestRunFine(int prog_fd, const std::vector<uint8_t>& frame,
                          uint32_t repeat, uint32_t want_verdict,
                          const std::string& what,
                          uint32_t ifindex = kLoIfindex) {
  const uint32_t small = repeat / 8;
  if (small < 1) {
    return TestRun(prog_fd, frame, repeat, want_verdict, what, ifindex);
  }
  const Sample a = TestRun(prog_fd, frame, small, want_verdict, what, ifindex);
  Sample b = TestRun(prog_fd, frame, repeat, want_verdict, what, ifindex);
  b.fine_ns = (b.cpu_ns * repeat - a.cpu_ns * small) / (repeat - small);
  return b;
}

struct Stats {
  uint32_t min = 0, median = 0, max = 0;
  double mean = 0;  // of the integer samples: a hint below 1 ns resolution
  double wall_median = 0;
  double fine_median = -1;  // of TestRunFine's figures; < 0: not measured

  // The figure ratios are taken of: sub-ns where measured.
  double value() const { return fine_median >= 0 ? fine_median : median; }
};

inline Stats Summarise(std::vector<Sample> samples) {
  Stats s;
  if (samples.empty()) return s;
  std::vector<uint32_t> k;
  std::vector<double> w, f;
  for (const Sample& x : samples) {
    k.push_back(x.kernel_ns);
    w.push_back(x.wall_ns);
    if (x.fine_ns >= 0) f.push_back(x.fine_ns);
  }
  std::sort(k.begin(), k.end());
  std::sort(w.begin(), w.end());
  std::sort(f.begin(), f.end());
  if (f.size() == samples.size()) s.fine_median = f[f.size() / 2];
  s.min = k.front();
  s.max = k.back();
  s.median = k[k.size() / 2];
  s.wall_median = w[w.size() / 2];
  for (uint32_t v : k) s.mean += v;
  s.mean /= static_cast<double>(k.size());
  return s;
}

// ---- the rule set ---------------------------------------------------------
// 1,000 deny and 100 allow prefixes, half IPv4 and half IPv6, all in
// documentation space. IPv4 documentation space is three /24s, so the IPv4
// deny list is every prefix from /28 to /32 inside 203.0.113.0/24 (nested,
// like an aggregate plus its hosts), three /27s, and 198.51.100.0/24 (the
// IPv4 flood range). IPv6 deny prefixes are disjoint /48, /56, /64 and /128
// under 2001:db8:8000::/33, plus 2001:db8:e000::/47, the IPv6 flood range of
// run.sh. Allow: 192.0.2.100-149 and 50 /48s under 2001:db8:f000::/36.
struct RuleSet {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
};

inline std::string Hex(unsigned v) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%x", v);
  return buf;
}

inline RuleSet RealisticRules() {
  RuleSet r;
  for (int len = 32; len >= 28; --len) {
    const int step = 1 << (32 - len);
    for (int a = 0; a < 256; a += step) {
      r.deny.push_back("203.0.113." + std::to_string(a) + "/" +
                       std::to_string(len));
    }
  }
  for (int a : {128, 160, 192}) {
    r.deny.push_back("203.0.113." + std::to_string(a) + "/27");
  }
  r.deny.push_back("198.51.100.0/24");
  for (unsigned i = 0; i < 499; ++i) {
    const std::string group = Hex(0x8000 + i);
    switch (i % 4) {
      case 0:
        r.deny.push_back("2001:db8:" + group + "::/48");
        break;
      case 1:
        r.deny.push_back("2001:db8:" + group + ":ab00::/56");
        break;
      case 2:
        r.deny.push_back("2001:db8:" + group + ":1::/64");
        break;
      default:
        r.deny.push_back("2001:db8:" + group + "::66/128");
        break;
    }
  }
  r.deny.push_back("2001:db8:e000::/47");
  for (int h = 100; h < 150; ++h) {
    r.allow.push_back("192.0.2." + std::to_string(h) + "/32");
  }
  for (unsigned i = 0; i < 50; ++i) {
    r.allow.push_back("2001:db8:" + Hex(0xf000 + i) + "::/48");
  }
  return r;
}

inline std::vector<Cidr> ParseAll(const std::vector<std::string>& texts) {
  std::vector<Cidr> out;
  for (const std::string& t : texts) {
    std::string error;
    const std::optional<Cidr> c = ParseCidr(t, &error);
    if (!c) throw std::runtime_error("bench rule " + t + ": " + error);
    out.push_back(*c);
  }
  return out;
}

// BPF_PROG_TEST_RUN cases attach to lo: only in a namespace of their own.
inline bool InScratchNetns() {
  struct stat self = {};
  struct stat init = {};
  if (stat("/proc/self/ns/net", &self) != 0) return false;
  if (stat("/proc/1/ns/net", &init) != 0) return true;  // cannot tell: trust
  return self.st_ino != init.st_ino;
}

}  // namespace synwatch::bench
