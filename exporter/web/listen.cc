// SPDX-License-Identifier: Apache-2.0
#include "web/listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace synwatch {

[[noreturn]] void ListenError(std::string_view address,
                              std::string_view reason) {
  throw std::runtime_error("listen on " + std::string(address) + ": " +
                           std::string(reason));
}

UniqueFd Listen(const ListenAddress& address) {
  const std::string& host = address.host;
  const std::string port = std::to_string(address.port);
  const uint16_t port_number = address.port;
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (host.empty()) {
    // One dual-stack socket for every address; IPv4 only where the
    // kernel has no IPv6 (ipv6.disable=1).
    UniqueFd probe(socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (probe.get() >= 0) {
      auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_addr = in6addr_any;
      in6->sin6_port = htons(static_cast<uint16_t>(port_number));
      length = sizeof(sockaddr_in6);
    } else {
      auto* in4 = reinterpret_cast<sockaddr_in*>(&storage);
      in4->sin_family = AF_INET;
      in4->sin_addr.s_addr = htonl(INADDR_ANY);
      in4->sin_port = htons(static_cast<uint16_t>(port_number));
      length = sizeof(sockaddr_in);
    }
  } else {
    // An IP literal (config refuses names), IPv6 without brackets.
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // No AI_ADDRCONFIG: it refuses 127.0.0.1 where loopback is the only
    // IPv4 address (early boot, a namespace), which is just when a
    // loopback listener is wanted.
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST;
    addrinfo* found = nullptr;
    const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      ListenError(address.text,
                  std::string("invalid or unresolvable address (") +
                      gai_strerror(rc) + ")");
    }
    std::memcpy(&storage, found->ai_addr, found->ai_addrlen);
    length = found->ai_addrlen;
    freeaddrinfo(found);
  }

  UniqueFd fd(
      socket(storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) ListenError(address.text, ErrnoMessage(errno));
  const int on = 1;
  const int off = 0;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (storage.ss_family == AF_INET6 && host.empty()) {
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
  }
  if (bind(fd.get(), reinterpret_cast<const sockaddr*>(&storage), length) !=
          0 ||
      listen(fd.get(), SOMAXCONN) != 0) {
    ListenError(address.text, ErrnoMessage(errno));
  }
  return fd;
}

int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return -1;
  }
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
}

void RaiseDescriptorLimit(std::size_t connections) {
  const rlim_t kWanted = connections * 2 + 256;
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= kWanted) {
    return;
  }
  limit.rlim_cur = std::min<rlim_t>(kWanted, limit.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
    spdlog::warn("Could not raise the open file limit to {}: {}",
                 limit.rlim_cur, ErrnoMessage(errno));
  }
}

}  // namespace synwatch
