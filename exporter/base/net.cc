// SPDX-License-Identifier: Apache-2.0
#include "base/net.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/text.h"

namespace synwatch {
namespace {

// Own parser rather than inet_pton/inet_aton: those differ between libcs on
// leading zeros, and inet_aton accepts "10.1" and octal, which would make a
// rule mean something other than what its author read.
bool ParseIpv4(std::string_view text, uint8_t* out) {
  int part = 0;
  size_t i = 0;
  while (part < 4) {
    size_t digits = 0;
    unsigned value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9' && digits < 4) {
      value = value * 10 + static_cast<unsigned>(text[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) return false;
    if (digits > 1 && text[i - digits] == '0') return false;
    out[part++] = static_cast<uint8_t>(value);
    if (part < 4) {
      if (i >= text.size() || text[i] != '.') return false;
      ++i;
    }
  }
  return i == text.size();
}

bool IsIpv4Mapped(const std::array<uint8_t, 16>& addr) {
  for (int i = 0; i < 10; ++i) {
    if (addr[i] != 0) return false;
  }
  return addr[10] == 0xff && addr[11] == 0xff;
}

// RFC 5952 by hand instead of inet_ntop: glibc prints the deprecated
// IPv4-compatible range (::/96) in dotted form ("::0.1.0.2" for ::1:2), and
// peer labels must not change with the libc. Only IPv4-mapped addresses get
// the dotted tail (RFC 5952 section 5).
std::string FormatIpv6(const uint8_t* addr) {
  uint16_t words[8];
  for (int i = 0; i < 8; ++i) {
    words[i] = static_cast<uint16_t>(addr[2 * i] << 8 | addr[2 * i + 1]);
  }
  std::array<uint8_t, 16> full;
  std::memcpy(full.data(), addr, full.size());
  const bool mapped = IsIpv4Mapped(full);
  const int hex_words = mapped ? 6 : 8;

  // The longest run of zero words, leftmost on a tie, and never a single
  // word (RFC 5952 4.2.2 and 4.2.3).
  int best_start = -1;
  int best_len = 1;
  for (int i = 0; i < hex_words;) {
    if (words[i] != 0) {
      ++i;
      continue;
    }
    int j = i;
    while (j < hex_words && words[j] == 0) ++j;
    if (j - i > best_len) {
      best_start = i;
      best_len = j - i;
    }
    i = j;
  }

  std::string out;
  char buf[8];
  for (int i = 0; i < hex_words; ++i) {
    if (i == best_start) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof(buf), "%x", words[i]);
    out += buf;
  }
  if (mapped) {
    if (out.back() != ':') out += ':';
    out += FormatAddress(Family::kIpv4, addr + 12);
  }
  return out;
}

}  // namespace

bool Cidr::Contains(const Cidr& other) const {
  if (family != other.family || other.prefix_len < prefix_len) return false;
  std::array<uint8_t, 16> mine = addr;
  std::array<uint8_t, 16> theirs = other.addr;
  MaskAddress(mine, family, prefix_len);
  MaskAddress(theirs, family, prefix_len);
  return mine == theirs;
}

bool ParseAddress(std::string_view text, Family* family,
                  std::array<uint8_t, 16>* addr) {
  std::array<uint8_t, 16> parsed{};
  if (text.find(':') == std::string_view::npos) {
    if (!ParseIpv4(text, parsed.data())) return false;
    *family = Family::kIpv4;
  } else {
    // INET6_ADDRSTRLEN covers every valid spelling; longer is not an address
    // and would not fit the NUL-terminated copy inet_pton needs.
    if (text.size() >= INET6_ADDRSTRLEN) return false;
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    if (inet_pton(AF_INET6, buf, parsed.data()) != 1) return false;
    *family = Family::kIpv6;
  }
  *addr = parsed;
  return true;
}

std::optional<Cidr> ParseCidr(std::string_view text, std::string* error) {
  if (text.empty()) {
    *error = "empty";
    return std::nullopt;
  }
  const size_t slash = text.find('/');
  Cidr cidr;
  if (!ParseAddress(text.substr(0, slash), &cidr.family, &cidr.addr)) {
    *error = "not an IPv4 or IPv6 address";
    return std::nullopt;
  }
  const uint8_t max_len = MaxPrefixLen(cidr.family);
  cidr.prefix_len = max_len;
  if (slash != std::string_view::npos) {
    const std::string_view len_text = text.substr(slash + 1);
    if (len_text.empty() || len_text.size() > 3 ||
        !std::all_of(len_text.begin(), len_text.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      *error = "bad prefix length";
      return std::nullopt;
    }
    unsigned len = 0;
    for (char c : len_text) len = len * 10 + static_cast<unsigned>(c - '0');
    if (len > max_len) {
      *error =
          "prefix length out of range (0.." + std::to_string(max_len) + ")";
      return std::nullopt;
    }
    cidr.prefix_len = static_cast<uint8_t>(len);
  }
  std::array<uint8_t, 16> masked = cidr.addr;
  MaskAddress(masked, cidr.family, cidr.prefix_len);
  if (masked != cidr.addr) {
    *error = "host bits set, did you mean " +
             FormatAddress(cidr.family, masked.data()) + "/" +
             std::to_string(cidr.prefix_len) + "?";
    return std::nullopt;
  }
  if (cidr.family == Family::kIpv6 && cidr.prefix_len >= 96 &&
      IsIpv4Mapped(cidr.addr)) {
    *error = "IPv4-mapped IPv6 address, write it as " +
             FormatPeer(Family::kIpv4, cidr.addr.data() + 12,
                        static_cast<uint8_t>(cidr.prefix_len - 96));
    return std::nullopt;
  }
  return cidr;
}

void MaskAddress(std::array<uint8_t, 16>& addr, Family family,
                 uint8_t prefix_len) {
  const unsigned len = std::min<unsigned>(prefix_len, MaxPrefixLen(family));
  for (unsigned i = 0; i < addr.size(); ++i) {
    const unsigned first_bit = i * 8;
    if (first_bit >= len) {
      addr[i] = 0;
    } else if (len - first_bit < 8) {
      addr[i] &= static_cast<uint8_t>(0xff << (8 - (len - first_bit)));
    }
  }
}

std::string FormatAddress(Family family, const uint8_t* addr) {
  if (family == Family::kIpv6) return FormatIpv6(addr);
  char buf[16];
  std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", addr[0], addr[1], addr[2],
                addr[3]);
  return buf;
}

std::string FormatPeer(Family family, const uint8_t* addr, uint8_t prefix_len) {
  std::string out = FormatAddress(family, addr);
  if (prefix_len < MaxPrefixLen(family)) {
    out += '/';
    out += std::to_string(prefix_len);
  }
  return out;
}

std::string FormatCidr(const Cidr& cidr) {
  return FormatAddress(cidr.family, cidr.addr.data()) + "/" +
         std::to_string(cidr.prefix_len);
}

bool ParseListenAddress(std::string_view text, ListenAddress* out,
                        std::string* error) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    *error = "want host:port, [host]:port or :port";
    return false;
  }
  std::string_view host = text.substr(0, colon);
  const std::string_view port_text = text.substr(colon + 1);

  if (port_text.empty() || port_text.size() > 5 ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return c >= '0' && c <= '9'; })) {
    *error = "bad port " + QuoteValue(port_text);
    return false;
  }
  unsigned port = 0;
  for (char c : port_text) port = port * 10 + static_cast<unsigned>(c - '0');
  if (port > 65535) {
    *error = "port out of range (0..65535)";
    return false;
  }

  Family family;
  std::array<uint8_t, 16> addr;
  if (!host.empty() && host.front() == '[') {
    if (host.size() < 2 || host.back() != ']') {
      *error = "want host:port, [host]:port or :port";
      return false;
    }
    host = host.substr(1, host.size() - 2);
    if (!ParseAddress(host, &family, &addr) || family != Family::kIpv6) {
      *error = QuoteValue(host) + " is not an IPv6 address";
      return false;
    }
  } else if (host.find(':') != std::string_view::npos) {
    *error = "an IPv6 address needs brackets, like [::1]:9632";
    return false;
  } else if (!host.empty() && !ParseAddress(host, &family, &addr)) {
    const bool numeric = std::all_of(host.begin(), host.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == '.';
    });
    *error = numeric ? QuoteValue(host) + " is not an IPv4 address"
                     : QuoteValue(host) +
                           " is not an IP address (names are not resolved)";
    return false;
  }
  out->host = std::string(host);
  out->port = static_cast<uint16_t>(port);
  out->text = std::string(text);
  return true;
}

}  // namespace synwatch
