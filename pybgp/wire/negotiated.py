"""What two speakers agreed on in their OPEN messages, as one frozen value.

The session builds it once the OPENs have been exchanged (see ``pybgp.session``) and passes it
to every decode and encode call: the codec never reads a global to learn, say, whether AS
numbers are two or four octets wide.
"""

from __future__ import annotations

import attrs

from pybgp.wire.constants import IPV4_UNICAST, Family


@attrs.frozen
class Negotiated:
    """Negotiated session parameters that change how messages are decoded and encoded."""

    four_octet_as: bool = True
    """RFC 6793: both sides sent the 4-octet AS capability; AS_PATH carries 4-octet ASNs."""

    extended_message: bool = False
    """RFC 8654: both sides sent the extended message capability; messages up to 65535 octets."""

    families: frozenset[Family] = frozenset({IPV4_UNICAST})
    """The (AFI, SAFI) pairs both sides enabled (RFC 4760 §8). NLRI of others are ignored."""

    add_path_receive: frozenset[Family] = frozenset()
    """RFC 7911: families for which *received* NLRI carry a 4-octet path identifier."""

    add_path_send: frozenset[Family] = frozenset()
    """RFC 7911: families for which NLRI we *send* carry a 4-octet path identifier."""

    extended_next_hop: frozenset[Family] = frozenset()
    """RFC 8950: NLRI families that may carry an IPv6 next hop though the NLRI is IPv4."""

    local_as: int = 0
    """Our AS number (0 = unknown, as in unit tests of the codec alone)."""

    peer_as: int = 0
    """The peer's AS number, from its 4-octet AS capability or the OPEN's My AS field."""

    @property
    def ibgp(self) -> bool:
        """True when the session is internal (same AS on both sides)."""
        return self.local_as == self.peer_as

    @property
    def max_message_length(self) -> int:
        """4096, or 65535 once extended messages were negotiated (RFC 8654)."""
        return 65535 if self.extended_message else 4096


DEFAULT_NEGOTIATED = Negotiated()
"""Before any OPEN: 4-octet AS assumed, IPv4 unicast only, no ADD-PATH. For tests and tools."""
