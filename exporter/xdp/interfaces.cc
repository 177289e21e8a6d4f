// SPDX-License-Identifier: Apache-2.0
#include "xdp/interfaces.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace synwatch {
namespace {

// NLMSG_OK(h, left) with its types spelled out: the macro compares left, an
// int, with the unsigned nlmsg_len.
bool MessageFits(const nlmsghdr* h, int left) {
  return left >= static_cast<int>(sizeof(nlmsghdr)) &&
         h->nlmsg_len >= sizeof(nlmsghdr) &&
         h->nlmsg_len <= static_cast<unsigned>(left);
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void AddUnique(std::vector<std::string>& names, const std::string& name) {
  if (name.empty() || name == "lo") return;
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    names.push_back(name);
  }
}

}  // namespace

std::vector<std::string> ParseIpv4DefaultRoutes(const std::string& text) {
  // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
  std::vector<std::string> names;
  std::istringstream in(text);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string iface, dest, gateway, flags, refcnt, use, metric, mask;
    if (!(fields >> iface >> dest >> gateway >> flags >> refcnt >> use >>
          metric >> mask)) {
      continue;
    }
    const unsigned long f = std::stoul(flags, nullptr, 16);
    constexpr unsigned long kRtfUp = 0x1;
    if (dest == "00000000" && mask == "00000000" && (f & kRtfUp)) {
      AddUnique(names, iface);
    }
  }
  return names;
}

std::vector<std::string> ParseIpv6DefaultRoutes(const std::string& text) {
  // dest dest_len src src_len next_hop metric refcnt use flags iface
  std::vector<std::string> names;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string dest, dest_len, src, src_len, next_hop, metric, refcnt, use,
        flags, iface;
    if (!(fields >> dest >> dest_len >> src >> src_len >> next_hop >> metric >>
          refcnt >> use >> flags >> iface)) {
      continue;
    }
    const unsigned long f = std::stoul(flags, nullptr, 16);
    constexpr unsigned long kRtfUp = 0x1;
    constexpr unsigned long kRtfReject = 0x200;
    if (dest == std::string(32, '0') && dest_len == "00" && (f & kRtfUp) &&
        !(f & kRtfReject)) {
      AddUnique(names, iface);
    }
  }
  return names;
}

std::vector<std::string> DefaultRouteInterfaces() {
  std::vector<std::string> names =
      ParseIpv4DefaultRoutes(ReadFile("/proc/self/net/route"));
  for (const auto& n :
       ParseIpv6DefaultRoutes(ReadFile("/proc/self/net/ipv6_route"))) {
    AddUnique(names, n);
  }
  return names;
}

LinkWatcher::LinkWatcher() {
  fd_ = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
               NETLINK_ROUTE);
  if (fd_ < 0) {
    throw std::runtime_error(std::string("netlink socket for link events: ") +
                             std::strerror(errno));
  }
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = RTMGRP_LINK;
  if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd_);
    throw std::runtime_error(std::string("netlink bind for link events: ") +
                             std::strerror(err));
  }
}

LinkWatcher::~LinkWatcher() { close(fd_); }

bool LinkWatcher::Drain() {
  alignas(nlmsghdr) char buf[8192];
  bool changed = false;
  for (;;) {
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOBUFS) {  // overrun: events were lost, look again
        changed = true;
        continue;
      }
      break;  // EAGAIN: drained
    }
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf); MessageFits(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
        changed = true;
      }
    }
  }
  return changed;
}

void InterfaceManager::Apply(const std::vector<std::string>& configured,
                             XdpMode mode) {
  std::vector<std::string> names = configured;
  if (names.size() == 1 && names[0] == "auto") {
    names = DefaultRouteInterfaces();
    if (names.empty()) {
      throw std::runtime_error(
          "xdp.interfaces = [\"auto\"]: no interface carries a default route; "
          "name the interfaces in xdp.interfaces or with --interface");
    }
  }

  std::vector<InterfaceState> next;
  std::vector<uint32_t> attached_now;
  try {
    for (const std::string& name : names) {
      const uint32_t ifindex = if_nametoindex(name.c_str());
      if (ifindex == 0) {
        throw std::runtime_error("interface " + name + ": no such interface");
      }
      const bool was = program_.IsAttached(ifindex);
      const AttachedMode m = program_.Attach(name, ifindex, mode);
      if (!was) {
        attached_now.push_back(ifindex);
        spdlog::info(
            "Attached XDP program (id {}) to {} (ifindex {}) in {} mode",
            program_.prog_id(ifindex), name, ifindex, ToString(m));
      }
      next.push_back(
          {name, ifindex, true, FindIfindexSlot(program_.config(), ifindex),
           std::string(ToString(m)), std::string(ToString(program_.attach())),
           program_.run_priority()});
    }
  } catch (...) {
    for (uint32_t ifindex : attached_now) program_.Detach(ifindex);
    throw;
  }

  std::lock_guard lock(mu_);
  mode_ = mode;
  errors_.assign(next.size(), std::string());
  for (const InterfaceState& old : states_) {
    const bool kept = std::any_of(next.begin(), next.end(), [&](const auto& s) {
      return s.ifindex == old.ifindex;
    });
    if (!kept && old.attached) {
      program_.Detach(old.ifindex);
      spdlog::info("Detached XDP program from {} (ifindex {})", old.name,
                   old.ifindex);
    }
  }
  states_ = std::move(next);
}

void InterfaceManager::Reconcile() {
  std::vector<InterfaceState> states = Snapshot();
  for (std::size_t i = 0; i < states.size(); ++i) {
    InterfaceState& s = states[i];
    const uint32_t now = if_nametoindex(s.name.c_str());
    if (s.attached && (now != s.ifindex || !program_.LinkAlive(s.ifindex))) {
      program_.Detach(s.ifindex);
      s.attached = false;
      s.mode = std::string(ToString(mode_));
      spdlog::warn(
          "Interface {} (ifindex {}) is gone: XDP program detached; it is "
          "attached again when an interface named {} appears",
          s.name, s.ifindex, s.name);
    }
    if (s.attached || now == 0) continue;
    try {
      // The totals follow the name to its new ifindex before the attach,
      // and stay there if it fails: a later attempt, or the interface
      // coming back once more under yet another ifindex, continues them.
      program_.MoveSlot(s.ifindex, now);
      if (const uint32_t moved = FindIfindexSlot(program_.config(), now);
          moved != SW_IF_UNKNOWN) {
        s.ifindex = now;
        s.slot = moved;
      }
      const AttachedMode m = program_.Attach(s.name, now, mode_);
      s.ifindex = now;
      s.attached = true;
      s.slot = FindIfindexSlot(program_.config(), now);
      s.mode = std::string(ToString(m));
      errors_[i].clear();
      spdlog::info(
          "Interface {} is back (ifindex {}): attached XDP program (id {}) in "
          "{} mode",
          s.name, now, program_.prog_id(now), ToString(m));
    } catch (const std::exception& e) {
      if (errors_[i] != e.what()) {
        spdlog::error("Interface {} is back but cannot be attached: {}", s.name,
                      e.what());
        errors_[i] = e.what();
      }
    }
  }
  std::lock_guard lock(mu_);
  states_ = std::move(states);
}

std::vector<InterfaceState> InterfaceManager::Snapshot() const {
  std::lock_guard lock(mu_);
  return states_;
}

bool InterfaceManager::AllAttached() const {
  std::lock_guard lock(mu_);
  return !states_.empty() &&
         std::all_of(states_.begin(), states_.end(),
                     [](const auto& s) { return s.attached; });
}

}  // namespace synwatch
