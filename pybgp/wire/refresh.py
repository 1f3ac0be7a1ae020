"""The ROUTE-REFRESH message (RFC 2918 §3) with the RFC 7313 BoRR/EoRR subtypes.

Body: AFI (2), Message Subtype (1; reserved in RFC 2918), SAFI (1). Subtype 0 is a request for
the peer's Adj-RIB-Out of the family, 1 marks the Beginning and 2 the End of a route refresh
(RFC 7313 §3). Other subtypes decode as plain ints: RFC 7313 §5 says to ignore such a message,
which is the caller's call, not the codec's.
"""

from __future__ import annotations

import struct

import attrs

from pybgp.wire.constants import (
    ErrorCode,
    Family,
    MessageHeaderSubcode,
    MessageType,
    RouteRefreshErrorSubcode,
    RouteRefreshSubcode,
)
from pybgp.wire.errors import LocalProtocolError, RemoteProtocolError
from pybgp.wire.framing import encode_message

__all__ = ["RouteRefresh", "decode_route_refresh", "encode_route_refresh"]


@attrs.frozen
class RouteRefresh:
    """A ROUTE-REFRESH for one (AFI, SAFI); ``subtype`` per RFC 7313 §3."""

    afi: int
    safi: int
    subtype: int = RouteRefreshSubcode.NORMAL

    @property
    def family(self) -> Family:
        """The (AFI, SAFI) pair."""
        return (self.afi, self.safi)

    @property
    def known_subtype(self) -> bool:
        """False for subtypes RFC 7313 §5 says to ignore (not 0, 1 or 2)."""
        return self.subtype in tuple(RouteRefreshSubcode)


def decode_route_refresh(body: bytes) -> RouteRefresh:
    """Decode a ROUTE-REFRESH body (exactly four octets).

    A BoRR/EoRR of another length is a 7/1 Invalid Message Length whose data is the complete
    message (RFC 7313 §5); any other subtype of the wrong length is a 1/2 (RFC 2918 §3 via
    RFC 4271 §6.1, data = the 2-octet message length).
    """
    body = bytes(body)
    if len(body) != 4:
        length = len(body) + 19
        if len(body) >= 3 and body[2] in (RouteRefreshSubcode.BEGIN, RouteRefreshSubcode.END):
            # RFC 7313 §5: the Data field MUST contain the complete ROUTE-REFRESH message.
            data = encode_message(MessageType.ROUTE_REFRESH, body) if length <= 0xFFFF else b""
            raise RemoteProtocolError(
                ErrorCode.ROUTE_REFRESH,
                RouteRefreshErrorSubcode.INVALID_MESSAGE_LENGTH,
                data,
                f"ROUTE-REFRESH subtype {body[2]} of {length} octets, must be 23 (RFC 7313 §5)",
            )
        raise RemoteProtocolError(
            ErrorCode.MESSAGE_HEADER,
            MessageHeaderSubcode.BAD_MESSAGE_LENGTH,
            struct.pack("!H", min(length, 0xFFFF)),
            f"ROUTE-REFRESH of {length} octets, must be 23 (RFC 2918 §3)",
        )
    afi, subtype, safi = struct.unpack("!HBB", body)
    return RouteRefresh(afi, safi, subtype)


def encode_route_refresh(refresh: RouteRefresh) -> bytes:
    """The whole ROUTE-REFRESH message."""
    afi, safi, subtype = refresh.afi, refresh.safi, refresh.subtype
    if not (0 <= afi <= 0xFFFF and 0 <= safi <= 255 and 0 <= subtype <= 255):
        raise LocalProtocolError(f"ROUTE-REFRESH {refresh} has a field out of range")
    body = struct.pack("!HBB", refresh.afi, refresh.subtype, refresh.safi)
    return encode_message(MessageType.ROUTE_REFRESH, body)
