"""RFC 6793 four-octet AS numbers across two-octet speakers: AS_PATH/AS4_PATH merging.

Theory of operation
-------------------
A 2-octet ("OLD") speaker sees AS_TRANS (23456) where a 4-octet ASN stood, and passes the real
path along in the optional transitive AS4_PATH (and AS4_AGGREGATOR). ``merge_as4_path`` rebuilds
the real path on receipt from an OLD peer (RFC 6793 §4.2.3); ``to_two_octet`` does the reverse
for sending to one (§4.2.2). Both are pure functions over :class:`PathAttributes`.
"""

from __future__ import annotations

from pybgp.wire.attributes import (
    Aggregator,
    As4Aggregator,
    As4Path,
    AsPath,
    AsPathSegment,
    PathAttributes,
)
from pybgp.wire.constants import AS_TRANS, AsPathSegmentType, AttributeCode

__all__ = ["merge_as4_path", "to_two_octet"]

_CONFED = (AsPathSegmentType.AS_CONFED_SEQUENCE, AsPathSegmentType.AS_CONFED_SET)


def _leading(segments: tuple[AsPathSegment, ...], count: int) -> list[AsPathSegment]:
    """The leading part of a path worth ``count`` path-length units (AS_SET = 1, confed = 0)."""
    out: list[AsPathSegment] = []
    for seg in segments:
        if count <= 0:
            if seg.type in _CONFED:
                out.append(seg)
                continue
            break
        if seg.type in _CONFED:
            out.append(seg)
        elif seg.type == AsPathSegmentType.AS_SET:
            out.append(seg)
            count -= 1
        else:
            take = seg.asns[:count]
            out.append(AsPathSegment(seg.type, take))
            count -= len(take)
    return out


def merge_as4_path(attributes: PathAttributes) -> PathAttributes:
    """Reconstruct the 4-octet AS_PATH/AGGREGATOR from a 2-octet peer's UPDATE (RFC 6793 §4.2.3).

    AS4_PATH and AS4_AGGREGATOR are removed from the result. If AGGREGATOR is present and does not
    carry AS_TRANS, both AS4 attributes are ignored; if AS_PATH is shorter than AS4_PATH, AS4_PATH
    is ignored.
    """
    as4_path = attributes.get(AttributeCode.AS4_PATH)
    as4_agg = attributes.get(AttributeCode.AS4_AGGREGATOR)
    if as4_path is None and as4_agg is None:
        return attributes
    result = attributes.without(AttributeCode.AS4_PATH, AttributeCode.AS4_AGGREGATOR)
    aggregator = attributes.aggregator
    if aggregator is not None and aggregator.asn != AS_TRANS:
        return result  # RFC 6793 §4.2.3: AS4_AGGREGATOR and AS4_PATH ignored
    if aggregator is not None and isinstance(as4_agg, As4Aggregator):
        result = result.replace(Aggregator(as4_agg.asn, as4_agg.address, aggregator.flags))
    as_path = attributes.as_path
    if not isinstance(as4_path, As4Path) or as_path is None:
        return result
    if as_path.length < as4_path.length:
        return result  # RFC 6793 §4.2.3: AS4_PATH ignored
    head = _leading(as_path.segments, as_path.length - as4_path.length)
    tail = list(as4_path.segments)
    if (
        head
        and tail
        and head[-1].type == AsPathSegmentType.AS_SEQUENCE
        and tail[0].type == AsPathSegmentType.AS_SEQUENCE
    ):
        joined = AsPathSegment(AsPathSegmentType.AS_SEQUENCE, head[-1].asns + tail[0].asns)
        head[-1] = joined
        tail = tail[1:]
    segments = tuple(seg for seg in (*head, *tail) if seg.asns)
    return result.replace(AsPath(segments, as_path.flags))


def to_two_octet(attributes: PathAttributes) -> PathAttributes:
    """Prepare attributes for a 2-octet peer (RFC 6793 §4.2.2).

    ASNs above 65535 become AS_TRANS in AS_PATH/AGGREGATOR, and the real values travel in
    AS4_PATH (without confederation segments) and AS4_AGGREGATOR. Stale AS4 attributes are
    replaced. Nothing is added when every ASN fits in two octets.
    """
    result = attributes.without(AttributeCode.AS4_PATH, AttributeCode.AS4_AGGREGATOR)
    as_path = attributes.as_path
    if as_path is not None and any(a > 0xFFFF for a in as_path.asns()):
        mapped = tuple(
            AsPathSegment(seg.type, tuple(a if a <= 0xFFFF else AS_TRANS for a in seg.asns))
            for seg in as_path.segments
        )
        real = tuple(seg for seg in as_path.segments if seg.type not in _CONFED)
        result = result.replace(AsPath(mapped, as_path.flags), As4Path(real))
    aggregator = attributes.aggregator
    if aggregator is not None and aggregator.asn > 0xFFFF:
        result = result.replace(
            Aggregator(AS_TRANS, aggregator.address, aggregator.flags),
            As4Aggregator(aggregator.asn, aggregator.address),
        )
    return result
