// SPDX-License-Identifier: Apache-2.0
// Invariant checks for the fuzz harnesses: a broken one prints what broke
// and aborts, which libFuzzer reports as a crash and saves the input for.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace synwatch {

[[noreturn]] inline void Fail(std::string_view what,
                              std::string_view detail = {}) {
  std::fprintf(stderr, "invariant broken: %.*s\n%.*s\n",
               static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline void Require(bool ok, std::string_view what,
                    std::string_view detail = {}) {
  if (!ok) Fail(what, detail);
}

}  // namespace synwatch
