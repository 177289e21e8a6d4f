// SPDX-License-Identifier: Apache-2.0
// One BPF_PROG_TEST_RUN of an XDP program on a frame: shared by the BPF
// tests' fixture and the benchmark tools (which do not link gtest).
#pragma once

#include <bpf/bpf.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstdint>
#include <vector>

namespace synwatch {

struct RunResult {
  int err = 0;  // errno of BPF_PROG_TEST_RUN, 0 on success
  uint32_t verdict = 0;
};

// One BPF_PROG_TEST_RUN of the XDP program prog_fd on frame, as received
// on ifindex, repeat times.
inline RunResult RunXdp(int prog_fd, const std::vector<uint8_t>& frame,
                        uint32_t ifindex, int repeat = 1) {
  xdp_md ctx{};
  ctx.data_end = static_cast<uint32_t>(frame.size());
  ctx.ingress_ifindex = ifindex;
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = repeat;
  RunResult result;
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) result.err = errno;
  result.verdict = opts.retval;
  return result;
}

}  // namespace synwatch
