// SPDX-License-Identifier: Apache-2.0
// The listening socket of the HTTP server.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/net.h"
#include "base/unique_fd.h"

namespace synwatch {

// Binds and listens, non-blocking, on an address config has parsed
// (ParseListenAddress, base/net.h): host "" is every address. Throws
// std::runtime_error "listen on <address.text>: <reason>".
UniqueFd Listen(const ListenAddress& address);

// Throws std::runtime_error "listen on <address>: <reason>".
[[noreturn]] void ListenError(std::string_view address,
                              std::string_view reason);

// The port a listening socket is bound to (port 0 picks one), or -1.
int BoundPort(int fd);

// Every connection may need a descriptor: a soft limit of 1024 (systemd's
// and most shells' default) would run out before `connections` do.
void RaiseDescriptorLimit(std::size_t connections);

}  // namespace synwatch
