// SPDX-License-Identifier: Apache-2.0
// Addresses, CIDRs and peer labels: the user-space side of the peer key.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace synwatch {

enum class Family : uint8_t { kIpv4 = 4, kIpv6 = 6 };

inline constexpr uint8_t MaxPrefixLen(Family f) {
  return f == Family::kIpv4 ? 32 : 128;
}

// An address or prefix, stored like the BPF keys: network byte order,
// IPv4 in addr[0..3], every byte past the family's width zero.
struct Cidr {
  Family family = Family::kIpv4;
  std::array<uint8_t, 16> addr{};
  uint8_t prefix_len = 32;

  bool operator==(const Cidr&) const = default;
  // clang-tidy 14 takes the 0 of a defaulted <=> for a null pointer.
  // NOLINTNEXTLINE(modernize-use-nullptr)
  auto operator<=>(const Cidr&) const = default;
  // True when every address of other is inside this prefix.
  bool Contains(const Cidr& other) const;
};

// Parses a bare address: a strict IPv4 dotted quad ("192.0.2.1": four
// decimal parts, no shorthand like "1.2.3", no leading zeros that other
// tools read as octal) or any IPv6 form inet_pton accepts (no zone index).
// Fills addr like Cidr::addr. Returns false on anything else.
bool ParseAddress(std::string_view text, Family* family,
                  std::array<uint8_t, 16>* addr);

// Parses "192.0.2.0/24", "2001:db8::/32", or a bare address (full length).
// Host bits set past the prefix ("192.0.2.1/24") are an error, so a typo
// never silently widens or narrows a rule. On failure returns nullopt and
// sets *error to a short reason without the input ("host bits set, did you
// mean 192.0.2.0/24?").
// IPv4-mapped IPv6 ("::ffff:192.0.2.1", any prefix inside ::ffff:0:0/96) is
// rejected with a hint to write the IPv4 form: the XDP program sees IPv4
// sources as IPv4, so that rule would not match the traffic it names.
std::optional<Cidr> ParseCidr(std::string_view text, std::string* error);

// Zeroes every bit of addr past prefix_len (within the family's width).
void MaskAddress(std::array<uint8_t, 16>& addr, Family family,
                 uint8_t prefix_len);

// "192.0.2.56", "2001:db8::1" (RFC 5952 compressed form).
std::string FormatAddress(Family family, const uint8_t* addr);

// The peer label: the bare address when prefix_len is the family's full
// width, "address/len" otherwise ("198.51.100.0/24", "2001:db8:1:2::/64").
std::string FormatPeer(Family family, const uint8_t* addr, uint8_t prefix_len);

// Always "address/len", even at full width ("192.0.2.1/32"): the form rule
// logs use, and one that ParseCidr reads back unchanged.
std::string FormatCidr(const Cidr& cidr);

// web.listen_address split up. host is "" for every address, else an IP
// literal, IPv6 without its brackets ("::1"). Host names are refused: the
// HTTP server binds literals and does not resolve names.
struct ListenAddress {
  std::string host;
  uint16_t port = 0;
  std::string text;  // as written, for messages: "[::1]:9100"

  bool operator==(const ListenAddress&) const = default;
};

// Parses "host:port", "[v6]:port" or ":port" (port 0..65535, 0 = any free
// port), into *out with out->text = text. On failure returns false and sets
// *error to a short reason. Also meant for the --web.listen-address flag.
bool ParseListenAddress(std::string_view text, ListenAddress* out,
                        std::string* error);

}  // namespace synwatch
