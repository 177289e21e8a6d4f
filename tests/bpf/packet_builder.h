// SPDX-License-Identifier: Apache-2.0
// Crafted frames for the BPF packet tests. Each call appends one header in
// wire order; Build() fills in the IP length fields from what follows and
// applies a truncation point if one was marked, so a row reads like the frame
// it describes:
//   PacketBuilder().Eth(ETH_P_IP).Ipv4({}).TruncateHere(1).Tcp(kTcpSyn)
// Checksums are left zero: XDP sees frames before any checksum validation,
// and the program never reads them.
#pragma once

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace synwatch {

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;
inline constexpr uint8_t kTcpUrg = 0x20;
inline constexpr uint8_t kTcpEce = 0x40;
inline constexpr uint8_t kTcpCwr = 0x80;

inline constexpr uint16_t kEthP8021ad = 0x88a8;
inline constexpr uint16_t kEthPLldp = 0x88cc;

inline constexpr char kSrc4[] = "192.0.2.56";
inline constexpr char kDst4[] = "198.51.100.1";
inline constexpr char kSrc6[] = "2001:db8:1:2:3:4:5:6";
inline constexpr char kDst6[] = "2001:db8::1";

struct Ipv4Spec {
  std::string src = kSrc4;
  std::string dst = kDst4;
  uint8_t protocol = IPPROTO_TCP;
  uint8_t version = 4;
  uint8_t ihl = 5;           // below 5 still writes a 20-byte header
  uint16_t frag_offset = 0;  // 8-byte units
  bool more_fragments = false;
};

struct Ipv6Spec {
  std::string src = kSrc6;
  std::string dst = kDst6;
  uint8_t next_header = IPPROTO_TCP;
  uint8_t version = 6;
};

class PacketBuilder {
 public:
  PacketBuilder& Eth(uint16_t ethertype) {
    for (int b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x02}) Put8(b);  // dst
    for (int b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}) Put8(b);  // src
    Put16(ethertype);
    return *this;
  }

  // A tag after Eth() (or another tag) whose TPID was 0x8100 or 0x88a8.
  PacketBuilder& Vlan(uint16_t vid, uint16_t ethertype) {
    Put16(vid & 0x0fff);
    Put16(ethertype);
    return *this;
  }

  PacketBuilder& Ipv4(const Ipv4Spec& spec) {
    ip4_offsets_.push_back(bytes_.size());
    Put8(static_cast<uint8_t>(spec.version << 4 | (spec.ihl & 0x0f)));
    Put8(0);   // DSCP/ECN
    Put16(0);  // total length, set by Build()
    Put16(0x1234);
    Put16(static_cast<uint16_t>((spec.more_fragments ? 0x2000 : 0) |
                                (spec.frag_offset & 0x1fff)));
    Put8(64);
    Put8(spec.protocol);
    Put16(0);
    PutAddr(AF_INET, spec.src);
    PutAddr(AF_INET, spec.dst);
    // Options: NOPs ending in End of Option List.
    for (int i = 20; i < spec.ihl * 4; ++i) {
      Put8(i + 1 == spec.ihl * 4 ? 0 : 1);
    }
    return *this;
  }

  PacketBuilder& Ipv6(const Ipv6Spec& spec) {
    ip6_offsets_.push_back(bytes_.size());
    Put32(static_cast<uint32_t>(spec.version) << 28);
    Put16(0);  // payload length, set by Build()
    Put8(spec.next_header);
    Put8(64);
    PutAddr(AF_INET6, spec.src);
    PutAddr(AF_INET6, spec.dst);
    return *this;
  }

  // Hop-by-hop, routing or destination options (all share this shape):
  // (hdr_ext_len + 1) * 8 bytes. The body is one PadN option, which is a
  // valid options header; as a routing header it is type 1 with nothing
  // left, which the program has no reason to look into.
  PacketBuilder& Ipv6Ext(uint8_t next_header, uint8_t hdr_ext_len = 0) {
    const size_t len = (static_cast<size_t>(hdr_ext_len) + 1) * 8;
    Put8(next_header);
    Put8(hdr_ext_len);
    Put8(1);  // PadN
    Put8(static_cast<uint8_t>(len - 4));
    for (size_t i = 4; i < len; ++i) Put8(0);
    return *this;
  }

  PacketBuilder& Ipv6Fragment(uint8_t next_header, uint16_t offset, bool more) {
    Put8(next_header);
    Put8(0);
    Put16(static_cast<uint16_t>(offset << 3 | (more ? 1 : 0)));
    Put32(0xcafe);
    return *this;
  }

  // Authentication header: (payload_len + 2) * 4 bytes.
  PacketBuilder& Ipv6Auth(uint8_t next_header, uint8_t payload_len = 4) {
    const size_t len = (static_cast<size_t>(payload_len) + 2) * 4;
    Put8(next_header);
    Put8(payload_len);
    for (size_t i = 2; i < len; ++i) Put8(0);
    return *this;
  }

  // doff above 5 adds NOP options; below 5 still writes a 20-byte header.
  PacketBuilder& Tcp(uint8_t flags, uint8_t doff = 5, uint16_t sport = 40000,
                     uint16_t dport = 80) {
    Put16(sport);
    Put16(dport);
    Put32(1000);
    Put32((flags & kTcpAck) ? 2000 : 0);
    Put8(static_cast<uint8_t>(doff << 4));
    Put8(flags);
    Put16(65535);
    Put16(0);
    Put16(0);
    for (int i = 20; i < doff * 4; ++i) Put8(1);
    return *this;
  }

  PacketBuilder& Udp() {
    Put16(5353);
    Put16(53);
    Put16(8);
    Put16(0);
    return *this;
  }

  // ICMP echo request; with IPPROTO_ICMPV6 the same bytes read as ICMPv6.
  PacketBuilder& Icmp(uint8_t type = 8) {
    Put8(type);
    Put8(0);
    Put16(0);
    Put32(0x00010001);
    return *this;
  }

  // ARP request for IPv4 over Ethernet.
  PacketBuilder& Arp() {
    Put16(1);
    Put16(ETH_P_IP);
    Put8(6);
    Put8(4);
    Put16(1);
    for (int b : {0x02, 0x00, 0x00, 0x00, 0x00, 0x01}) Put8(b);
    PutAddr(AF_INET, kSrc4);
    for (int i = 0; i < 6; ++i) Put8(0);
    PutAddr(AF_INET, kDst4);
    return *this;
  }

  // Raw bytes, e.g. a slice of a TCP header as an IP fragment carries it.
  PacketBuilder& Bytes(const std::vector<uint8_t>& bytes) {
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return *this;
  }

  PacketBuilder& Payload(size_t n) {
    for (size_t i = 0; i < n; ++i) Put8(static_cast<uint8_t>(i));
    return *this;
  }

  // The frame ends `back` bytes before the current end. Headers appended
  // afterwards still count in the IP length fields, as if the wire had cut
  // a longer frame.
  PacketBuilder& TruncateHere(size_t back = 0) {
    if (back > bytes_.size()) throw std::out_of_range("TruncateHere");
    truncate_at_ = bytes_.size() - back;
    return *this;
  }

  std::vector<uint8_t> Build() const {
    std::vector<uint8_t> out = bytes_;
    for (size_t off : ip4_offsets_) Set16(out, off + 2, out.size() - off);
    for (size_t off : ip6_offsets_) {
      Set16(out, off + 4, out.size() - off - 40);
    }
    if (truncate_at_) out.resize(*truncate_at_);
    return out;
  }

 private:
  void Put8(int v) { bytes_.push_back(static_cast<uint8_t>(v)); }
  void Put16(uint16_t v) {
    Put8(v >> 8);
    Put8(v & 0xff);
  }
  void Put32(uint32_t v) {
    Put16(static_cast<uint16_t>(v >> 16));
    Put16(static_cast<uint16_t>(v & 0xffff));
  }
  void PutAddr(int af, const std::string& text) {
    uint8_t buf[16];
    if (inet_pton(af, text.c_str(), buf) != 1) {
      throw std::invalid_argument("bad test address " + text);
    }
    bytes_.insert(bytes_.end(), buf, buf + (af == AF_INET ? 4 : 16));
  }
  static void Set16(std::vector<uint8_t>& out, size_t off, size_t v) {
    out[off] = static_cast<uint8_t>(v >> 8);
    out[off + 1] = static_cast<uint8_t>(v & 0xff);
  }

  std::vector<uint8_t> bytes_;
  std::vector<size_t> ip4_offsets_;
  std::vector<size_t> ip6_offsets_;
  std::optional<size_t> truncate_at_;
};

// A SYN from source (IPv4 or IPv6, by its text) to destination, or to the
// family's test destination when it is empty.
inline std::vector<uint8_t> SynFrame(const std::string& source,
                                     uint16_t dport = 80,
                                     uint16_t sport = 40000,
                                     const std::string& destination = "") {
  PacketBuilder b;
  if (source.find(':') == std::string::npos) {
    b.Eth(ETH_P_IP).Ipv4(
        {.src = source, .dst = destination.empty() ? kDst4 : destination});
  } else {
    b.Eth(ETH_P_IPV6)
        .Ipv6(
            {.src = source, .dst = destination.empty() ? kDst6 : destination});
  }
  return b.Tcp(kTcpSyn, 5, sport, dport).Build();
}

}  // namespace synwatch
