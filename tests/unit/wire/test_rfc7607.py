"""RFC 7607 §2: AS number 0, one annotated vector per case.

Every vector is an UPDATE *body* (what follows the 19-octet header). Each line names its
field; ``vec`` drops the comments. RFC 7607 §2 says an UPDATE with AS 0 in AS_PATH or AS4_PATH
"MUST be considered as malformed" and handled by RFC 7606 (treat-as-withdraw, §7.2); AS 0 in
AGGREGATOR or AS4_AGGREGATOR is malformed too but only the attribute is discarded (§7.7).
"""

from __future__ import annotations

from ipaddress import IPv4Address

import pytest

from pybgp.wire.constants import AttributeCode
from pybgp.wire.errors import LocalProtocolError
from pybgp.wire.negotiated import Negotiated
from pybgp.wire.open import Open
from pybgp.wire.update import ErrorAction, decode_update

IBGP = Negotiated(local_as=65000, peer_as=65000)
EBGP = Negotiated(local_as=65002, peer_as=65000)
IBGP2 = Negotiated(four_octet_as=False, local_as=65000, peer_as=65000)
EBGP2 = Negotiated(four_octet_as=False, local_as=65002, peer_as=65000)

WITHDRAW = ErrorAction.TREAT_AS_WITHDRAW
DISCARD = ErrorAction.ATTRIBUTE_DISCARD


def vec(text: str) -> bytes:
    """Hex with ``#`` comments; whitespace ignored."""
    return bytes.fromhex("".join(line.split("#")[0] for line in text.splitlines()).replace(" ", ""))


# (id, negotiated, vector, action, the attribute that must be gone)
CASES: list[tuple[str, Negotiated, str, ErrorAction, int]] = [
    ("as-path-ibgp", IBGP, """
        0000 0018                 # withdrawn 0, attributes 24
        40 01 01 00               # ORIGIN IGP
        40 02 0a 02 02            # AS_PATH, AS_SEQUENCE of 2 ASNs (4 octets each)
           0000fde8 00000000      #   [65000 0]: AS 0
        40 03 04 c0a84d01         # NEXT_HOP 192.168.77.1
        18 010000                 # NLRI 1.0.0.0/24
    """, WITHDRAW, AttributeCode.AS_PATH),
    ("as-path-ebgp-first-as-right", EBGP, """
        0000 0018                 # withdrawn 0, attributes 24
        40 01 01 00               # ORIGIN IGP
        40 02 0a 02 02            # AS_PATH, AS_SEQUENCE of 2
           0000fde8 00000000      #   [65000 0]: the leftmost AS is the peer's, AS 0 behind it
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI 1.0.0.0/24
    """, WITHDRAW, AttributeCode.AS_PATH),
    ("as-path-as-set", IBGP, """
        0000 001a                 # withdrawn 0, attributes 26
        40 01 01 00               # ORIGIN IGP
        40 02 0c                  # AS_PATH, length 12
           02 01 0000fde8         #   AS_SEQUENCE [65000]
           01 01 00000000         #   AS_SET {0}
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, AttributeCode.AS_PATH),
    ("as-path-two-octet-session", EBGP2, """
        0000 0014                 # withdrawn 0, attributes 20
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 02 fde8 0000  # AS_PATH, 2-octet ASNs [65000 0]
        40 03 04 c0a84d01         # NEXT_HOP
        18 010000                 # NLRI
    """, WITHDRAW, AttributeCode.AS_PATH),
    ("as4-path-from-old-speaker", IBGP2, """
        0000 0021                 # withdrawn 0, attributes 33
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 02 5ba0 5ba0  # AS_PATH [23456 23456] (AS_TRANS twice), 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 11 0a 02 02            # AS4_PATH (optional transitive), AS_SEQUENCE of 2
           00061a80 00000000      #   [400000 0]: AS 0 makes the UPDATE malformed
        18 010000                 # NLRI
    """, WITHDRAW, AttributeCode.AS4_PATH),
    ("aggregator", IBGP, """
        0000 001f                 # withdrawn 0, attributes 31
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP
        c0 07 08 00000000 0a000001  # AGGREGATOR AS 0, 10.0.0.1: discarded, routes kept
        18 010000                 # NLRI
    """, DISCARD, AttributeCode.AGGREGATOR),
    ("as4-aggregator", IBGP2, """
        0000 0026                 # withdrawn 0, attributes 38
        40 01 01 00               # ORIGIN IGP
        40 02 04 02 01 fde8       # AS_PATH [65000], 2-octet ASNs
        40 03 04 c0a84d01         # NEXT_HOP
        c0 07 06 5ba0 0a000001    # AGGREGATOR AS_TRANS, 10.0.0.1
        c0 12 08 00000000 0a000001  # AS4_AGGREGATOR AS 0: discarded, routes kept
        18 010000                 # NLRI
    """, DISCARD, AttributeCode.AS4_AGGREGATOR),
]  # fmt: skip


@pytest.mark.parametrize(
    ("negotiated", "vector", "action", "gone"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_as_zero(negotiated: Negotiated, vector: str, action: ErrorAction, gone: int) -> None:
    result = decode_update(vec(vector), negotiated)
    assert result.action is action, result.issues
    assert any("AS number 0" in i and "RFC 7607 §2" in i for i in result.issues), result.issues
    assert gone not in result.update.attributes
    assert len(result.update.nlri) == 1  # the prefixes are there, for the RIB to withdraw


def test_as_zero_in_as4_path_between_new_speakers_is_not_read() -> None:
    # RFC 6793 §4.1: AS4_PATH between 4-octet speakers is discarded unread, AS 0 or not.
    result = decode_update(vec("""
        0000 001d                 # withdrawn 0, attributes 29
        40 01 01 00               # ORIGIN IGP
        40 02 06 02 01 0000fde8   # AS_PATH [65000]
        40 03 04 c0a84d01         # NEXT_HOP
        c0 11 06 02 01 00000000   # AS4_PATH [0] on a 4-octet session
        18 010000                 # NLRI
    """), IBGP)
    assert result.action is DISCARD
    assert AttributeCode.AS4_PATH not in result.update.attributes


def test_the_same_block_without_as_zero_is_clean() -> None:
    # The control: [65000 65001] instead of [65000 0] decodes without an issue.
    result = decode_update(vec("""
        0000 0018 40 01 01 00
        40 02 0a 02 02 0000fde8 0000fde9   # AS_PATH [65000 65001]
        40 03 04 c0a84d01 18 010000
    """), IBGP)
    assert result.action is ErrorAction.NONE and result.issues == ()


def test_we_never_claim_as_zero() -> None:
    # RFC 7607 §2: "A router MUST NOT initiate a connection claiming to be AS 0".
    with pytest.raises(LocalProtocolError, match="RFC 7607"):
        Open.create(0, 90, IPv4Address("10.0.0.1"))
