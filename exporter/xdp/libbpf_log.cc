// SPDX-License-Identifier: Apache-2.0
#include "xdp/libbpf_log.h"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <xdp/libxdp.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>

namespace synwatch {
namespace {

// libbpf is chatty at its own "warn" level about things the caller handles
// (a native attach that falls back to generic, probing features), so its
// levels land one step lower in ours.
// libxdp (xdp.attach = "dispatcher") likewise.
int Print(std::string_view library, int level, const char* format,
          va_list args) {
  const spdlog::level::level_enum ours =
      level == LIBBPF_WARN   ? spdlog::level::info
      : level == LIBBPF_INFO ? spdlog::level::debug
                             : spdlog::level::trace;
  if (!spdlog::should_log(ours)) return 0;
  // A verifier log comes as one message of many kilobytes: size it first,
  // and log it line by line so nothing is cut off.
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, format, copy);
  va_end(copy);
  if (n < 0) return n;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  std::vsnprintf(text.data(), text.size(), format, args);
  text.resize(static_cast<size_t>(n));
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) {
      const std::string_view line =
          std::string_view(text).substr(start, end - start);
      if (library.empty()) {
        spdlog::log(ours, "{}", line);
      } else {
        spdlog::log(ours, "{}: {}", library, line);
      }
    }
    start = end + 1;
  }
  return n;
}

int LibbpfPrint(enum libbpf_print_level level, const char* format,
                va_list args) {
  return Print("libbpf", level, format, args);
}

// Its levels are libbpf's (libxdp.h); its lines say "libxdp: " themselves.
int LibxdpPrint(enum libxdp_print_level level, const char* format,
                va_list args) {
  return Print("", level, format, args);
}

}  // namespace

void RouteLibbpfLog() {
  libbpf_set_print(LibbpfPrint);
  libxdp_set_print(LibxdpPrint);
}

}  // namespace synwatch
