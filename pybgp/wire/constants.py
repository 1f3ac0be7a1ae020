"""Numbers of the BGP protocol, as IntEnums.

Every code that appears on the wire has a name here; no module writes a bare ``(2, 4)``.
Sources: RFC 4271 (base), RFC 4760 (MP-BGP), RFC 5492 (capabilities), RFC 6608 (FSM error
subcodes), RFC 4486 / RFC 9003 (Cease subcodes), RFC 7313 (enhanced route refresh), IANA
"Border Gateway Protocol (BGP) Parameters".
"""

from __future__ import annotations

import enum
from typing import Final

MARKER: Final = b"\xff" * 16
HEADER_LENGTH: Final = 19
MAX_MESSAGE_LENGTH: Final = 4096  # RFC 4271 §4.1
MAX_EXTENDED_MESSAGE_LENGTH: Final = 65535  # RFC 8654
BGP_VERSION: Final = 4
AS_TRANS: Final = 23456  # RFC 6793 §9


class MessageType(enum.IntEnum):
    """RFC 4271 §4.1 message types, plus ROUTE-REFRESH (RFC 2918)."""

    OPEN = 1
    UPDATE = 2
    NOTIFICATION = 3
    KEEPALIVE = 4
    ROUTE_REFRESH = 5


class AFI(enum.IntEnum):
    """Address family identifiers (RFC 4760, IANA)."""

    IPV4 = 1
    IPV6 = 2


class SAFI(enum.IntEnum):
    """Subsequent address family identifiers (RFC 4760, IANA)."""

    UNICAST = 1
    MULTICAST = 2


Family = tuple[int, int]
"""An (AFI, SAFI) pair. Plain ints so that unknown families survive decoding."""

IPV4_UNICAST: Final[Family] = (AFI.IPV4, SAFI.UNICAST)
IPV6_UNICAST: Final[Family] = (AFI.IPV6, SAFI.UNICAST)


def family_name(family: Family) -> str:
    """``ipv4``/``ipv6`` for unicast, else ``afi/safi`` numbers."""
    if family == IPV4_UNICAST:
        return "ipv4"
    if family == IPV6_UNICAST:
        return "ipv6"
    return f"{family[0]}/{family[1]}"


class OptionalParameterType(enum.IntEnum):
    """RFC 5492 §4 / RFC 9072."""

    CAPABILITIES = 2
    EXTENDED_LENGTH = 255  # RFC 9072 §2: marks the extended optional-parameters format


class CapabilityCode(enum.IntEnum):
    """IANA capability codes."""

    MULTIPROTOCOL = 1  # RFC 4760
    ROUTE_REFRESH = 2  # RFC 2918
    EXTENDED_NEXT_HOP = 5  # RFC 8950
    EXTENDED_MESSAGE = 6  # RFC 8654
    ROLE = 9  # RFC 9234
    GRACEFUL_RESTART = 64  # RFC 4724
    FOUR_OCTET_AS = 65  # RFC 6793
    ADD_PATH = 69  # RFC 7911
    ENHANCED_ROUTE_REFRESH = 70  # RFC 7313
    LONG_LIVED_GRACEFUL_RESTART = 71  # RFC 9494
    FQDN = 73  # draft-walton-bgp-hostname-capability
    ROUTE_REFRESH_OLD_CISCO = 128  # pre-standard route refresh, still sent by FRR


class AttributeCode(enum.IntEnum):
    """Path attribute type codes (RFC 4271 §5 and later)."""

    ORIGIN = 1
    AS_PATH = 2
    NEXT_HOP = 3
    MULTI_EXIT_DISC = 4
    LOCAL_PREF = 5
    ATOMIC_AGGREGATE = 6
    AGGREGATOR = 7
    COMMUNITIES = 8  # RFC 1997
    ORIGINATOR_ID = 9  # RFC 4456
    CLUSTER_LIST = 10  # RFC 4456
    MP_REACH_NLRI = 14  # RFC 4760
    MP_UNREACH_NLRI = 15  # RFC 4760
    EXTENDED_COMMUNITIES = 16  # RFC 4360
    AS4_PATH = 17  # RFC 6793
    AS4_AGGREGATOR = 18  # RFC 6793
    LARGE_COMMUNITIES = 32  # RFC 8092
    OTC = 35  # RFC 9234


class AttributeFlag(enum.IntFlag):
    """RFC 4271 §4.3 attribute flags octet."""

    OPTIONAL = 0x80
    TRANSITIVE = 0x40
    PARTIAL = 0x20
    EXTENDED_LENGTH = 0x10


class Origin(enum.IntEnum):
    """RFC 4271 §5.1.1. Lower is preferred by the decision process."""

    IGP = 0
    EGP = 1
    INCOMPLETE = 2


class AsPathSegmentType(enum.IntEnum):
    """RFC 4271 §4.3 and RFC 5065 §3."""

    AS_SET = 1
    AS_SEQUENCE = 2
    AS_CONFED_SEQUENCE = 3
    AS_CONFED_SET = 4


class ErrorCode(enum.IntEnum):
    """NOTIFICATION error codes (RFC 4271 §4.5, RFC 2918, RFC 7313)."""

    MESSAGE_HEADER = 1
    OPEN_MESSAGE = 2
    UPDATE_MESSAGE = 3
    HOLD_TIMER_EXPIRED = 4
    FSM = 5
    CEASE = 6
    ROUTE_REFRESH = 7  # RFC 7313 §5
    SEND_HOLD_TIMER_EXPIRED = 8  # RFC 9687


class MessageHeaderSubcode(enum.IntEnum):
    """RFC 4271 §6.1."""

    UNSPECIFIC = 0
    CONNECTION_NOT_SYNCHRONIZED = 1
    BAD_MESSAGE_LENGTH = 2
    BAD_MESSAGE_TYPE = 3


class OpenMessageSubcode(enum.IntEnum):
    """RFC 4271 §6.2, RFC 5492 §5, RFC 9234 §4.2."""

    UNSPECIFIC = 0
    UNSUPPORTED_VERSION_NUMBER = 1
    BAD_PEER_AS = 2
    BAD_BGP_IDENTIFIER = 3
    UNSUPPORTED_OPTIONAL_PARAMETER = 4
    UNACCEPTABLE_HOLD_TIME = 6
    UNSUPPORTED_CAPABILITY = 7
    ROLE_MISMATCH = 11


class UpdateMessageSubcode(enum.IntEnum):
    """RFC 4271 §6.3."""

    UNSPECIFIC = 0
    MALFORMED_ATTRIBUTE_LIST = 1
    UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE = 2
    MISSING_WELL_KNOWN_ATTRIBUTE = 3
    ATTRIBUTE_FLAGS_ERROR = 4
    ATTRIBUTE_LENGTH_ERROR = 5
    INVALID_ORIGIN_ATTRIBUTE = 6
    INVALID_NEXT_HOP_ATTRIBUTE = 8
    OPTIONAL_ATTRIBUTE_ERROR = 9
    INVALID_NETWORK_FIELD = 10
    MALFORMED_AS_PATH = 11


class FsmSubcode(enum.IntEnum):
    """RFC 6608 §4: which state the unexpected message arrived in."""

    UNSPECIFIED = 0
    UNEXPECTED_IN_OPENSENT = 1
    UNEXPECTED_IN_OPENCONFIRM = 2
    UNEXPECTED_IN_ESTABLISHED = 3


class CeaseSubcode(enum.IntEnum):
    """RFC 4486 §4, RFC 9003."""

    UNSPECIFIC = 0
    MAXIMUM_PREFIXES_REACHED = 1
    ADMINISTRATIVE_SHUTDOWN = 2
    PEER_DECONFIGURED = 3
    ADMINISTRATIVE_RESET = 4
    CONNECTION_REJECTED = 5
    OTHER_CONFIGURATION_CHANGE = 6
    CONNECTION_COLLISION_RESOLUTION = 7
    OUT_OF_RESOURCES = 8
    HARD_RESET = 9  # RFC 8538
    BFD_DOWN = 10  # RFC 9384


class RouteRefreshSubcode(enum.IntEnum):
    """RFC 7313 §3: the 'Message Subtype' octet of ROUTE-REFRESH (reserved in RFC 2918)."""

    NORMAL = 0
    BEGIN = 1  # BoRR
    END = 2  # EoRR


class RouteRefreshErrorSubcode(enum.IntEnum):
    """RFC 7313 §5."""

    INVALID_MESSAGE_LENGTH = 1


class Role(enum.IntEnum):
    """RFC 9234 §4.1 BGP roles."""

    PROVIDER = 0
    ROUTE_SERVER = 1
    ROUTE_SERVER_CLIENT = 2
    CUSTOMER = 3
    PEER = 4


def error_name(code: int, subcode: int) -> str:
    """Words for a NOTIFICATION code/subcode pair, for logs and ``pybgp status``."""
    subcodes: dict[int, type[enum.IntEnum]] = {
        ErrorCode.MESSAGE_HEADER: MessageHeaderSubcode,
        ErrorCode.OPEN_MESSAGE: OpenMessageSubcode,
        ErrorCode.UPDATE_MESSAGE: UpdateMessageSubcode,
        ErrorCode.FSM: FsmSubcode,
        ErrorCode.CEASE: CeaseSubcode,
        ErrorCode.ROUTE_REFRESH: RouteRefreshErrorSubcode,
    }
    try:
        code_text = ErrorCode(code).name.replace("_", " ").title()
    except ValueError:
        return f"error {code}/{subcode}"
    table = subcodes.get(code)
    if table is None:
        return code_text if subcode == 0 else f"{code_text} ({subcode})"
    try:
        sub_text = table(subcode).name.replace("_", " ").lower()
    except ValueError:
        sub_text = f"subcode {subcode}"
    return f"{code_text}: {sub_text}"
