// SPDX-License-Identifier: Apache-2.0
// Peer labels and the address parsers behind rules, on arbitrary input,
// read two ways:
//   - as bytes of a peer key (family bit, prefix length, 16 address bytes),
//     masked as the XDP program masks it: the label FormatPeer makes must
//     parse back to the same address and prefix, match the libc's RFC 5952
//     text wherever glibc does not use its own IPv4-compatible form, and be
//     a plain label value (no quotes, backslashes, blanks);
//   - as text for ParseAddress and ParseCidr: whatever they accept must
//     format to text that parses back to the same value, and an IPv4
//     address (strict dotted quad) formats to exactly the text it came from.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "base/net.h"
#include "fuzz_check.h"

namespace synwatch {
namespace {

using Addr = std::array<uint8_t, 16>;

std::string Hex(const uint8_t* data, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < size; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 0xf];
  }
  return out;
}

bool IsLabelChar(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' ||
         c == ':' || c == '/';
}

void CheckAddressText(Family family, const Addr& addr, std::string_view text,
                      const std::string& detail) {
  Family parsed_family;
  Addr parsed;
  Require(ParseAddress(text, &parsed_family, &parsed),
          "formatted address does not parse", detail);
  Require(parsed_family == family && parsed == addr,
          "formatted address parses to another address", detail);

  // glibc agrees with RFC 5952 except for ::/96, which it prints dotted.
  const bool glibc_dotted =
      family == Family::kIpv6 && std::all_of(addr.begin(), addr.begin() + 12,
                                             [](uint8_t b) { return b == 0; });
  if (!glibc_dotted) {
    char buf[INET6_ADDRSTRLEN];
    Require(inet_ntop(family == Family::kIpv4 ? AF_INET : AF_INET6, addr.data(),
                      buf, sizeof(buf)) != nullptr,
            "inet_ntop failed", detail);
    Require(text == buf, "not the libc's text", detail + " libc: " + buf);
  }
}

// The bytes of a peer key, as the collector turns them into a label.
void CheckPeerLabel(const uint8_t* data, size_t size) {
  if (size < 18) return;
  const Family family = (data[0] & 1) != 0 ? Family::kIpv6 : Family::kIpv4;
  const uint8_t prefix_len = data[1];
  Addr addr{};
  std::memcpy(addr.data(), data + 2, family == Family::kIpv4 ? 4 : 16);
  const Addr unmasked = addr;
  MaskAddress(addr, family, prefix_len);

  const std::string label = FormatPeer(family, addr.data(), prefix_len);
  const std::string detail = "key " + Hex(data, 18) + " label " + label;
  Require(!label.empty() && label.size() <= 43, "label length", detail);
  Require(std::all_of(label.begin(), label.end(), IsLabelChar),
          "label has characters outside [0-9a-f.:/]", detail);

  const uint8_t max_len = MaxPrefixLen(family);
  const uint8_t len = prefix_len < max_len ? prefix_len : max_len;
  const size_t slash = label.find('/');
  if (len == max_len) {
    Require(slash == std::string::npos, "full-width peer has a length", detail);
  } else {
    Require(slash != std::string::npos &&
                label.substr(slash + 1) == std::to_string(len),
            "prefix peer without its length", detail);
  }
  CheckAddressText(family, addr, std::string_view(label).substr(0, slash),
                   detail);

  // The peer contains the address it came from.
  const Cidr peer{family, addr, len};
  Require(peer.Contains(peer), "peer does not contain itself", detail);
  Require(peer.Contains(Cidr{family, unmasked, max_len}),
          "peer does not contain its source", detail);

  // FormatCidr reads back through ParseCidr, except the IPv4-mapped
  // prefixes it refuses on purpose.
  std::string error;
  const std::optional<Cidr> cidr = ParseCidr(FormatCidr(peer), &error);
  const bool mapped = family == Family::kIpv6 && len >= 96 &&
                      std::all_of(addr.begin(), addr.begin() + 10,
                                  [](uint8_t b) { return b == 0; }) &&
                      addr[10] == 0xff && addr[11] == 0xff;
  if (mapped) {
    Require(!cidr && error.find("write it as") != std::string::npos,
            "IPv4-mapped CIDR accepted", detail);
  } else {
    Require(cidr && *cidr == peer, "CIDR does not round-trip",
            detail + " " + error);
  }
}

void CheckText(std::string_view text) {
  const std::string detail = "text \"" + std::string(text) + "\"";
  Family family;
  Addr addr;
  if (ParseAddress(text, &family, &addr)) {
    const std::string formatted = FormatAddress(family, addr.data());
    CheckAddressText(family, addr, formatted, detail + " -> " + formatted);
    if (family == Family::kIpv4) {
      Require(formatted == text, "IPv4 address has two spellings", detail);
      Require(std::all_of(addr.begin() + 4, addr.end(),
                          [](uint8_t b) { return b == 0; }),
              "IPv4 address with bytes past its width", detail);
    }
  }

  std::string error;
  const std::optional<Cidr> cidr = ParseCidr(text, &error);
  if (!cidr) {
    Require(!error.empty(), "refused without a reason", detail);
    return;
  }
  const std::string formatted = FormatCidr(*cidr);
  Require(cidr->prefix_len <= MaxPrefixLen(cidr->family), "prefix too long",
          detail);
  Addr masked = cidr->addr;
  MaskAddress(masked, cidr->family, cidr->prefix_len);
  Require(masked == cidr->addr, "accepted CIDR has host bits", detail);
  if (cidr->family == Family::kIpv4) {
    Require(std::all_of(cidr->addr.begin() + 4, cidr->addr.end(),
                        [](uint8_t b) { return b == 0; }),
            "IPv4 CIDR with bytes past the address", detail);
  }
  error.clear();
  const std::optional<Cidr> again = ParseCidr(formatted, &error);
  Require(again && *again == *cidr, "CIDR does not round-trip",
          detail + " -> " + formatted + " " + error);
}

}  // namespace
}  // namespace synwatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  synwatch::CheckPeerLabel(data, size);
  synwatch::CheckText(
      std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
