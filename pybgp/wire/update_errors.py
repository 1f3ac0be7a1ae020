"""RFC 7606 revised error handling for UPDATE messages: the actions and the per-attribute rules.

Theory of operation
-------------------
RFC 7606 replaces "reset the session on any malformed attribute" (RFC 4271 §6.3) by a scale of
actions, weakest first: *attribute discard* (drop the attribute, keep the routes),
*treat-as-withdraw* (the routes of the UPDATE are withdrawn), *AFI/SAFI disable* (RFC 4760 §7:
forget the family on this session) and *session reset* (NOTIFICATION, close). When an UPDATE has
several problems the strongest action wins (RFC 7606 §3 (g)) and decoding carries on past the
weaker ones, so a later session-reset error is not missed.

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
    """RFC 7606 §2 approaches, ordered so that ``max()`` picks the strongest (§3 (g))."""

    NONE = 0
    ATTRIBUTE_DISCARD = 1
    TREAT_AS_WITHDRAW = 2
    AFI_SAFI_DISABLE = 3
    SESSION_RESET = 4


@attrs.frozen
class Length:
    """A length rule: ``exact`` octets, or a ``multiple`` of octets (``nonzero`` when an empty
    value is malformed, as RFC 7606 §7.8, §7.10, §7.14 and RFC 8092 §5 say), or ``None``
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
        return "any length"


@attrs.frozen
class AttributeRule:
    """One row of the RFC 7606 table: how attribute ``code`` must look and what a bad one costs."""

    code: AttributeCode
    name: str
    flags: int  # the Optional and Transitive bits the attribute must carry (RFC 4271 §5)
    length: Length
    action: ErrorAction  # on malformation: flags (RFC 7606 §3 (c)), length, value
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
        # MP_REACH/MP_UNREACH: AFI/SAFI disable when the AFI/SAFI can be read, else session
        # reset (RFC 7606 §7.11, §7.12; RFC 4760 §7). Minimum lengths checked by the decoder.
        AttributeRule(AttributeCode.MP_REACH_NLRI, "MP_REACH_NLRI", _ONT, _ANY,
                      ErrorAction.AFI_SAFI_DISABLE, "RFC 7606 §7.11"),
        AttributeRule(AttributeCode.MP_UNREACH_NLRI, "MP_UNREACH_NLRI", _ONT, _ANY,
                      ErrorAction.AFI_SAFI_DISABLE, "RFC 7606 §7.12"),
        AttributeRule(AttributeCode.EXTENDED_COMMUNITIES, "EXTENDED_COMMUNITIES", _OT,
                      Length(multiple=8, nonzero=True),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 7606 §7.14"),
        AttributeRule(AttributeCode.AS4_PATH, "AS4_PATH", _OT, _ANY,
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 6793 §6"),
        AttributeRule(AttributeCode.AS4_AGGREGATOR, "AS4_AGGREGATOR", _OT, Length(exact=(8,)),
                      ErrorAction.ATTRIBUTE_DISCARD, "RFC 6793 §6"),
        AttributeRule(AttributeCode.LARGE_COMMUNITIES, "LARGE_COMMUNITIES", _OT,
                      Length(multiple=12, nonzero=True),
                      ErrorAction.TREAT_AS_WITHDRAW, "RFC 8092 §5"),
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
        """Record a problem; the strongest action wins (RFC 7606 §3 (g))."""
        if action > self.action:
            self.action = action
        self.issues.append(issue)

    def disable(self, family: Family, issue: str) -> None:
        """Record an AFI/SAFI disable (RFC 4760 §7, RFC 7606 §7.11)."""
        self.add(ErrorAction.AFI_SAFI_DISABLE, issue)
        self.disabled.add(family)

    def reset(self, subcode: int, issue: str, data: bytes = b"") -> None:
        """Record a session reset with its NOTIFICATION; the first one is the one sent."""
        self.add(ErrorAction.SESSION_RESET, issue)
        if self.fatal is None:
            self.fatal = RemoteProtocolError(
                ErrorCode.UPDATE_MESSAGE, UpdateMessageSubcode(subcode), data, issue
            )
