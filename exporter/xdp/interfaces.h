// SPDX-License-Identifier: Apache-2.0
// Which interfaces synwatch watches: names from the config (or "auto", the
// interfaces that carry default routes), resolved to ifindexes and attached.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "base/interface_view.h"
#include "config/config.h"
#include "xdp/bpf_program.h"

namespace synwatch {

// Interfaces that carry an IPv4 or IPv6 default route in the main table,
// deduplicated, in route order. Reads /proc/self/net/route and
// /proc/self/net/ipv6_route (both list every default route with its device;
// under /proc/self so that a unit with ProcSubset=pid still sees them).
std::vector<std::string> DefaultRouteInterfaces();

// Parsers behind DefaultRouteInterfaces, exposed for tests.
std::vector<std::string> ParseIpv4DefaultRoutes(
    const std::string& proc_net_route);
std::vector<std::string> ParseIpv6DefaultRoutes(
    const std::string& proc_net_ipv6_route);

// Link events (RTM_NEWLINK/RTM_DELLINK) of this network namespace, from a
// NETLINK_ROUTE socket. fd() is for poll(); Drain() reads what is pending
// and says whether any link changed (an overrun counts as a change).
class LinkWatcher {
 public:
  LinkWatcher();  // throws std::runtime_error
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;
  int fd() const { return fd_; }
  bool Drain();

 private:
  int fd_ = -1;
};

// What the manager keeps of an interface is what its readers see.
using InterfaceState = InterfaceView;

class InterfaceManager {
 public:
  explicit InterfaceManager(BpfProgram& program) : program_(program) {}

  // Resolves configured (names, or {"auto"}) and attaches to every interface
  // not yet attached; detaches the ones no longer configured. Throws
  // std::runtime_error on the first failure (nothing of this call stays
  // attached then), so a start or a reload is all or nothing.
  void Apply(const std::vector<std::string>& configured, XdpMode mode);

  // Follows interfaces that went away and came back since the last call:
  // an attached interface whose link lost its device (deleted, moved to
  // another namespace, its namespace gone) is marked detached, and a
  // configured name that exists again is re-attached (its totals continue).
  // Logs one line per change; never throws. Call on link events.
  void Reconcile();

  std::vector<InterfaceState> Snapshot() const;
  bool AllAttached() const;

 private:
  BpfProgram& program_;
  XdpMode mode_ = XdpMode::kAuto;
  mutable std::mutex mu_;  // guards states_ (read by scrapes)
  std::vector<InterfaceState> states_;
  std::vector<std::string> errors_;  // last re-attach error, per state
};

}  // namespace synwatch
