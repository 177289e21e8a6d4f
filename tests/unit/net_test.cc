// SPDX-License-Identifier: Apache-2.0
#include "base/net.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>
#include <string>

namespace synwatch {
namespace {

std::array<uint8_t, 16> V4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return {a, b, c, d};
}

std::array<uint8_t, 16> V6(const char* text) {
  std::array<uint8_t, 16> addr{};
  EXPECT_EQ(inet_pton(AF_INET6, text, addr.data()), 1) << text;
  return addr;
}

Cidr MustParse(std::string_view text) {
  std::string error;
  auto cidr = ParseCidr(text, &error);
  EXPECT_TRUE(cidr.has_value()) << text << ": " << error;
  return cidr.value_or(Cidr{});
}

TEST(NetTest, ParsesIpv4Cidrs) {
  struct Case {
    const char* text;
    std::array<uint8_t, 16> addr;
    uint8_t prefix_len;
  };
  const Case cases[] = {
      {"192.0.2.0/24", V4(192, 0, 2, 0), 24},
      {"192.0.2.56", V4(192, 0, 2, 56), 32},
      {"192.0.2.56/32", V4(192, 0, 2, 56), 32},
      {"0.0.0.0/0", V4(0, 0, 0, 0), 0},
      {"255.255.255.255", V4(255, 255, 255, 255), 32},
      {"198.51.100.128/25", V4(198, 51, 100, 128), 25},
      {"10.0.0.0/08", V4(10, 0, 0, 0), 8},
      {"0.0.0.0", V4(0, 0, 0, 0), 32},
  };
  for (const auto& c : cases) {
    const Cidr cidr = MustParse(c.text);
    EXPECT_EQ(cidr.family, Family::kIpv4) << c.text;
    EXPECT_EQ(cidr.addr, c.addr) << c.text;
    EXPECT_EQ(cidr.prefix_len, c.prefix_len) << c.text;
  }
}

TEST(NetTest, ParsesIpv6Cidrs) {
  struct Case {
    const char* text;
    const char* addr;
    uint8_t prefix_len;
  };
  const Case cases[] = {
      {"2001:db8::/32", "2001:db8::", 32},
      {"2001:DB8:0:0::/64", "2001:db8::", 64},
      {"2001:db8:1:2::/64", "2001:db8:1:2::", 64},
      {"2001:db8::1", "2001:db8::1", 128},
      {"::/0", "::", 0},
      {"::1", "::1", 128},
      {"2001:db8::ff00/120", "2001:db8::ff00", 120},
      // Deprecated IPv4-compatible form is plain IPv6, not IPv4-mapped.
      {"::192.0.2.1", "::c000:201", 128},
  };
  for (const auto& c : cases) {
    const Cidr cidr = MustParse(c.text);
    EXPECT_EQ(cidr.family, Family::kIpv6) << c.text;
    EXPECT_EQ(cidr.addr, V6(c.addr)) << c.text;
    EXPECT_EQ(cidr.prefix_len, c.prefix_len) << c.text;
  }
}

TEST(NetTest, RejectsBadCidrsWithReason) {
  struct Case {
    const char* text;
    const char* error;
  };
  const Case cases[] = {
      {"", "empty"},
      {"1.2.3", "not an IPv4 or IPv6 address"},
      {"1.2.3.4.5", "not an IPv4 or IPv6 address"},
      {"256.0.0.1", "not an IPv4 or IPv6 address"},
      {"1.2.3.1000", "not an IPv4 or IPv6 address"},
      {"01.2.3.4", "not an IPv4 or IPv6 address"},
      {"0x1.2.3.4", "not an IPv4 or IPv6 address"},
      {"1..2.3", "not an IPv4 or IPv6 address"},
      {"1.2.3.", "not an IPv4 or IPv6 address"},
      {".1.2.3", "not an IPv4 or IPv6 address"},
      {"a.b.c.d", "not an IPv4 or IPv6 address"},
      {" 1.2.3.4", "not an IPv4 or IPv6 address"},
      {"1.2.3.4 ", "not an IPv4 or IPv6 address"},
      {"/24", "not an IPv4 or IPv6 address"},
      {"example.com", "not an IPv4 or IPv6 address"},
      {"2001:db8:::1", "not an IPv4 or IPv6 address"},
      {"12345::", "not an IPv4 or IPv6 address"},
      {"1:2:3:4:5:6:7:8:9", "not an IPv4 or IPv6 address"},
      {"fe80::1%eth0", "not an IPv4 or IPv6 address"},
      {"[2001:db8::1]", "not an IPv4 or IPv6 address"},
      {"1.2.3.4/", "bad prefix length"},
      {"1.2.3.4/-1", "bad prefix length"},
      {"1.2.3.4/+8", "bad prefix length"},
      {"1.2.3.4/ 24", "bad prefix length"},
      {"1.2.3.4/24x", "bad prefix length"},
      {"1.2.3.4/0024", "bad prefix length"},
      {"1.2.3.0/24/1", "bad prefix length"},
      {"192.0.2.0/33", "prefix length out of range (0..32)"},
      {"2001:db8::/129", "prefix length out of range (0..128)"},
      {"192.0.2.1/24", "host bits set, did you mean 192.0.2.0/24?"},
      {"192.0.2.1/0", "host bits set, did you mean 0.0.0.0/0?"},
      {"2001:db8::1/32", "host bits set, did you mean 2001:db8::/32?"},
      {"2001:db8:1:2:3::/64", "host bits set, did you mean 2001:db8:1:2::/64?"},
      {"::ffff:192.0.2.1", "IPv4-mapped IPv6 address, write it as 192.0.2.1"},
      {"::ffff:192.0.2.0/120",
       "IPv4-mapped IPv6 address, write it as 192.0.2.0/24"},
      {"::ffff:0:0/96", "IPv4-mapped IPv6 address, write it as 0.0.0.0/0"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_EQ(ParseCidr(c.text, &error), std::nullopt) << c.text;
    EXPECT_EQ(error, c.error) << c.text;
  }
}

TEST(NetTest, ParseAddressIsStrictAboutIpv4) {
  Family family;
  std::array<uint8_t, 16> addr;
  EXPECT_TRUE(ParseAddress("203.0.113.7", &family, &addr));
  EXPECT_EQ(family, Family::kIpv4);
  EXPECT_EQ(addr, V4(203, 0, 113, 7));
  // Shorthand and octal that inet_aton would accept mean other addresses.
  for (const char* text :
       {"203.0.113", "203.113", "3405803783", "010.0.0.1", "1.2.3.4/32", ""}) {
    EXPECT_FALSE(ParseAddress(text, &family, &addr)) << text;
  }
  EXPECT_TRUE(ParseAddress("2001:db8::7", &family, &addr));
  EXPECT_EQ(family, Family::kIpv6);
  EXPECT_EQ(addr, V6("2001:db8::7"));
}

TEST(NetTest, MaskAddress) {
  struct Case {
    Family family;
    std::array<uint8_t, 16> in;
    uint8_t prefix_len;
    std::array<uint8_t, 16> want;
  };
  std::array<uint8_t, 16> v4_with_junk = V4(192, 0, 2, 255);
  v4_with_junk[4] = 0xaa;
  v4_with_junk[15] = 0xbb;
  const Case cases[] = {
      {Family::kIpv4, V4(192, 0, 2, 255), 32, V4(192, 0, 2, 255)},
      {Family::kIpv4, V4(192, 0, 2, 255), 24, V4(192, 0, 2, 0)},
      {Family::kIpv4, V4(192, 0, 2, 255), 25, V4(192, 0, 2, 128)},
      {Family::kIpv4, V4(192, 0, 2, 255), 31, V4(192, 0, 2, 254)},
      {Family::kIpv4, V4(198, 51, 100, 7), 12, V4(198, 48, 0, 0)},
      {Family::kIpv4, V4(198, 51, 100, 7), 0, V4(0, 0, 0, 0)},
      // Bytes past the family's width never leak into a key.
      {Family::kIpv4, v4_with_junk, 32, V4(192, 0, 2, 255)},
      {Family::kIpv4, v4_with_junk, 200, V4(192, 0, 2, 255)},
      {Family::kIpv6, V6("2001:db8:1:2:3:4:5:6"), 128,
       V6("2001:db8:1:2:3:4:5:6")},
      {Family::kIpv6, V6("2001:db8:1:2:3:4:5:6"), 64, V6("2001:db8:1:2::")},
      {Family::kIpv6, V6("2001:db8:1:2:ffff::"), 65, V6("2001:db8:1:2:8000::")},
      {Family::kIpv6, V6("2001:db8::ffff"), 127, V6("2001:db8::fffe")},
      {Family::kIpv6, V6("2001:db8:ffff::"), 36, V6("2001:db8:f000::")},
      {Family::kIpv6, V6("2001:db8::1"), 0, V6("::")},
  };
  for (const auto& c : cases) {
    std::array<uint8_t, 16> addr = c.in;
    MaskAddress(addr, c.family, c.prefix_len);
    EXPECT_EQ(addr, c.want)
        << FormatAddress(c.family, c.in.data()) << "/" << int{c.prefix_len};
  }
}

TEST(NetTest, FormatsIpv6InRfc5952Form) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case cases[] = {
      {"2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"},
      {"2001:DB8::AbC", "2001:db8::abc"},
      // A single zero word is not compressed (4.2.2).
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      // The longest run is compressed (4.2.3) ...
      {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},
      // ... the first one on a tie.
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      {"fe80:0:0:0:1:0:0:0", "fe80::1:0:0:0"},
      {"::", "::"},
      {"::1", "::1"},
      {"1::", "1::"},
      {"2001:db8:1:2::", "2001:db8:1:2::"},
      {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
      {"0:1:2:3:4:5:6:7", "0:1:2:3:4:5:6:7"},
      // IPv4-mapped keeps the dotted tail (section 5) ...
      {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
      {"::ffff:0:0", "::ffff:0.0.0.0"},
      // ... the deprecated IPv4-compatible range does not (glibc's inet_ntop
      // would print "::0.1.0.2").
      {"::1:2", "::1:2"},
      {"::c000:201", "::c000:201"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatAddress(Family::kIpv6, V6(c.in).data()), c.want) << c.in;
  }
}

// Outside ::/96 the hand-written formatter must agree with inet_ntop,
// which glibc implements per RFC 5952. Zero-heavy addresses exercise the
// run selection.
TEST(NetTest, FormatAgreesWithInetNtop) {
  std::mt19937 rng(5952);
  for (int n = 0; n < 20000; ++n) {
    std::array<uint8_t, 16> addr{};
    for (int w = 0; w < 8; ++w) {
      if (rng() % 2 == 0) continue;
      const uint32_t word = rng() % 3 == 0 ? 1 : rng() & 0xffff;
      addr[2 * w] = static_cast<uint8_t>(word >> 8);
      addr[2 * w + 1] = static_cast<uint8_t>(word);
    }
    bool compat = true;
    for (int i = 0; i < 12; ++i) compat = compat && addr[i] == 0;
    if (compat) continue;
    char buf[INET6_ADDRSTRLEN];
    ASSERT_NE(inet_ntop(AF_INET6, addr.data(), buf, sizeof(buf)), nullptr);
    ASSERT_EQ(FormatAddress(Family::kIpv6, addr.data()), buf);
  }
}

TEST(NetTest, FormatsIpv4) {
  EXPECT_EQ(FormatAddress(Family::kIpv4, V4(192, 0, 2, 56).data()),
            "192.0.2.56");
  EXPECT_EQ(FormatAddress(Family::kIpv4, V4(0, 0, 0, 0).data()), "0.0.0.0");
  EXPECT_EQ(FormatAddress(Family::kIpv4, V4(255, 255, 255, 255).data()),
            "255.255.255.255");
}

TEST(NetTest, FormatPeerOmitsFullLength) {
  struct Case {
    Family family;
    std::array<uint8_t, 16> addr;
    uint8_t prefix_len;
    const char* want;
  };
  const Case cases[] = {
      {Family::kIpv4, V4(192, 0, 2, 56), 32, "192.0.2.56"},
      {Family::kIpv4, V4(198, 51, 100, 0), 24, "198.51.100.0/24"},
      {Family::kIpv4, V4(0, 0, 0, 0), 0, "0.0.0.0/0"},
      {Family::kIpv6, V6("2001:db8:1:2::"), 64, "2001:db8:1:2::/64"},
      {Family::kIpv6, V6("2001:db8::56"), 128, "2001:db8::56"},
      {Family::kIpv6, V6("::"), 0, "::/0"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(FormatPeer(c.family, c.addr.data(), c.prefix_len), c.want);
  }
}

TEST(NetTest, FormatCidrRoundTrips) {
  struct Case {
    const char* in;
    const char* want;
  };
  const Case cases[] = {
      {"192.0.2.56", "192.0.2.56/32"},
      {"198.51.100.0/24", "198.51.100.0/24"},
      {"0.0.0.0/0", "0.0.0.0/0"},
      {"2001:0db8::/32", "2001:db8::/32"},
      {"2001:db8::1", "2001:db8::1/128"},
      {"::/0", "::/0"},
  };
  for (const auto& c : cases) {
    const Cidr cidr = MustParse(c.in);
    EXPECT_EQ(FormatCidr(cidr), c.want);
    EXPECT_EQ(MustParse(FormatCidr(cidr)), cidr) << c.in;
  }
}

TEST(NetTest, Contains) {
  struct Case {
    const char* outer;
    const char* inner;
    bool want;
  };
  const Case cases[] = {
      {"192.0.2.0/24", "192.0.2.56", true},
      {"192.0.2.0/24", "192.0.2.0/24", true},
      {"192.0.2.0/24", "192.0.2.128/25", true},
      {"192.0.2.0/24", "192.0.3.1", false},
      {"192.0.2.0/24", "192.0.0.0/16", false},
      {"192.0.2.56", "192.0.2.56", true},
      {"192.0.2.56", "192.0.2.57", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      {"0.0.0.0/0", "::/0", false},
      {"::/0", "0.0.0.0/0", false},
      {"::/0", "2001:db8::1", true},
      {"2001:db8::/32", "2001:db8:1::/48", true},
      {"2001:db8::/32", "2001:db9::/48", false},
      {"2001:db8:1:2::/64", "2001:db8:1:2:ffff::1", true},
      {"2001:db8:1:2::/64", "2001:db8:1:3::1", false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(MustParse(c.outer).Contains(MustParse(c.inner)), c.want)
        << c.outer << " contains " << c.inner;
  }
}

}  // namespace
}  // namespace synwatch
