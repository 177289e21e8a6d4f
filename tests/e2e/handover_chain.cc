// SPDX-License-Identifier: Apache-2.0
// Test only (e2e/dispatcher_test.sh): puts a hand-over in the middle of
// every packet's way through a libxdp dispatcher chain, for as long as it
// runs.
//
//   handover_chain PIN_PATH IFACE
//   handover_chain syns SRC DST PORT N
//
// The synwatch that runs with PIN_PATH on IFACE has its program at run
// priority 10 and its token in "active" (token A). This adds, sharing the
// maps pinned at PIN_PATH: a second synwatch program with token B at
// priority 30, the way a restart attaches the new one beside the old, and
// the test program handover_flip twice, at 20 (moves "active" from A to B)
// and at 40 (from B back to A). Every packet that passes the chain meets A
// in "active" at the first synwatch program and B at the second: the store
// of a hand-over between the two. "handover" holds B meanwhile, as
// BpfProgram::Activate sets it during the switch. Prints "ready" once all is
// attached, then waits for end of input (at most 300 s), detaches its
// three programs, puts A back, clears "handover", and prints "flips N M":
// how many packets each flipper moved.
//
// "syns" sends N SYNs from SRC to DST:PORT through a raw socket, each from
// a source port of its own (20000 + i), 2 ms apart: the peer's SYN-ACKs
// meet RSTs, so nothing is retransmitted.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>
#include <xdp/libxdp.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "handover_flip.skel.h"
#include "synwatch.skel.h"

namespace {

constexpr uint32_t kFlipOutPrio = 20;
constexpr uint32_t kSecondPrio = 30;
constexpr uint32_t kFlipBackPrio = 40;
constexpr int kMaxWaitMs = 300 * 1000;

[[noreturn]] void Fail(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + std::strerror(err < 0 ? -err : err));
}

struct SynwatchDeleter {
  void operator()(synwatch_bpf* s) const { synwatch_bpf__destroy(s); }
};
struct FlipDeleter {
  void operator()(handover_flip_bpf* s) const { handover_flip_bpf__destroy(s); }
};
struct ProgDeleter {
  void operator()(xdp_program* p) const { xdp_program__close(p); }
};
using ProgPtr = std::unique_ptr<xdp_program, ProgDeleter>;

uint64_t ReadWord(int fd) {
  const uint32_t zero = 0;
  uint64_t v = 0;
  if (bpf_map_lookup_elem(fd, &zero, &v) != 0) Fail("read map", errno);
  return v;
}

void WriteWord(int fd, uint64_t v) {
  const uint32_t zero = 0;
  if (bpf_map_update_elem(fd, &zero, &v, BPF_ANY) != 0) {
    Fail("write map", errno);
  }
}

int PinnedMap(const std::string& pin, const std::string& name) {
  const std::string path = pin + "/" + name;
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) Fail(path, errno);
  return fd;
}

// obj's program name, attached to ifindex at prio in mode, chain call on
// XDP_PASS.
ProgPtr Attach(bpf_object* obj, const char* name, int ifindex, uint32_t prio,
               xdp_attach_mode mode) {
  xdp_program_opts opts{};
  opts.sz = sizeof(opts);
  opts.obj = obj;
  opts.prog_name = name;
  xdp_program* prog = xdp_program__create(&opts);
  if (const long err = libxdp_get_error(prog); err != 0 || prog == nullptr) {
    Fail(std::string("libxdp program ") + name,
         err != 0 ? static_cast<int>(err) : EINVAL);
  }
  ProgPtr p(prog);
  xdp_program__set_run_prio(prog, prio);
  xdp_program__set_chain_call_enabled(prog, XDP_PASS, true);
  if (const int err = xdp_program__attach(prog, ifindex, mode, 0); err != 0) {
    Fail(std::string("attach ") + name, err);
  }
  std::printf("attached %s (id %u) at priority %u\n", name,
              xdp_program__id(prog), prio);
  return p;
}

int Run(const std::string& pin, const std::string& iface) {
  const int ifindex = static_cast<int>(if_nametoindex(iface.c_str()));
  if (ifindex == 0) Fail(iface, errno);
  xdp_multiprog* mp = xdp_multiprog__get_from_ifindex(ifindex);
  if (libxdp_get_error(mp) != 0 || mp == nullptr ||
      xdp_multiprog__is_legacy(mp)) {
    throw std::runtime_error(iface + ": no libxdp dispatcher");
  }
  const xdp_attach_mode mode = xdp_multiprog__attach_mode(mp);
  xdp_multiprog__close(mp);

  const int active = PinnedMap(pin, "active");
  const int handover = PinnedMap(pin, "handover");
  const uint64_t a = ReadWord(active);
  if (a == 0) throw std::runtime_error("no synwatch token in active");
  uint64_t b = 0;
  while (b == 0 || b == a) {
    if (getrandom(&b, sizeof(b), 0) != sizeof(b)) Fail("getrandom", errno);
  }

  // The second synwatch program, on every map pinned at pin (sw_if_slot
  // stays SW_IF_UNKNOWN: it finds the interface's slot in "config").
  std::unique_ptr<synwatch_bpf, SynwatchDeleter> second(synwatch_bpf__open());
  if (!second) Fail("open synwatch", errno);
  second->rodata->sw_gate_token = b;
  bpf_map* map = nullptr;
  bpf_object__for_each_map(map, second->obj) {
    if (bpf_map__is_internal(map)) continue;
    const int fd = PinnedMap(pin, bpf_map__name(map));
    if (bpf_map__reuse_fd(map, fd) != 0) Fail(bpf_map__name(map), errno);
    close(fd);
  }
  std::unique_ptr<handover_flip_bpf, FlipDeleter> out(
      handover_flip_bpf__open());
  std::unique_ptr<handover_flip_bpf, FlipDeleter> back(
      handover_flip_bpf__open());
  if (!out || !back) Fail("open handover_flip", errno);
  out->rodata->flip_from = a;
  out->rodata->flip_to = b;
  back->rodata->flip_from = b;
  back->rodata->flip_to = a;
  for (handover_flip_bpf* f : {out.get(), back.get()}) {
    if (bpf_map__reuse_fd(f->maps.active, active) != 0) {
      Fail("share active", errno);
    }
  }

  // Each stays inert until the next is there: "active" holds A, and only
  // the flipper to B, attached last, starts moving it.
  ProgPtr p2 = Attach(second->obj, "xdp_synwatch", ifindex, kSecondPrio, mode);
  ProgPtr p3 =
      Attach(back->obj, "xdp_handover_flip", ifindex, kFlipBackPrio, mode);
  WriteWord(handover, b);
  ProgPtr p1 =
      Attach(out->obj, "xdp_handover_flip", ifindex, kFlipOutPrio, mode);
  std::printf("ready: tokens %#llx -> %#llx\n",
              static_cast<unsigned long long>(a),
              static_cast<unsigned long long>(b));
  std::fflush(stdout);

  pollfd in{STDIN_FILENO, POLLIN, 0};
  char buf[64];
  while (poll(&in, 1, kMaxWaitMs) > 0 &&
         read(STDIN_FILENO, buf, sizeof(buf)) > 0) {
  }

  int failed = 0;
  for (xdp_program* p : {p1.get(), p2.get(), p3.get()}) {
    if (const int err = xdp_program__detach(p, ifindex, mode, 0); err != 0) {
      std::fprintf(stderr, "detach %s: %s\n", xdp_program__name(p),
                   std::strerror(-err));
      failed = 1;
    }
  }
  WriteWord(active, a);
  WriteWord(handover, 0);
  std::printf(
      "flips %llu %llu\n",
      static_cast<unsigned long long>(ReadWord(bpf_map__fd(out->maps.flips))),
      static_cast<unsigned long long>(ReadWord(bpf_map__fd(back->maps.flips))));
  return failed;
}

uint16_t Checksum(const std::vector<uint8_t>& bytes) {
  uint32_t sum = 0;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
    sum += static_cast<uint32_t>(bytes[i] << 8 | bytes[i + 1]);
  }
  if (bytes.size() % 2 != 0) sum += static_cast<uint32_t>(bytes.back() << 8);
  while (sum >> 16 != 0) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum & 0xffff);
}

int Syns(const char* src, const char* dst, int port, int n) {
  in_addr s{};
  in_addr d{};
  if (inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1 ||
      port <= 0 || port > 65535 || n <= 0 || n > 10000) {
    throw std::runtime_error("syns: bad SRC, DST, PORT or N");
  }
  const int fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP);
  if (fd < 0) Fail("raw socket", errno);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr = s;
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
    Fail(std::string("bind ") + src, errno);
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = d;
  for (int i = 0; i < n; ++i) {
    const auto sport = static_cast<uint16_t>(20000 + i);
    // Source and destination port, sequence 1000, ack 0, data offset 5,
    // SYN, window 65535, checksum, urgent pointer.
    std::vector<uint8_t> tcp = {static_cast<uint8_t>(sport >> 8),
                                static_cast<uint8_t>(sport),
                                static_cast<uint8_t>(port >> 8),
                                static_cast<uint8_t>(port),
                                0,
                                0,
                                0x03,
                                0xe8,
                                0,
                                0,
                                0,
                                0,
                                0x50,
                                0x02,
                                0xff,
                                0xff,
                                0,
                                0,
                                0,
                                0};
    std::vector<uint8_t> pseudo(12);
    std::memcpy(pseudo.data(), &s, 4);
    std::memcpy(pseudo.data() + 4, &d, 4);
    pseudo[9] = IPPROTO_TCP;
    pseudo[11] = static_cast<uint8_t>(tcp.size());
    pseudo.insert(pseudo.end(), tcp.begin(), tcp.end());
    const uint16_t sum = Checksum(pseudo);
    tcp[16] = static_cast<uint8_t>(sum >> 8);
    tcp[17] = static_cast<uint8_t>(sum);
    if (sendto(fd, tcp.data(), tcp.size(), 0, reinterpret_cast<sockaddr*>(&to),
               sizeof(to)) < 0) {
      Fail("send SYN", errno);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  close(fd);
  std::printf("sent %d SYNs\n", n);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool syns = argc == 6 && std::string(argv[1]) == "syns";
  if (argc != 3 && !syns) {
    std::fprintf(stderr,
                 "usage: %s PIN_PATH IFACE\n       %s syns SRC DST PORT N\n",
                 argv[0], argv[0]);
    return 2;
  }
  try {
    if (syns)
      return Syns(argv[2], argv[3], std::atoi(argv[4]), std::atoi(argv[5]));
    return Run(argv[1], argv[2]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "handover_chain: %s\n", e.what());
    return 1;
  }
}
