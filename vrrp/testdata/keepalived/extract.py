#!/usr/bin/env python3
"""Extract VRRP adverts, gratuitous ARPs and unsolicited NAs from the keepalived
captures in this directory and verify the checksums.

Writes (next to this script):
  adverts.txt  <capture> <4|6> <src> <dst> <ttl/hlim> <tos/tclass 0xNN> <vrrp-payload-hex>
  garps.txt    <capture> <ethernet-frame-hex>          (every ARP frame)
  nas.txt      <capture> <ethernet-frame-hex>          (every ICMPv6 neighbour advertisement)
and prints a human-readable verification report on stdout.

Exit status is non-zero if any checksum does not match the expected algorithm.
Only the Python standard library is used; pcap (not pcapng) input, linktype 1.
Usage: extract.py [--check]   (--check: verify only, do not write the .txt files)
"""
import ipaddress
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CAPTURES = [
    "v2-mcast",
    "v2-auth",
    "v3-mcast-v4",
    "v3-unicast-v4",
    "v3-unicast-old-checksum",
    "v3-mcast-v6",
    "v2-shutdown-prio0",
]
VRRP_GROUP_V4 = ipaddress.IPv4Address("224.0.0.18").packed


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian, nsec = "<", False
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian, nsec = ">", False
    elif magic == b"\x4d\x3c\xb2\xa1":
        endian, nsec = "<", True
    elif magic == b"\xa1\xb2\x3c\x4d":
        endian, nsec = ">", True
    else:
        raise ValueError("%s: not a classic pcap file (pcapng?)" % path)
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("%s: linktype %d, want 1 (Ethernet)" % (path, linktype))
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        yield sec + frac / (1e9 if nsec else 1e6), data[off:off + incl]
        off += incl


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ok(b):
    return csum(b) == 0


def pseudo4(src, dst, proto, length):
    return src + dst + struct.pack("!BBH", 0, proto, length)


def pseudo6(src, dst, nh, length):
    return src + dst + struct.pack("!IxxxB", length, nh)


class Report:
    def __init__(self):
        self.errors = 0
        self.lines = []

    def out(self, s=""):
        self.lines.append(s)

    def fail(self, s):
        self.errors += 1
        self.out("  ERROR: " + s)


def vrrp_summary(v):
    ver, typ = v[0] >> 4, v[0] & 0xF
    if ver == 2:
        return "v%d type %d vrid %d prio %d count %d auth %d adver_int %ds" % (
            ver, typ, v[1], v[2], v[3], v[4], v[5])
    maxadv = struct.unpack("!H", v[4:6])[0] & 0x0FFF
    return "v%d type %d vrid %d prio %d count %d max_adver_int %dcs (rsvd %d)" % (
        ver, typ, v[1], v[2], v[3], maxadv, v[4] >> 4)


def bursts(times, gap=0.5):
    out = []
    for t in times:
        if out and t - out[-1][-1] < gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out


def main():
    check_only = "--check" in sys.argv[1:]
    rep = Report()
    adverts, garps, nas = [], [], []
    for name in CAPTURES:
        path = os.path.join(HERE, name + ".pcap")
        if not os.path.exists(path):
            rep.out("== %s: missing" % name)
            continue
        rep.out("== %s" % name)
        first_advert = None
        arp_times, na_times, advert_times = [], [], []
        prio0 = 0
        for ts, fr in read_pcap(path):
            dmac, smac = fr[0:6].hex(":"), fr[6:12].hex(":")
            etype = struct.unpack("!H", fr[12:14])[0]
            if etype == 0x0806:
                garps.append("%s %s" % (name, fr.hex()))
                arp_times.append(ts)
                a = fr[14:]
                htype, ptype, hlen, plen, op = struct.unpack("!HHBBH", a[:8])
                sha, spa, tha, tpa = a[8:14], a[14:18], a[18:24], a[24:28]
                rep.out("  ARP  t=%.6f %s > %s op=%d sha=%s spa=%s tha=%s tpa=%s framelen=%d" % (
                    ts, smac, dmac, op, sha.hex(":"), ipaddress.IPv4Address(spa),
                    tha.hex(":"), ipaddress.IPv4Address(tpa), len(fr)))
                continue
            if etype == 0x0800:
                ip = fr[14:]
                ihl = (ip[0] & 0xF) * 4
                tos, tot, ipid, frag, ttl, proto = struct.unpack("!xBHHHBB", ip[:10])
                src, dst = ip[12:16], ip[16:20]
                if not ok(ip[:ihl]):
                    rep.fail("bad IPv4 header checksum")
                if proto != 112:
                    continue
                v = ip[ihl:tot]
                adverts.append("%s 4 %s %s %d 0x%02x %s" % (
                    name, ipaddress.IPv4Address(src), ipaddress.IPv4Address(dst), ttl, tos, v.hex()))
                df = bool(frag & 0x4000)
                rep.out("  VRRP t=%.6f %s > %s ip: ihl=%d tos=0x%02x ttl=%d id=%d DF=%d MF=%d fragoff=%d | %s" % (
                    ts, smac, dmac, ihl, tos, ttl, ipid, df, bool(frag & 0x2000), frag & 0x1FFF, vrrp_summary(v)))
                if ihl != 20:
                    rep.out("    IP options: %s" % ip[20:ihl].hex())
                ver = v[0] >> 4
                c_plain = ok(v)
                c_pseudo = ok(pseudo4(src, dst, 112, len(v)) + v)
                c_group = ok(pseudo4(src, VRRP_GROUP_V4, 112, len(v)) + v)
                rep.out("    checksum 0x%04x: valid over VRRP only=%s, with pseudo-hdr(real dst)=%s, with pseudo-hdr(dst 224.0.0.18)=%s" % (
                    struct.unpack("!H", v[6:8])[0], c_plain, c_pseudo, c_group))
                if ver == 2:
                    if not c_plain:
                        rep.fail("v2 checksum does not cover VRRP message only")
                    if v[4] == 1:
                        rep.out("    auth data: %r" % v[8 + 4 * v[3]:8 + 4 * v[3] + 8])
                elif name == "v3-unicast-old-checksum":
                    if not c_group or c_pseudo:
                        rep.fail("old_unicast_checksum not pseudo-header with 224.0.0.18")
                elif not c_pseudo:
                    rep.fail("v3 checksum does not include pseudo-header")
            elif etype == 0x86DD:
                ip6 = fr[14:]
                vtcfl, plen, nh, hlim = struct.unpack("!IHBB", ip6[:8])
                tclass, flow = (vtcfl >> 20) & 0xFF, vtcfl & 0xFFFFF
                src, dst = ip6[8:24], ip6[24:40]
                payload = ip6[40:40 + plen]
                if nh == 58 and payload[0] == 136:
                    nas.append("%s %s" % (name, fr.hex()))
                    na_times.append(ts)
                    flags = payload[4]
                    tgt = ipaddress.IPv6Address(payload[8:24])
                    opts = payload[24:]
                    rep.out("  NA   t=%.6f %s > %s %s > %s hlim=%d tclass=0x%02x flow=0x%05x R=%d S=%d O=%d tgt=%s opts=%s icmp6-cksum-ok=%s" % (
                        ts, smac, dmac, ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst), hlim, tclass, flow,
                        flags >> 7 & 1, flags >> 6 & 1, flags >> 5 & 1, tgt, opts.hex(),
                        ok(pseudo6(src, dst, 58, len(payload)) + payload)))
                    continue
                if nh != 112:
                    continue
                v = payload
                adverts.append("%s 6 %s %s %d 0x%02x %s" % (
                    name, ipaddress.IPv6Address(src), ipaddress.IPv6Address(dst), hlim, tclass, v.hex()))
                rep.out("  VRRP t=%.6f %s > %s ip6: tclass=0x%02x flow=0x%05x hlim=%d | %s" % (
                    ts, smac, dmac, tclass, flow, hlim, vrrp_summary(v)))
                c_pseudo = ok(pseudo6(src, dst, 112, len(v)) + v)
                rep.out("    checksum 0x%04x: valid over VRRP only=%s, with IPv6 pseudo-hdr=%s" % (
                    struct.unpack("!H", v[6:8])[0], ok(v), c_pseudo))
                if not c_pseudo:
                    rep.fail("v3 IPv6 checksum does not include pseudo-header")
            else:
                continue
            if first_advert is None:
                first_advert = ts
            advert_times.append(ts)
            if v[2] == 0:
                prio0 += 1
        # timing summary
        if first_advert is not None:
            rep.out("  summary: %d adverts, %d with priority 0; advert deltas: %s" % (
                len(advert_times), prio0,
                " ".join("%.4f" % (b - a) for a, b in zip(advert_times, advert_times[1:]))))
        for kind, times in (("ARP", arp_times), ("NA", na_times)):
            for i, b in enumerate(bursts(times)):
                rep.out("  summary: %s burst %d: %d frames, starts %.6fs after first advert, spacing %s" % (
                    kind, i + 1, len(b), b[0] - first_advert,
                    " ".join("%.6f" % (y - x) for x, y in zip(b, b[1:]))))
    print("\n".join(rep.lines))
    if not check_only:
        for fn, lines in (("adverts.txt", adverts), ("garps.txt", garps), ("nas.txt", nas)):
            with open(os.path.join(HERE, fn), "w") as f:
                f.write("\n".join(lines) + "\n")
        print("wrote adverts.txt (%d), garps.txt (%d), nas.txt (%d)" % (len(adverts), len(garps), len(nas)))
    if rep.errors:
        print("%d ERRORS" % rep.errors)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
