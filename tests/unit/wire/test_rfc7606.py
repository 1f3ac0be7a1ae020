"""RFC 7606 (revised UPDATE error handling) and RFC 4271 §6.3, one annotated vector per rule.

Framing: every vector below is an UPDATE *body*, what follows the 19-octet header (16-octet
marker, 2-octet length, 1-octet type 2). Each line names its field; ``vec`` drops the comments.

Common fields used below (lengths in octets):
  40 01 01 00                 ORIGIN IGP (4)
  40 02 06 02 01 0000fde8     AS_PATH, AS_SEQUENCE [65000], 4-octet ASNs (9)
  40 03 04 c0a84d01           NEXT_HOP 192.168.77.1 (7)
  18 010000                   NLRI 1.0.0.0/24
The three mandatory attributes add up to 20 (0x14) octets.
"""

from __future__ import annotations

from typing import Any

import pytest

from pybgp.wire.attributes import As4Path
from pybgp.wire.constants import IPV6_UNICAST, AttributeCode
from pybgp.wire.errors import RemoteProtocolError
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.update import ErrorAction, decode_update

IBGP = Negotiated(local_as=65000, peer_as=65000, families=frozenset({(1, 1), (2, 1)}))
EBGP = Negotiated(local_as=65002, peer_as=65000, families=frozenset({(1, 1), (2, 1)}))
IBGP2 = Negotiated(four_octet_as=False, local_as=65000, peer_as=65000)
EBGP2_AS4_PEER = Negotiated(four_octet_as=False, local_as=65000, peer_as=400000)

NONE = ErrorAction.NONE
DISCARD = ErrorAction.ATTRIBUTE_DISCARD
WITHDRAW = ErrorAction.TREAT_AS_WITHDRAW
DISABLE = ErrorAction.AFI_SAFI_DISABLE


def vec(text: str) -> bytes:
    """Hex with ``#`` comments; whitespace ignored."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()).replace(" ", ""))


# (id, negotiated, vector, expected action, section cited in an issue, extra checks)
CASES: list[tuple[str, Negotiated, str, ErrorAction, str, dict[str, Any]]] = [
    ("7.1-origin-undefined-value", IBGP, """
        0000                      # withdrawn routes length 0
        0014                      # total path attribute length 20
        40 01 01 03               # ORIGIN, value 3: undefined
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP 192.168.77.1
        18 010000                 # NLRI 1.0.0.0/24
    """, WITHDRAW, "RFC 7606 §7.1", {"absent": AttributeCode.ORIGIN}),
    ("7.1-origin-length-2", IBGP, """
        0000 0015                 # withdrawn 0, attributes 21
        40 01 02 0000             # ORIGIN with length 2 (must be 1)
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI 1.0.0.0/24
    """, WITHDRAW, "RFC 7606 §7.1", {}),
    ("3c-origin-optional-flag", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        c0 01 01 00               # ORIGIN with flags 0xc0: Optional bit on a well-known attribute
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §3 (c)", {}),
    ("4271-4.3-origin-partial-flag", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        60 01 01 00               # ORIGIN with flags 0x60: Partial on a well-known attribute
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 4271 §4.3", {}),
    ("7.2-as-path-unknown-segment-type", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00               # ORIGIN IGP
        40 02 06 05 01 0000fde8   # AS_PATH, segment type 5: unknown
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.2", {"absent": AttributeCode.AS_PATH}),
    ("7.2-as-path-zero-length-segment", IBGP, """
        0000 0010                 # withdrawn 0, attributes 16
        40 01 01 00               # ORIGIN IGP
        40 02 02 02 00            # AS_PATH, AS_SEQUENCE with 0 ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.2", {}),
    ("7.2-as-path-segment-overrun", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 02 0000fde8   # AS_PATH, segment claims 2 ASNs, holds 1
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.2", {}),
    ("7.2-ebgp-first-as", EBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde9   # AS_PATH [65001]: the peer is AS 65000
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 4271 §6.3, RFC 7606 §7.2", {}),
    ("7.2-ebgp-first-as-trans-on-2-octet-session", EBGP2_AS4_PEER, """
        0000 0012                 # withdrawn 0, attributes 18
        40 01 01 00               # ORIGIN IGP
        40 02 04 02 01 5ba0       # AS_PATH [23456]: AS_TRANS stands for peer AS 400000
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, NONE, "", {}),
    ("7.2-ebgp-confederation-segment", EBGP, """
        0000 001a                 # withdrawn 0, attributes 26
        40 01 01 00               # ORIGIN IGP
        40 02 0c                  # AS_PATH, length 12
           03 01 0000fde8         #   AS_CONFED_SEQUENCE [65000]: not from an external peer
           02 01 0000fde8         #   AS_SEQUENCE [65000]
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.2", {}),
    ("7.2-ebgp-empty-as-path", EBGP, """
        0000 000e                 # withdrawn 0, attributes 14
        40 01 01 00               # ORIGIN IGP
        40 02 00                  # AS_PATH empty: an external peer must prepend its AS
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.2", {}),
    ("7.2-ibgp-empty-as-path-is-fine", IBGP, """
        0000 000e                 # withdrawn 0, attributes 14
        40 01 01 00               # ORIGIN IGP
        40 02 00                  # AS_PATH empty (zero length allowed, RFC 4271 §5.1.2)
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, NONE, "", {}),
    ("4271-6.3-next-hop-zero", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 00000000         # NEXT_HOP 0.0.0.0: not a host address
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §3 (e)", {"absent": AttributeCode.NEXT_HOP}),
    ("4271-6.3-next-hop-multicast", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 e0000005         # NEXT_HOP 224.0.0.5: multicast
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §3 (e)", {}),
    ("7.3-next-hop-length-5", IBGP, """
        0000 0015                 # withdrawn 0, attributes 21
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 05 c0a84d0101       # NEXT_HOP with length 5
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.3", {}),
    ("4-zero-length-next-hop", IBGP, """
        0000 0010                 # withdrawn 0, attributes 16
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 00                  # NEXT_HOP with length 0
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.3", {}),
    ("3d-missing-next-hop", IBGP, """
        0000 000d                 # withdrawn 0, attributes 13
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]   (no NEXT_HOP, yet classic NLRI follows)
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §3 (d)", {}),
    ("3d-missing-origin", IBGP, """
        0000 0010                 # withdrawn 0, attributes 16
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP          (no ORIGIN)
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §3 (d)", {}),
    ("3d-missing-as-path", IBGP, """
        0000 000b                 # withdrawn 0, attributes 11
        40 01 01 00               # ORIGIN IGP
        40 03 04 c0a84d01         # NEXT_HOP          (no AS_PATH)
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §3 (d)", {}),
    ("3d-nothing-announced-needs-nothing", IBGP, """
        0004 18 010000            # withdrawn routes: 1.0.0.0/24
        0004 40 01 01 00          # attributes 4: ORIGIN only; no NLRI, so no mandatory check
    """, NONE, "", {}),
    ("3d-mp-reach-needs-no-next-hop", IBGP, """
        0000 002a                 # withdrawn 0, attributes 42
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        80 0e 1a                  # MP_REACH_NLRI, length 26
           0002 01                #   AFI 2 (IPv6), SAFI 1
           10 20010db8000000000000000000000001  # next hop length 16: 2001:db8::1
           00                     #   reserved
           20 20010db8            #   NLRI 2001:db8::/32
    """, NONE, "", {}),
    ("7.4-med-length-3", IBGP, """
        0000 001a                 # withdrawn 0, attributes 26
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 04 03 000001           # MULTI_EXIT_DISC with length 3
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.4", {}),
    ("4-zero-length-med", IBGP, """
        0000 0017                 # withdrawn 0, attributes 23
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 04 00                  # MULTI_EXIT_DISC with length 0
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.4", {}),
    ("7.5-local-pref-length-2-ibgp", IBGP, """
        0000 0019                 # withdrawn 0, attributes 25
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        40 05 02 0064             # LOCAL_PREF with length 2
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.5", {}),
    ("7.5-local-pref-from-ebgp-discarded", EBGP, """
        0000 001b                 # withdrawn 0, attributes 27
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        40 05 04 00000064         # LOCAL_PREF 100 from an external peer
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.5", {"absent": AttributeCode.LOCAL_PREF}),
    ("7.6-atomic-aggregate-length-1", IBGP, """
        0000 0018                 # withdrawn 0, attributes 24
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        40 06 01 00               # ATOMIC_AGGREGATE with length 1 (must be 0)
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.6", {"absent": AttributeCode.ATOMIC_AGGREGATE}),
    ("7.7-aggregator-length-7", IBGP, """
        0000 001e                 # withdrawn 0, attributes 30
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 07 07 0000fde8 c0a84d  # AGGREGATOR with length 7
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.7", {"absent": AttributeCode.AGGREGATOR}),
    ("7.7-aggregator-4-octet-on-2-octet-session", IBGP2, """
        0000 001d                 # withdrawn 0, attributes 29
        40 01 01 00               # ORIGIN IGP
        40 02 04 02 01 fde8       # AS_PATH [65000], 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 07 08 0000fde8 c0a84d01  # AGGREGATOR of 8 octets: a 2-octet session wants 6
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.7", {}),
    ("7.7-aggregator-flags-non-transitive", IBGP, """
        0000 001f                 # withdrawn 0, attributes 31
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 07 08 0000fde8 c0a84d01  # AGGREGATOR with flags 0x80: Transitive bit missing
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.7", {}),
    ("7.8-communities-length-5", IBGP, """
        0000 001c                 # withdrawn 0, attributes 28
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 08 05 fde80001 00      # COMMUNITIES with length 5
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.8", {}),
    ("7.8-communities-zero-length", IBGP, """
        0000 0017                 # withdrawn 0, attributes 23
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 08 00                  # COMMUNITIES with length 0
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.8", {}),
    ("7.9-originator-id-length-3", IBGP, """
        0000 001a                 # withdrawn 0, attributes 26
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 09 03 c0a84d           # ORIGINATOR_ID with length 3
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.9", {}),
    ("7.9-originator-id-from-ebgp", EBGP, """
        0000 001b                 # withdrawn 0, attributes 27
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 09 04 c0a84d02         # ORIGINATOR_ID from an external peer
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.9", {"absent": AttributeCode.ORIGINATOR_ID}),
    ("7.10-cluster-list-length-6", IBGP, """
        0000 001d                 # withdrawn 0, attributes 29
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 0a 06 c0a84d01 0000    # CLUSTER_LIST with length 6
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.10", {}),
    ("7.10-cluster-list-from-ebgp", EBGP, """
        0000 001b                 # withdrawn 0, attributes 27
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        80 0a 04 c0a84d01         # CLUSTER_LIST from an external peer
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §7.10", {"absent": AttributeCode.CLUSTER_LIST}),
    ("7.14-extended-communities-length-7", IBGP, """
        0000 001e                 # withdrawn 0, attributes 30
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 10 07 00020000fde800   # EXTENDED_COMMUNITIES with length 7
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.14", {}),
    ("6793-6-as4-path-malformed", IBGP2, """
        0000 001b                 # withdrawn 0, attributes 27
        40 01 01 00               # ORIGIN IGP
        40 02 04 02 01 5ba0       # AS_PATH [23456 = AS_TRANS], 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 11 06 02 02 00061a80   # AS4_PATH, segment claims 2 ASNs, holds 1
        18 010000                 # NLRI
    """, DISCARD, "RFC 6793 §6", {"absent": AttributeCode.AS4_PATH}),
    ("6793-6-as4-aggregator-length-6", IBGP2, """
        0000 001b                 # withdrawn 0, attributes 27
        40 01 01 00               # ORIGIN IGP
        40 02 04 02 01 fde8       # AS_PATH [65000], 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 12 06 fde8 c0a84d01    # AS4_AGGREGATOR with length 6 (must be 8)
        18 010000                 # NLRI
    """, DISCARD, "RFC 6793 §6", {}),
    ("6793-as4-path-between-new-speakers", IBGP, """
        0000 001d                 # withdrawn 0, attributes 29
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 11 06 02 01 00061a80   # AS4_PATH on a 4-octet-AS session
        18 010000                 # NLRI
    """, DISCARD, "RFC 6793", {"absent": AttributeCode.AS4_PATH}),
    ("8092-6-large-communities-length-11", IBGP, """
        0000 0022                 # withdrawn 0, attributes 34
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 20 0b 0000fde8 00000001 000002  # LARGE_COMMUNITIES with length 11 (12 per value)
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 8092 §6", {}),
    ("9234-5-otc-length-3", EBGP, """
        0000 001a                 # withdrawn 0, attributes 26
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 23 03 00fde8           # OTC with length 3 (must be 4)
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 9234 §5", {}),
    ("7.11-mp-reach-next-hop-length-5", IBGP, """
        0000 001f                 # withdrawn 0, attributes 31
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        80 0e 0f                  # MP_REACH_NLRI, length 15
           0002 01                #   AFI 2, SAFI 1
           05 20010db800          #   next hop length 5: neither 16 nor 32
           00                     #   reserved
           20 20010db8            #   NLRI 2001:db8::/32
    """, DISABLE, "RFC 7606 §7.11", {"disabled": {IPV6_UNICAST}}),
    ("5.3-mp-reach-bad-prefix-length", IBGP, """
        0000 0026                 # withdrawn 0, attributes 38
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        80 0e 16                  # MP_REACH_NLRI, length 22
           0002 01                #   AFI 2, SAFI 1
           10 20010db8000000000000000000000001  # next hop 2001:db8::1
           00                     #   reserved
           81                     #   NLRI prefix length 129 > 128
    """, DISABLE, "RFC 7606 §5.3", {"disabled": {IPV6_UNICAST}}),
    ("5.3-mp-reach-flags", IBGP, """
        0000 002a                 # withdrawn 0, attributes 42
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        c0 0e 1a                  # MP_REACH_NLRI with flags 0xc0 (must be optional non-transitive)
           0002 01 10 20010db8000000000000000000000001 00 20 20010db8
    """, DISABLE, "RFC 7606 §5.3", {"disabled": {IPV6_UNICAST}}),
    ("5.3-mp-unreach-bad-prefix", IBGP, """
        0000 0008                 # withdrawn 0, attributes 8
        80 0f 05                  # MP_UNREACH_NLRI, length 5
           0002 01                #   AFI 2, SAFI 1
           40 20                  #   withdrawn /64 with 1 of its 8 octets
    """, DISABLE, "RFC 7606 §5.3", {"disabled": {IPV6_UNICAST}}),
    ("3g-duplicate-origin-keeps-first", IBGP, """
        0000 0018                 # withdrawn 0, attributes 24
        40 01 01 00               # ORIGIN IGP (kept)
        40 02 06 02 01 0000fde8   # AS_PATH
        40 03 04 c0a84d01         # NEXT_HOP
        40 01 01 02               # ORIGIN again: discarded
        18 010000                 # NLRI
    """, DISCARD, "RFC 7606 §3 (g)", {"origin": 0}),
    ("4-attribute-length-overrun", IBGP, """
        0000 001b                 # withdrawn 0, attributes 27
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 08 08 fde80001         # COMMUNITIES claims 8 octets, 4 remain in the block
        18 010000                 # NLRI (still located by the Total Path Attribute Length)
    """, WITHDRAW, "RFC 7606 §4", {"nlri": 1}),
    ("4-attribute-header-cut-short", IBGP, """
        0000 0016                 # withdrawn 0, attributes 22
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        c0 08                     # two octets: not even an attribute header
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §4", {"nlri": 1}),
    ("5.1-mp-reach-last-is-fine", IBGP, """
        0000 002a                 # withdrawn 0, attributes 42
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 20 20010db8  # MP_REACH_NLRI
    """, NONE, "", {}),
    ("3h-strongest-action-wins", IBGP, """
        0000 0020                 # withdrawn 0, attributes 32
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        40 06 01 00               # ATOMIC_AGGREGATE length 1: attribute discard
        c0 08 05 fde80001 00      # COMMUNITIES length 5: treat-as-withdraw
        18 010000                 # NLRI
    """, WITHDRAW, "RFC 7606 §7.8", {"issues": 2}),
    ("4271-6.3-attributes-without-nlri", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
                                  # and no NLRI: a valid UPDATE that does nothing, logged
    """, NONE, "RFC 4271 §6.3", {"eor": None}),
    ("5.2-attribute-discard-without-nlri-is-not-escalated", IBGP, """
        0000 0018                 # withdrawn 0, attributes 24
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        40 06 01 00               # ATOMIC_AGGREGATE length 1: attribute discard (§7.6)
                                  # no NLRI: §5.2 escalates only errors above attribute discard
    """, DISCARD, "RFC 7606 §7.6", {"eor": None}),
    ("5.2-malformed-mp-reach-is-not-escalated", IBGP, """
        0000 001f                 # withdrawn 0, attributes 31
        40 01 01 00 40 02 06 02 01 0000fde8  # ORIGIN, AS_PATH
        80 0e 0f 0002 01 05 20010db800 00 20 20010db8  # MP_REACH_NLRI, next hop length 5
    """, DISABLE, "RFC 7606 §7.11", {"disabled": {IPV6_UNICAST}}),
    ("6793-6-as4-path-confederation-segments-dropped", IBGP2, """
        0000 0023                 # withdrawn 0, attributes 35
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 02 5ba0 fde8  # AS_PATH [23456 65000], 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 11 0c                  # AS4_PATH, length 12
           03 01 0000fde9         #   AS_CONFED_SEQUENCE [65001]: dropped, not the attribute
           02 01 00061a80         #   AS_SEQUENCE [400000]: kept
        18 010000                 # NLRI
    """, NONE, "RFC 6793 §6", {"as4_path": ((2, (400000,)),)}),
    ("4-as4-path-zero-length", IBGP2, """
        0000 0017                 # withdrawn 0, attributes 23
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 02 5ba0 fde8  # AS_PATH [23456 65000], 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 11 00                  # AS4_PATH with length 0: malformed (RFC 7606 §4)
        18 010000                 # NLRI
    """, DISCARD, "RFC 6793 §6", {"absent": AttributeCode.AS4_PATH}),
    ("4724-end-of-rib", IBGP, """
        0000                      # withdrawn routes length 0
        0000                      # total path attribute length 0, and no NLRI: End-of-RIB
    """, NONE, "", {"eor": (1, 1)}),
]  # fmt: skip

RESETS: list[tuple[str, Negotiated, str, int, bytes | None]] = [
    ("3b-total-attribute-length-too-long", IBGP, """
        0000                      # withdrawn 0
        0020                      # total path attribute length 32: only 4 octets follow
        40 01 01 00               # ORIGIN
    """, 1, None),
    ("3b-withdrawn-length-too-long", IBGP, """
        0010                      # withdrawn routes length 16: nothing follows
        0000
    """, 1, None),
    ("5.3-nlri-prefix-length-33", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        21 01000000 00            # NLRI with prefix length 33
    """, 10, None),
    ("5.3-nlri-overrun", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        18 0100                   # NLRI /24 with 2 of its 3 octets
    """, 10, None),
    ("3i-withdrawn-syntax", IBGP, """
        0002 18 01                # withdrawn routes: a /24 with 1 of its 3 octets
        0000                      # no attributes
    """, 10, None),
    ("5.2-overrun-without-reachable-nlri", IBGP, """
        0000 0004                 # withdrawn 0, attributes 4
        40 01 05 00               # ORIGIN claims 5 octets: no prefixes anywhere to withdraw
    """, 1, None),
    ("5.2-treat-as-withdraw-error-without-reachable-nlri", IBGP, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 03 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN 3 (undefined), ...
                                  # no NLRI: the NLRI may not have been located right
    """, 1, None),
    ("5.2-withdrawn-routes-with-malformed-attribute", IBGP, """
        0004 18 010000            # withdrawn routes: 1.0.0.0/24
        0004 40 01 01 03          # ORIGIN 3 (undefined): a withdraw carries no attributes
    """, 1, None),
    ("3g-duplicate-mp-unreach", IBGP, """
        0000 000c                 # withdrawn 0, attributes 12
        80 0f 03 000201           # MP_UNREACH_NLRI IPv6 unicast
        80 0f 03 000201           # MP_UNREACH_NLRI again: Malformed Attribute List
    """, 1, None),
    ("5.3-mp-reach-afi-unreadable", IBGP, """
        0000 0012                 # withdrawn 0, attributes 18
        40 01 01 00 40 02 06 02 01 0000fde8  # ORIGIN, AS_PATH
        80 0e 02 0002             # MP_REACH_NLRI of 2 octets: no SAFI, so no family to disable
    """, 9, bytes.fromhex("800e020002")),
    ("5.3-mp-unreach-afi-unreadable", IBGP, """
        0000 0004                 # withdrawn 0, attributes 4
        80 0f 01 00               # MP_UNREACH_NLRI of 1 octet
    """, 9, bytes.fromhex("800f0100")),
    ("4271-6.3-unrecognized-well-known", IBGP, """
        0000 0018                 # withdrawn 0, attributes 24
        40 01 01 00 40 02 06 02 01 0000fde8 40 03 04 c0a84d01  # ORIGIN, AS_PATH, NEXT_HOP
        40 63 01 00               # attribute 99 without the Optional bit: unrecognized well-known
        18 010000                 # NLRI
    """, 2, bytes.fromhex("40630100")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("negotiated", "vector", "action", "section", "checks"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_rule(
    negotiated: Negotiated, vector: str, action: ErrorAction, section: str, checks: dict[str, Any]
) -> None:
    result = decode_update(vec(vector), negotiated)
    assert result.action is action, result.issues
    if section:
        assert any(section in issue for issue in result.issues), result.issues
    else:
        assert result.issues == ()
    attrs = result.update.attributes
    if "absent" in checks:
        assert checks["absent"] not in attrs
    assert result.disabled_families == frozenset(checks.get("disabled", ()))
    if "origin" in checks:
        assert attrs.origin is not None and attrs.origin.value == checks["origin"]
    if "nlri" in checks:
        assert len(result.update.nlri) == checks["nlri"]
    if "issues" in checks:
        assert len(result.issues) == checks["issues"]
    if "as4_path" in checks:
        as4 = attrs.get(AttributeCode.AS4_PATH)
        assert isinstance(as4, As4Path)
        assert tuple((seg.type, seg.asns) for seg in as4.segments) == checks["as4_path"]
    if "eor" in checks:
        assert result.update.end_of_rib == checks["eor"]
    elif action is not ErrorAction.AFI_SAFI_DISABLE:
        # Every other case carries prefixes that the RIB keeps or withdraws.
        update = result.update
        assert update.nlri or update.withdrawn or attrs.mp_reach or attrs.mp_unreach


@pytest.mark.parametrize(
    ("negotiated", "vector", "subcode", "data"),
    [pytest.param(*case[1:], id=case[0]) for case in RESETS],
)
def test_session_reset(
    negotiated: Negotiated, vector: str, subcode: int, data: bytes | None
) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_update(vec(vector), negotiated)
    assert (info.value.code, info.value.subcode) == (3, subcode)
    if data is not None:
        assert info.value.data == data
    assert "RFC" in info.value.reason


def test_discard_keeps_routes_and_other_attributes() -> None:
    # RFC 7606 §2 "attribute discard": the UPDATE is otherwise processed normally.
    vector = {case[0]: case[2] for case in CASES}["7.6-atomic-aggregate-length-1"]
    result = decode_update(vec(vector), IBGP)
    assert result.update.attributes.codes == (1, 2, 3)
    assert len(result.update.nlri) == 1
