// SPDX-License-Identifier: Apache-2.0
#include "xdp/events.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include "base/abi.h"
#include "base/net.h"
#include "config/config.h"

namespace synwatch {
namespace {

Family ToFamily(uint8_t family) {
  return family == SW_FAMILY_IPV6 ? Family::kIpv6 : Family::kIpv4;
}

std::string Endpoint(const sw_event& e, const uint8_t* addr, uint16_t port) {
  const std::string a = FormatAddress(ToFamily(e.family), addr);
  if (e.family == SW_FAMILY_IPV6) return "[" + a + "]:" + std::to_string(port);
  return a + ":" + std::to_string(port);
}

}  // namespace

std::string FormatScanEvent(const sw_event& e, const std::string& ifname) {
  const Family family = ToFamily(e.family);
  std::string line = "Port scan detected: ";
  line += FormatAddress(family, e.src);
  line += " -> ";
  line += FormatAddress(family, e.dst);
  line += " on ports ";
  const size_t n = std::min<size_t>(e.nports, std::size(e.ports));
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) line += ',';
    line += std::to_string(e.ports[i]);
  }
  line += " interface=" + ifname;
  line += " action=";
  line += ActionName(e.action);
  if (e.block_ns > 0) {
    line +=
        " blocked_for=" + FormatDuration(std::chrono::nanoseconds(e.block_ns));
  }
  return line;
}

std::string FormatConnectionEvent(const sw_event& e,
                                  const std::string& ifname) {
  std::string line = "New connection: ";
  line += Endpoint(e, e.src, e.sport);
  line += " -> ";
  line += Endpoint(e, e.dst, e.dport);
  line += " interface=" + ifname;
  line += " outcome=";
  line += OutcomeName(e.outcome);
  line += " action=";
  line += ActionName(e.action);
  return line;
}

void RateLimiter::SetRate(uint32_t per_second) {
  rate_ = std::max<double>(1, per_second);
  tokens_ = std::min(tokens_, rate_);
}

bool RateLimiter::Allow(uint64_t now_ns) {
  if (last_ns_ == 0) {
    tokens_ = rate_;
  } else if (now_ns > last_ns_) {
    tokens_ = std::min(
        rate_, tokens_ + rate_ * static_cast<double>(now_ns - last_ns_) / 1e9);
  }
  last_ns_ = now_ns;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

void EventReader::RingBufferDeleter::operator()(ring_buffer* rb) const {
  ring_buffer__free(rb);
}

EventReader::EventReader(int events_fd, InterfaceSnapshot interfaces,
                         uint32_t connections_per_second,
                         std::atomic<uint64_t>& rate_limit_drops,
                         RecentScans* recent, ScanSink on_scan)
    : interfaces_(std::move(interfaces)),
      connections_per_second_(connections_per_second),
      rate_limit_drops_(rate_limit_drops),
      recent_(recent),
      on_scan_(std::move(on_scan)),
      limiter_(connections_per_second),
      limiter_rate_(connections_per_second) {
  ring_.reset(
      ring_buffer__new(events_fd, &EventReader::OnEvent, this, nullptr));
  if (!ring_) {
    throw std::runtime_error(std::string("open event ring buffer: ") +
                             std::strerror(errno));
  }
  // Our own epoll set holds the ring buffer's epoll fd and an eventfd, so
  // the destructor can wake the thread; the thread sleeps until one fires.
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || stop_fd_ < 0) {
    const int err = errno;
    if (epoll_fd_ >= 0) close(epoll_fd_);
    if (stop_fd_ >= 0) close(stop_fd_);
    throw std::runtime_error(std::string("event reader: ") +
                             std::strerror(err));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = ring_buffer__epoll_fd(ring_.get());
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, ev.data.fd, &ev);
  ev.data.fd = stop_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  thread_ = std::thread([this] { Run(); });
}

EventReader::~EventReader() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) < 0) {
    spdlog::debug("event reader: wake: {}", std::strerror(errno));
  }
  if (thread_.joinable()) thread_.join();
  close(stop_fd_);
  close(epoll_fd_);
}

void EventReader::Run() {
  const int ring_fd = ring_buffer__epoll_fd(ring_.get());
  for (;;) {
    epoll_event events[2];
    const int n = epoll_wait(epoll_fd_, events, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::error("event reader: epoll_wait: {}", std::strerror(errno));
      return;
    }
    bool stop = false;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == stop_fd_) stop = true;
      if (events[i].data.fd == ring_fd) ring_buffer__consume(ring_.get());
    }
    if (stop) {
      ring_buffer__consume(ring_.get());  // what is already there is logged
      return;
    }
  }
}

int EventReader::OnEvent(void* ctx, void* data, size_t size) {
  if (size < sizeof(sw_event)) return 0;
  sw_event event;
  std::memcpy(&event, data, sizeof(event));
  static_cast<EventReader*>(ctx)->Handle(event);
  return 0;
}

void EventReader::Handle(const sw_event& event) {
  if (event.type == SW_EVENT_SCAN) {
    const std::string ifname = InterfaceName(interfaces_(), event.ifindex);
    std::string line = FormatScanEvent(event, ifname);
    spdlog::warn("{}", line);
    if (on_scan_) on_scan_(event, ifname);
    if (recent_ != nullptr) {
      recent_->Add(std::chrono::duration<double>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count(),
                   std::move(line));
    }
    return;
  }
  if (event.type != SW_EVENT_CONNECTION) return;
  const uint32_t rate = connections_per_second_.load();
  if (rate != limiter_rate_) {
    limiter_.SetRate(rate);
    limiter_rate_ = rate;
  }
  if (!limiter_.Allow(MonotonicNs())) {
    ++rate_limit_drops_;
    return;
  }
  spdlog::info("{}", FormatConnectionEvent(
                         event, InterfaceName(interfaces_(), event.ifindex)));
}

}  // namespace synwatch
