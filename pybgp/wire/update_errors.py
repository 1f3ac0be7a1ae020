"""RFC 7606 revised error handling for UPDATE messages: the actions and the per-attribute rules.

Theory of operation
-------------------
RFC 7606 replaces "reset the session on any malformed attribute" (RFC 4271 §6.3) by a scale of
actions (§2), weakest first: *attribute discard* (drop the attribute, keep the routes),
*treat-as-withdraw* (the routes of the UPDATE are withdrawn), *AFI/SAFI disable* (RFC 4760 §7:
forget the family on this session) and *session reset* (NOTIFICATION, close). When an UPDATE has
several problems the strongest action wins (RFC 7606 §3 (h)) and decoding carries on past the
weaker ones, so a later session-reset error is not missed.

What is implemented, section -> action (``attribute_codec`` for the block, ``update`` for the
message):

* RFC 7606 §3 (b) / RFC 4271 §6.3: Withdrawn Routes Length or Total Path Attribute Length past
  the message -> session reset, 3/1 (Malformed Attribute List).
* §3 (c): Optional/Transitive bits in conflict with the attribute's -> the row's action in
  ``RULES``: treat-as-withdraw, except the attribute-discard rows (§3 (f), RFC 6793 §6) and
  MP_REACH_NLRI/MP_UNREACH_NLRI, whose bad flags make them "incorrect" (§5.3): AFI/SAFI disable.
* §3 (d): ORIGIN or AS_PATH missing (NEXT_HOP too when the classic NLRI field is used, RFC 4760
  §3) in an UPDATE that announces routes -> treat-as-withdraw.
* §3 (e), §7.1-§7.5: malformed ORIGIN, AS_PATH (unknown segment type, segment overrun, one
  octet left over, zero segment length), NEXT_HOP, MULTI_EXIT_DISC, LOCAL_PREF ->
  treat-as-withdraw; LOCAL_PREF from an external peer -> attribute discard (§7.5).
* §3 (f), §7.6, §7.7: malformed ATOMIC_AGGREGATE, AGGREGATOR -> attribute discard.
* §3 (g): a second MP_REACH_NLRI/MP_UNREACH_NLRI -> session reset, 3/1; any other repeated
  attribute -> all but the first discarded, processing continues.
* §3 (i), (j), §5.3: a syntactically incorrect Withdrawn Routes or NLRI field -> session reset,
  3/10; inside MP_REACH_NLRI/MP_UNREACH_NLRI (bad prefix, overrun, flags, length under 5 / 3)
  -> AFI/SAFI disable, or session reset 3/9 (RFC 4760 §7) when not even the AFI/SAFI is there.
* §4: an attribute header or value running past the block -> treat-as-withdraw, the NLRI still
  located by the Total Path Attribute Length; a zero length where the attribute cannot be empty
  -> malformed (the row's action).
* §5.1: MP_REACH_NLRI/MP_UNREACH_NLRI accepted anywhere; when sending they are the first
  attribute and an UPDATE carries only one of withdrawn routes, NLRI, MP_REACH, MP_UNREACH.
* §5.2: an UPDATE with attributes other than MP_UNREACH_NLRI and no reachable NLRI (no NLRI
  field, no MP_REACH_NLRI) where any error is stronger than attribute discard -> session reset
  3/1. Without errors it is valid and does nothing (RFC 4271 §6.3).
* §7.8, §7.14, RFC 8092 §6, RFC 9234 §5: COMMUNITIES, EXTENDED_COMMUNITIES, LARGE_COMMUNITIES,
  OTC of a bad length -> treat-as-withdraw. §7.9, §7.10: ORIGINATOR_ID, CLUSTER_LIST from an
  external peer -> attribute discard, malformed from an internal one -> treat-as-withdraw.
* §7.11: an MP_REACH_NLRI next hop length other than the family expects (4 for IPv4; 16 or 32
  for IPv6, and for IPv4 only with the RFC 8950 extended next hop negotiated) -> AFI/SAFI disable.
* RFC 6793 §4.1: AS4_PATH/AS4_AGGREGATOR between 4-octet-AS speakers -> attribute discard;
  §6: malformed AS4_PATH/AS4_AGGREGATOR -> attribute discard; confederation segments in AS4_PATH
  -> those segments dropped, the rest kept.
* RFC 7607 §2: AS number 0 in AS_PATH or AS4_PATH makes the UPDATE malformed ->
  treat-as-withdraw (also for AS4_PATH: the UPDATE is malformed, not only the attribute; FRR
  agrees, BIRD discards the AS4_PATH); AS 0 in AGGREGATOR/AS4_AGGREGATOR -> attribute discard.
* RFC 4271 §6.3, not revised by RFC 7606: an unrecognized well-known attribute -> session reset
  3/2.
* §5.4 (typed NLRI) does not arise: only IPv4/IPv6 unicast and multicast NLRI are decoded.
* §6: every problem becomes one sentence in ``issues`` citing its section, for the caller to
  log with the NLRI and the UPDATE.

Deliberate deviations and choices:

* AFI/SAFI disable is used wherever §3 (j), §5.3 and §7.11 allow "session reset or AFI/SAFI
  disable" and the AFI/SAFI can be read; the caller may still choose to reset.
* The first-AS check of RFC 4271 §6.3 (a MAY) is always on for external peers and, as RFC 7606
  §7.2 recommends, is treat-as-withdraw (there is no "session reset" knob). An external AS_PATH
  that is empty or starts with an AS_SET fails it; confederation segments from an external peer
  (RFC 5065 §5) make a malformed AS_PATH, treat-as-withdraw by §3 (e).
* A NEXT_HOP that is not a valid host address (0.0.0.0, multicast, 255.255.255.255) is the
  RFC 4271 §6.3 syntax error, treat-as-withdraw by §3 (e); §7.3 itself only checks the length.
* Flags of ATOMIC_AGGREGATE and AGGREGATOR: §3 (c) says treat-as-withdraw, §3 (f) attribute
  discard for every session-reset case of those attributes; we apply §3 (f).
* A Partial bit on a well-known or optional non-transitive attribute (RFC 4271 §4.3 "MUST be
  set to 0") is handled like an O/T conflict; RFC 7606 §3 (c) only names the O/T bits.
* For §5.2 an UPDATE whose MP_REACH_NLRI could not be parsed still counts as carrying reachable
  NLRI: its family is disabled rather than the whole session reset.
* A malformed MP_REACH_NLRI/MP_UNREACH_NLRI of a family we do not decode is kept opaque.

``RULES`` is the table BIRD keeps as descriptors: one row per attribute code with the flags the
attribute must carry, its length rule, the action on malformation and the section saying so.
The decoder (``attribute_codec``) applies the flags and length columns generically, then the
value checks of each attribute; both fold into one :class:`ErrorState`.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from pybgp.wire.constants import AttributeCode, ErrorCode, Family, UpdateMessageSubcode
from pybgp.wire.errors import RemoteProtocolError

__all__ = ["RULES", "AttributeRule", "ErrorAction", "ErrorState", "Length"]


class ErrorAction(enum.IntEnum):
    """RFC 7606 §2 approaches, ordered so that ``max()`` picks the strongest (§3 (h))."""

    NONE = 0
    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    AFI_SAFI_DISABLE = 3
    SESSION_RESET = 4


@attrs.frozen
class Length:
    """A length rule: ``exact`` octets, or a ``multiple`` of octets (``nonzero`` when an empty
    value is malformed, as RFC 7606 §4, §7.8, §7.10, §7.14 and RFC 8092 §6 say), or ``None``
    everywhere for "any length"."""

    exact: tuple[int, ...] | None = None
    multiple: int | None = None
    nonzero: bool = False

    def ok(self, length: int) -> bool:
        """Whether ``length`` satisfies the rule."""
        if self.exact is not None:
            return length in self.exact
        if self.nonzero and length == 0:
            return False
        return self.multiple is None or length % self.multiple == 0

    def describe(self) -> str:
        """Words for issues and docs."""
        if self.exact is not None:
            return " or ".join(str(x) for x in self.exact) + " octets"
        if self.multiple is not None:
            return ("a non-zero " if self.nonzero else "a ") + f"multiple of {self.multiple}"
        return "a non-zero length" if self.nonzero else "any length"


@attrs.frozen
class AttributeRule:
    """One row of the RFC 7606 table: how attribute ``code`` must look and what a bad one costs."""

    code: AttributeCode
    name: str
    flags: int  # the Optional and Transitive bits the attribute must carry (RFC 4271 §5)
    length: Length
    action: ErrorAction  # on malformation: flags (RFC 7606 §3 (c)), length (§4), value
    section: str
    ebgp_action: ErrorAction = ErrorAction.NONE  # when received from an external peer at all
    ebgp_section: str = ""


_WK: Final = 0x40
_ONT: Final = 0x80
_OT: Final = 0xC0
_ANY: Final = Length()

RULES: Final[dict[int, AttributeRule]] = {
    rule.code: rule
    for rule in (
        AttributeRule(AttributeCode.ORIGIN, "ORIGIN", _WK, Length(exact=(1,)),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.1"),
        # AS_PATH length is checked against its segments (RFC 7606 §7.2); zero is allowed (iBGP).
        AttributeRule(AttributeCode.AS_PATH, "AS_PATH", _WK, _ANY,
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.2"),
        # NEXT_HOP: length §7.3; "not a valid host address" is RFC 4271 §6.3, §3 (e) action.
        AttributeRule(AttributeCode.NEXT_HOP, "NEXT_HOP", _WK, Length(exact=(4,)),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.3"),
        AttributeRule(AttributeCode.MULTI_EXIT_DISC, "MULTI_EXIT_DISC", _ONT, Length(exact=(4,)),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.4"),
        AttributeRule(AttributeCode.LOCAL_PREF, "LOCAL_PREF", _WK, Length(exact=(4,)),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.5",
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 7606 §7.5 / RFC 4271 §5.1.5"),
        AttributeRule(AttributeCode.ATOMIC_AGGREGATE, "ATOMIC_AGGREGATE", _WK, Length(exact=(0,)),
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 7606 §7.6"),
        # AGGREGATOR is 6 octets on a 2-octet-AS session and 8 on a 4-octet one (RFC 6793 §3);
        # the decoder narrows the rule to the session's width.
        AttributeRule(AttributeCode.AGGREGATOR, "AGGREGATOR", _OT, Length(exact=(6, 8)),
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 7606 §7.7"),
        AttributeRule(AttributeCode.COMMUNITIES, "COMMUNITIES", _OT,
                      Length(multiple=4, nonzero=True),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.8"),
        AttributeRule(AttributeCode.ORIGINATOR_ID, "ORIGINATOR_ID", _ONT, Length(exact=(4,)),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.9",
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 7606 §7.9 / RFC 4456 §8"),
        AttributeRule(AttributeCode.CLUSTER_LIST, "CLUSTER_LIST", _ONT,
                      Length(multiple=4, nonzero=True),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.10",
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 7606 §7.10 / RFC 4456 §8"),
        # MP_REACH/MP_UNREACH: flags or NLRI "incorrect" (RFC 7606 §5.3) -> AFI/SAFI disable
        # when the AFI/SAFI can be read, else session reset (§3 (j); RFC 4760 §7). Minimum
        # lengths (§5.3) and the next hop length (§7.11) are checked by the decoder.
        AttributeRule(AttributeCode.MP_REACH_NLRI, "MP_REACH_NLRI", _ONT, _ANY,
                      ErrorAction.AFI_SAFI_DISABLE, "RFC 7606 §5.3"),
        AttributeRule(AttributeCode.MP_UNREACH_NLRI, "MP_UNREACH_NLRI", _ONT, _ANY,
                      ErrorAction.AFI_SAFI_DISABLE, "RFC 7606 §5.3"),
        AttributeRule(AttributeCode.EXTENDED_COMMUNITIES, "EXTENDED_COMMUNITIES", _OT,
                      Length(multiple=8, nonzero=True),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.14"),
        # AS4_PATH cannot be empty (RFC 7606 §4); malformed -> discard (RFC 6793 §6).
        AttributeRule(AttributeCode.AS4_PATH, "AS4_PATH", _OT, Length(nonzero=True),
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 6793 §6"),
        AttributeRule(AttributeCode.AS4_AGGREGATOR, "AS4_AGGREGATOR", _OT, Length(exact=(8,)),
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 6793 §6"),
        AttributeRule(AttributeCode.LARGE_COMMUNITIES, "LARGE_COMMUNITIES", _OT,
                      Length(multiple=12, nonzero=True),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 8092 §6"),
        AttributeRule(AttributeCode.OTC, "OTC", _OT, Length(exact=(4,)),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 9234 §5"),
    )
}  # fmt: skip


@attrs.define
class ErrorState:
    """Accumulates the problems of one UPDATE: strongest action, one sentence per issue, the
    families to disable, and the first session-reset NOTIFICATION."""

    action: ErrorAction = ErrorAction.NONE
    issues: list[str] = attrs.Factory(list)
    disabled: set[Family] = attrs.Factory(set)
    fatal: RemoteProtocolError | None = None

    def add(self, action: ErrorAction, issue: str) -> None:
        """Record a problem; the strongest action wins (RFC 7606 §3 (h))."""
        if action > self.action:
            self.action = action
        self.issues.append(issue)

    def disable(self, family: Family, issue: str) -> None:
        """Record an AFI/SAFI disable (RFC 4760 §7; RFC 7606 §3 (j), §5.3, §7.11)."""
        self.add(ErrorAction.AFI_SAFI_DISABLE, issue)
        self.disabled.add(family)

    def reset(self, subcode: int, issue: str, data: bytes = b"") -> None:
        """Record a session reset with its NOTIFICATION; the first one is the one sent."""
        self.add(ErrorAction.SESSION_RESET, issue)
        if self.fatal is None:
            self.fatal = RemoteProtocolError(
                ErrorCode.UPDATE_MESSAGE, UpdateMessageSubcode(subcode), data, issue
            )
