"""The hand-written rtnetlink encoder/decoder (no kernel needed)."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from pybgp.kernel import KernelRoute, prefix_key, rtnl

A = ipaddress.ip_address
NAMES = {3: "va", 7: "tunl0"}
INDEX = {name: index for index, name in NAMES.items()}.get


def test_plain_ipv4_route_bytes_field_by_field() -> None:
    route = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),))
    message = rtnl.encode_route(9, "add", route, INDEX)
    assert message.hex(" ") == (
        # nlmsghdr: len 60, RTM_NEWROUTE (24), REQUEST|ACK|EXCL|CREATE (0x605), seq 9, pid 0
        "3c 00 00 00 18 00 05 06 09 00 00 00 00 00 00 00 "
        # rtmsg: AF_INET, /26, src 0, tos 0, table 254, proto 186, scope universe,
        # RTN_UNICAST, flags 0
        "02 1a 00 00 fe ba 00 01 00 00 00 00 "
        # RTA_TABLE 254
        "08 00 0f 00 fe 00 00 00 "
        # RTA_DST 10.244.1.0
        "08 00 01 00 0a f4 01 00 "
        # RTA_PRIORITY 0
        "08 00 06 00 00 00 00 00 "
        # RTA_GATEWAY 10.0.0.2
        "08 00 05 00 0a 00 00 02"
    )


@pytest.mark.parametrize(
    "route",
    [
        KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),)),
        KernelRoute(1, prefix_key("0.0.0.0/0"), (A("10.1.0.5"),), device="tunl0", onlink=True),
        KernelRoute(
            1,
            prefix_key("10.244.3.0/26"),
            (A("10.1.0.5"), A("10.2.0.6")),
            device="tunl0",
            onlink=True,
            table=1000,
            metric=20,
            protocol=200,
            source=A("10.0.0.1"),
        ),
        KernelRoute(1, prefix_key("10.244.4.0/26"), (), "blackhole"),
        KernelRoute(2, prefix_key("fd10::/64"), (A("fd00::2"),), metric=1024),
        KernelRoute(2, prefix_key("fd11::/48"), (A("fd00::2"), A("fd00::3")), device="va"),
        KernelRoute(2, prefix_key("fd12::/64"), (A("fd00::2"),), source=A("fd00::1")),
    ],
)
def test_encode_then_parse_gives_the_same_route(route: KernelRoute) -> None:
    for action in ("add", "replace"):
        message = rtnl.encode_route(1, action, route, INDEX)
        assert len(message) == struct.unpack_from("=I", message)[0]
        back = rtnl.parse_route(message, 0, len(message), NAMES)
        assert back is not None and route.same_as(back), back


def test_flags_per_action() -> None:
    route = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),), protocol=186)
    flags = {
        action: struct.unpack_from("=IHHII", rtnl.encode_route(1, action, route, INDEX))[1:3]
        for action in ("add", "replace", "remove")
    }
    assert flags["add"] == (rtnl.RTM_NEWROUTE, 0x1 | 0x4 | 0x400 | 0x200)
    assert flags["replace"] == (rtnl.RTM_NEWROUTE, 0x1 | 0x4 | 0x400 | 0x100)
    assert flags["remove"] == (rtnl.RTM_DELROUTE, 0x1 | 0x4)


def test_remove_names_protocol_any_scope_and_no_next_hop() -> None:
    route = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),), metric=7)
    message = rtnl.encode_route(1, "remove", route, INDEX)
    _family, _dst_len, _src, _tos, _table, protocol, scope, kind, _flags = struct.unpack_from(
        "=BBBBBBBBI", message, 16
    )
    assert (protocol, scope, kind) == (186, rtnl.RT_SCOPE_NOWHERE, 0)
    assert b"\x0a\x00\x00\x02" not in message[28:]  # no gateway: any next hops match
    assert rtnl.peek_key(message, 0, len(message)) == (1, route.prefix)


def test_unknown_device_is_reported() -> None:
    route = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),), device="nope")
    with pytest.raises(rtnl.UnknownDevice):
        rtnl.encode_route(1, "add", route, INDEX)


def test_packed_cache_gives_identical_bytes() -> None:
    hop = A("10.0.0.2")
    routes = [KernelRoute(1, prefix_key(f"10.9.{i}.0/24"), (hop,)) for i in range(3)]
    cache: dict[int, bytes] = {}
    assert [rtnl.encode_route(1, "add", r, INDEX, cache) for r in routes] == [
        rtnl.encode_route(1, "add", r, INDEX) for r in routes
    ]


def test_ack_can_be_left_to_failures() -> None:
    """Inside a batch only the last message asks for an ack; the kernel answers the others
    only when they fail."""
    route = KernelRoute(1, prefix_key("10.244.1.0/26"), (A("10.0.0.2"),))
    blackhole = KernelRoute(1, prefix_key("10.244.2.0/26"), (), "blackhole")
    for action in ("add", "replace", "remove"):
        for shape in (route, blackhole):
            acked = rtnl.encode_route(5, action, shape, INDEX)
            quiet = rtnl.encode_route(5, action, shape, INDEX, ack=False)
            flags = struct.unpack_from("=H", acked, 6)[0]
            assert flags & rtnl.NLM_F_ACK
            assert struct.unpack_from("=H", quiet, 6)[0] == flags & ~rtnl.NLM_F_ACK
            assert quiet[:6] == acked[:6] and quiet[8:] == acked[8:]


def test_sender_filter_program() -> None:
    """The monitor's BPF program: 7 instructions, comparing nlmsg_pid as BPF loads it."""
    program = rtnl._sender_filter(0x01020304)
    assert len(program) == 7 * 8
    code, _jt, _jf, k = struct.unpack_from("=HBBI", program, 8)
    assert code == 0x15 and k == int.from_bytes(struct.pack("=I", 0x01020304), "big")
