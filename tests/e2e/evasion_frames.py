#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Hand-built frames that hide a SYN, for tests/e2e/evasion_test.sh.

  evasion_frames.py send IFACE DST_MAC SRC4 SRC6 SPORT_BASE CASE...
      writes each case's frames on IFACE (raw AF_PACKET), to 192.0.2.1 or
      2001:db8::1 port 8080, source port SPORT_BASE + the case's index.
  evasion_frames.py watch IFACE SECONDS
      prints "synack ADDR PORT" for every SYN-ACK that IFACE sends within
      SECONDS (a bounded capture on the server's side), then exits.

Documentation addresses only; every send is one pass over a fixed list.
"""
import socket
import struct
import sys
import time

CASES = [
    "v4_frag8", "v4_frag8_rev", "v4_frag16", "v4_frag16_rev", "v4_frag24of40",
    "v4_frag24of40_rev", "v4_tags3", "v4_tags4", "v6_frag24of40",
    "v6_frag24of40_rev", "v6_tags3", "v6_dstopts9",
    # Frames the kernel itself refuses (overlapping fragments, an IPv6
    # first fragment without the whole TCP base header, RFC 8200).
    "v4_overlap", "v6_frag8",
]
DST4 = "192.0.2.1"
DST6 = "2001:db8::1"
PORT = 8080


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def tcp(src, dst, sport, flags=0x02, options=b"", v6=False):
    doff = 5 + len(options) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, PORT, 1000, 0, doff << 4, flags,
                      65535, 0, 0) + options
    if v6:
        pseudo = (socket.inet_pton(socket.AF_INET6, src) +
                  socket.inet_pton(socket.AF_INET6, dst) +
                  struct.pack("!IxxxB", len(hdr), 6))
    else:
        pseudo = (socket.inet_aton(src) + socket.inet_aton(dst) +
                  struct.pack("!xBH", 6, len(hdr)))
    c = csum(pseudo + hdr)
    return hdr[:16] + struct.pack("!H", c) + hdr[18:]


# MSS 1460, then NOPs and a window scale, then NOPs: 20 bytes of options.
OPTS20 = (b"\x02\x04\x05\xb4" + b"\x01\x01\x01\x01" + b"\x01\x03\x03\x07" +
          b"\x01\x01\x01\x01" + b"\x01\x01\x01\x00")


def ip4(src, payload, off=0, mf=False, ident=0x4242):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident,
                      (0x2000 if mf else 0) | (off // 8), 64, 6, 0,
                      socket.inet_aton(src), socket.inet_aton(DST4))
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    return hdr + payload


def ip6(src, nexthdr, payload):
    return (struct.pack("!IHBB", 6 << 28, len(payload), nexthdr, 64) +
            socket.inet_pton(socket.AF_INET6, src) +
            socket.inet_pton(socket.AF_INET6, DST6) + payload)


def frag6(src, seg, lo, hi, more, ident=0x4243):
    fh = struct.pack("!BBHI", 6, 0, lo | (1 if more else 0), ident)
    return ip6(src, 44, fh + seg[lo:hi])


def tags(n, inner):
    out = b""
    for i in range(n):
        tpid_next = inner if i + 1 == n else (0x88A8 if i % 2 else 0x8100)
        out += struct.pack("!HH", 0, tpid_next)
    return out


def frames(case, src4, src6, sport):
    """[(ethertype, l3 bytes)] of a case; ethertype 0x88a8 means tags."""
    v4 = lambda: tcp(src4, DST4, sport)
    v4o = lambda: tcp(src4, DST4, sport, options=OPTS20)
    v6o = lambda: tcp(src6, DST6, sport, options=OPTS20, v6=True)
    if case.startswith("v4_frag"):
        seg, cut = {"v4_frag8": (v4(), 8), "v4_frag16": (v4(), 16),
                    "v4_frag24of40": (v4o(), 24)}[case.replace("_rev", "")]
        parts = [(0x0800, ip4(src4, seg[:cut], 0, True)),
                 (0x0800, ip4(src4, seg[cut:], cut, False))]
        return parts[::-1] if case.endswith("_rev") else parts
    if case == "v4_overlap":
        # An ACK's whole header first, then bytes 8.. again with SYN:
        # a reassembly would make a SYN of it, but the fragments overlap.
        ack = tcp(src4, DST4, sport, flags=0x10)
        syn = v4()
        return [(0x0800, ip4(src4, ack, 0, True, ident=0x4244)),
                (0x0800, ip4(src4, syn[8:], 8, False, ident=0x4244))]
    if case.startswith("v4_tags"):
        n = int(case[-1])
        return [(0x88A8, tags(n, 0x0800) + ip4(src4, v4()))]
    if case.startswith("v6_frag24of40"):
        seg = v6o()
        parts = [(0x86DD, frag6(src6, seg, 0, 24, True)),
                 (0x86DD, frag6(src6, seg, 24, 40, False))]
        return parts[::-1] if case.endswith("_rev") else parts
    if case == "v6_frag8":
        seg = v6o()
        return [(0x86DD, frag6(src6, seg, 0, 8, True, ident=0x4245)),
                (0x86DD, frag6(src6, seg, 8, 40, False, ident=0x4245))]
    if case == "v6_tags3":
        seg = tcp(src6, DST6, sport, v6=True)
        return [(0x88A8, tags(3, 0x86DD) + ip6(src6, 6, seg))]
    if case == "v6_dstopts9":
        seg = tcp(src6, DST6, sport, v6=True)
        chain = b""
        for i in range(9):
            chain += struct.pack("!BBBB4x", 60 if i < 8 else 6, 0, 1, 4)
        return [(0x86DD, ip6(src6, 60, chain + seg))]
    raise SystemExit("unknown case " + case)


def send(iface, dst_mac, src4, src6, sport_base, cases):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    src_mac = s.getsockname()[4]
    dmac = bytes.fromhex(dst_mac.replace(":", ""))
    for case in cases:
        sport = int(sport_base) + CASES.index(case)
        for ethertype, l3 in frames(case, src4, src6, sport):
            s.send(dmac + src_mac + struct.pack("!H", ethertype) + l3)
            time.sleep(0.01)


def watch(iface, seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
    s.bind((iface, 0))
    s.settimeout(0.2)
    print("ready", flush=True)
    end = time.time() + float(seconds)
    while time.time() < end:
        try:
            pkt, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] != socket.PACKET_OUTGOING:
            continue
        etype = struct.unpack("!H", pkt[12:14])[0]
        if etype == 0x0800 and pkt[23] == 6:
            ihl = (pkt[14] & 0x0F) * 4
            t = pkt[14 + ihl:]
            dst = socket.inet_ntoa(pkt[30:34])
        elif etype == 0x86DD and pkt[20] == 6:
            t = pkt[54:]
            dst = socket.inet_ntop(socket.AF_INET6, pkt[38:54])
        else:
            continue
        if len(t) >= 14 and t[13] & 0x12 == 0x12:
            print("synack %s %d" % (dst, struct.unpack("!H", t[2:4])[0]),
                  flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "send":
        send(*sys.argv[2:7], sys.argv[7:])
    elif sys.argv[1] == "watch":
        watch(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "list":
        print(" ".join(CASES))
