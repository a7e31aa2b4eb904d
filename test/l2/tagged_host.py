#!/usr/bin/python3
# A host on a VLAN, played with scapy because the test kernel has no 8021q (no VLAN devices):
# it resolves a peer with a tagged ARP request and a tagged IPv6 neighbour solicitation, then
# pings it over IPv4 and IPv6, every frame carrying the tag, and checks that every answer
# comes back tagged. Prints one JSON line; exits 1 with the reason on any failure.
#   tagged_host.py IFACE VLAN MY_IP4 PEER_IP4 MY_IP6 PEER_IP6
import json
import sys

from scapy.all import ARP, ICMP, IP, Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, \
    ICMPv6NDOptSrcLLAddr, IPv6, conf, get_if_hwaddr, srp1
from scapy.utils6 import in6_getnsma, in6_getnsmac
from scapy.pton_ntop import inet_pton
import socket

conf.verb = 0
iface, vlan, ip4, peer4, ip6, peer6 = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
mac = get_if_hwaddr(iface)


def fail(why):
    print(json.dumps({"ok": False, "reason": why}))
    sys.exit(1)


def tagged(frame, what):
    if frame is None:
        fail(f"no answer to the {what}")
    if Dot1Q not in frame or frame[Dot1Q].vlan != vlan:
        fail(f"answer to the {what} is not tagged with VLAN {vlan}: {frame.summary()}")
    return frame


arp = tagged(srp1(Ether(src=mac, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=vlan) / ARP(op=1, hwsrc=mac, psrc=ip4, pdst=peer4),
                  iface=iface, timeout=3), "ARP request")
peer_mac = arp[ARP].hwsrc
echo4 = tagged(srp1(Ether(src=mac, dst=peer_mac) / Dot1Q(vlan=vlan) / IP(src=ip4, dst=peer4) / ICMP(id=0x51, seq=1) / (b"q" * 32),
                    iface=iface, timeout=3), "ICMP echo request")
if echo4[ICMP].type != 0:
    fail(f"ICMP answer is not an echo reply: {echo4.summary()}")

nsma = socket.inet_ntop(socket.AF_INET6, in6_getnsma(inet_pton(socket.AF_INET6, peer6)))
na = tagged(srp1(Ether(src=mac, dst=in6_getnsmac(inet_pton(socket.AF_INET6, nsma))) / Dot1Q(vlan=vlan) /
                 IPv6(src=ip6, dst=nsma, hlim=255) / ICMPv6ND_NS(tgt=peer6) / ICMPv6NDOptSrcLLAddr(lladdr=mac),
                 iface=iface, timeout=3), "neighbour solicitation")
if ICMPv6ND_NA not in na:
    fail(f"answer to the solicitation is not an advertisement: {na.summary()}")
echo6 = tagged(srp1(Ether(src=mac, dst=peer_mac) / Dot1Q(vlan=vlan) / IPv6(src=ip6, dst=peer6) / ICMPv6EchoRequest(id=0x52, seq=1),
                    iface=iface, timeout=3), "ICMPv6 echo request")
if ICMPv6EchoReply not in echo6:
    fail(f"ICMPv6 answer is not an echo reply: {echo6.summary()}")
print(json.dumps({"ok": True, "mac": mac, "peerMac": peer_mac}))
