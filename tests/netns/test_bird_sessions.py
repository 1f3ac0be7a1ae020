"""pybgp sessions with a real BIRD 2 (issue "Sessions").

Each speaker runs in its own namespace on bridge ``lan`` (n1 = pybgp 10.99.0.1 / fd00:99::1,
n2 = BIRD 10.99.0.2 / fd00:99::2): eBGP and iBGP sessions reach Established on both sides,
routes flow both ways for IPv4 and IPv6 (IPv6 sessions, and IPv6 over an IPv4 session) with
the right NEXT_HOP and AS_PATH; TCP MD5 works over IPv4 and IPv6 and a wrong key keeps the
session down; GTSM works; either hold timer (pybgp's or BIRD's, the smaller governs) tears
down a frozen peer; stops and restarts of either side send Cease and bring routes back;
ROUTE-REFRESH, max_prefixes, passive peers and 1000 prefixes each way.
"""

from __future__ import annotations

import re
import time

import pytest

from tests.harness import BirdDaemon, BirdPeer, Topology, bird_config, wait_until
from tests.netns.bird_pybgp import Speaker, lan, peer

pytestmark = [pytest.mark.netns, pytest.mark.bird]

PYBGP_V4 = "10.244.1.0/26"
PYBGP_V6 = "fd00:244:1::/122"
BIRD_V4 = "10.244.2.0/26"
BIRD_V6 = "fd00:244:2::/64"


@pytest.mark.parametrize(
    ("bird_asn", "as_path_at_bird", "as_path_at_pybgp"),
    [(64513, [64512], [64513]), (64512, [], [])],
    ids=["ebgp", "ibgp"],
)
def test_ipv4_session_establishes_and_routes_flow_both_ways(
    bird: None,
    topology: Topology,
    bird_asn: int,
    as_path_at_bird: list[int],
    as_path_at_pybgp: list[int],
) -> None:
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", bird_asn, local_address="10.99.0.1")],
        originate=[PYBGP_V4],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            bird_asn,
            [BirdPeer("pybgp", "10.99.0.1", 64512)],
            originate=[BIRD_V4],
        ),
    )
    entry = speaker.wait_state("10.99.0.2")
    bird_n2.wait_established("pybgp")
    assert entry["asn"] == bird_asn
    assert entry["type"] == ("global" if bird_asn != 64512 else "mesh")

    # pybgp's block at BIRD: next hop pybgp's address, AS path by session type.
    route = bird_n2.wait_route(PYBGP_V4, protocol="pybgp")
    assert route["next_hop"] == ["10.99.0.1"]
    assert route["as_path"] == as_path_at_bird
    assert route["origin"] == "IGP"
    assert route["via"] == ["10.99.0.1"]
    if bird_asn == 64512:
        assert route["local_pref"] == 100  # iBGP carries LOCAL_PREF
    else:
        assert route["summary"] == "AS64512i"  # (LOCAL_PREF over eBGP: test_bird_routing)

    # BIRD's block at pybgp.
    learned = speaker.wait_route(BIRD_V4)
    assert learned["next_hop"] == "10.99.0.2"
    assert learned["peer"] == "10.99.0.2"
    assert learned["as_path"] == as_path_at_pybgp
    assert learned["origin"] == "igp"
    wait_until(
        lambda: speaker.peer("10.99.0.2"),
        timeout=5,
        describe="pybgp counters: 1 received, 1 accepted, 1 advertised",
        predicate=lambda e: (e["received"], e["accepted"], e["advertised"]) == (1, 1, 1),
    )


@pytest.mark.parametrize("bird_asn", [64513, 64512], ids=["ebgp", "ibgp"])
def test_ipv6_session_carries_ipv6_routes_both_ways(
    bird: None, topology: Topology, bird_asn: int
) -> None:
    ebgp = bird_asn != 64512
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("fd00:99::2", bird_asn, local_address="fd00:99::1")],
        originate=[PYBGP_V6],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            bird_asn,
            [BirdPeer("pybgp", "fd00:99::1", 64512, ipv4=False, ipv6=True)],
            originate=[BIRD_V6],
        ),
    )
    entry = speaker.wait_state("fd00:99::2")
    bird_n2.wait_established("pybgp")
    assert entry["asn"] == bird_asn

    route = bird_n2.wait_route(PYBGP_V6, protocol="pybgp")
    # The global next hop first (a link-local one may follow, RFC 2545).
    assert route["next_hop"][0] == "fd00:99::1"
    assert all(hop == "fd00:99::1" or hop.startswith("fe80:") for hop in route["next_hop"])
    assert route["as_path"] == ([64512] if ebgp else [])
    assert route["via"] == ["fd00:99::1"]

    learned = speaker.wait_route(BIRD_V6)
    assert learned["family"] == "ipv6"
    assert learned["next_hop"] == "fd00:99::2"
    assert learned["as_path"] == ([64513] if ebgp else [])
    assert learned["peer"] == "fd00:99::2"
    assert [r["prefix"] for r in speaker.routes("ipv4")] == []


def _md5_pair(
    topology: Topology, pybgp_password: str, bird_password: str, passive: bool = False
) -> tuple:
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer(
                "10.99.0.2",
                64513,
                local_address="10.99.0.1",
                password=pybgp_password,
                passive=passive,
            )
        ],
        originate=[PYBGP_V4],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, password=bird_password)],
            originate=[BIRD_V4],
        ),
    )
    return n1, speaker, bird_n2


def test_md5_with_the_same_password_establishes(bird: None, topology: Topology) -> None:
    n1, speaker, bird_n2 = _md5_pair(topology, "s3cret pass", "s3cret pass")
    speaker.wait_state("10.99.0.2")
    bird_n2.wait_established("pybgp")
    # The session's socket in pybgp's namespace carries an RFC 2385 key for BIRD.
    assert "md5keys:10.99.0.2/32" in n1.run("ss -tnie state established").stdout
    assert speaker.wait_route(BIRD_V4)["as_path"] == [64513]
    assert bird_n2.wait_route(PYBGP_V4, protocol="pybgp")["as_path"] == [64512]


def test_md5_with_a_wrong_password_never_establishes(bird: None, topology: Topology) -> None:
    n1, speaker, bird_n2 = _md5_pair(topology, "s3cret pass", "other pass")
    seen: list[tuple[str, str, str]] = []

    def established_anywhere() -> bool:
        entry = speaker.peer("10.99.0.2")
        bird_state = bird_n2.protocols()["pybgp"]
        seen.append((entry["state"], entry["info"], bird_state))
        return entry["state"] == "Established" or bird_state == "Established"

    # A bounded negative check: 6 s is several connect retries of both sides (1 s timers).
    with pytest.raises(AssertionError, match="timed out"):
        wait_until(established_anywhere, timeout=6, interval=0.2, describe="a session")
    assert len(seen) > 10
    assert not any(state == "Established" for state, _, _ in seen)
    assert not any(bird_state == "Established" for _, _, bird_state in seen)
    # pybgp says why: its connects time out (the kernel drops segments with a bad
    # signature) and MD5 is configured, so the password is the suspect.
    infos = {info for _, info, _ in seen if info}
    assert infos and all("MD5" in info and "password" in info for info in infos), infos
    assert "TCP MD5 configured: check the password" in speaker.logs()
    # Each side's kernel dropped the other's segments for a bad signature (BIRD never sees
    # them, so its log cannot say; the namespace's TCP counters can).
    for node in (n1, bird_n2.node):
        failures = re.search(r"TcpExtTCPMD5Failure\s+(\d+)", node.run("nstat -asz").stdout)
        assert failures and int(failures.group(1)) > 0, node.name
    assert speaker.peer("10.99.0.2")["received"] == 0
    assert [r["prefix"] for r in speaker.routes()] == [PYBGP_V4]


def _ebgp_pair(topology: Topology, hold_time: int = 90) -> tuple:
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1")],
        originate=[PYBGP_V4],
        hold_time=hold_time,
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512)],
            originate=[BIRD_V4],
        ),
    )
    speaker.wait_state("10.99.0.2")
    bird_n2.wait_established("pybgp")
    speaker.wait_route(BIRD_V4)
    bird_n2.wait_route(PYBGP_V4, protocol="pybgp")
    return speaker, bird_n2


def test_frozen_bird_is_torn_down_by_the_hold_timer(bird: None, topology: Topology) -> None:
    # pybgp proposes 3 s, BIRD 240 s: the session runs with 3 s (the smaller).
    speaker, bird_n2 = _ebgp_pair(topology, hold_time=3)
    detail = bird_n2.birdc("show protocols all pybgp")
    assert re.search(r"Hold timer:\s+[\d.]+/3$", detail, re.MULTILINE), detail
    bird_n2.freeze()
    frozen_at = time.monotonic()
    try:
        down = wait_until(
            lambda: speaker.peer("10.99.0.2"),
            timeout=7,
            describe="pybgp to drop the frozen BIRD",
            predicate=lambda e: e["state"] != "Established",
        )
        elapsed = time.monotonic() - frozen_at
        # No keepalive for the 3 s hold time (BIRD's last one came up to 1 s earlier).
        assert 1.5 <= elapsed <= 6.5, elapsed
        assert "hold timer expired" in down["info"].lower(), down
        assert [r["prefix"] for r in speaker.routes()] == [PYBGP_V4]  # BIRD's route gone
    finally:
        bird_n2.thaw()
    # BIRD wakes up, reads our NOTIFICATION 4/0 and both sides come back.
    wait_until(
        lambda: "Received: Hold timer expired" in bird_n2.logs(),
        timeout=10,
        describe="BIRD to log our hold timer NOTIFICATION",
    )
    speaker.wait_state("10.99.0.2", timeout=20)
    bird_n2.wait_established("pybgp", timeout=20)
    assert speaker.wait_route(BIRD_V4)["as_path"] == [64513]


def test_restarted_bird_comes_back_with_its_routes(bird: None, topology: Topology) -> None:
    speaker, bird_n2 = _ebgp_pair(topology)
    old_pid = bird_n2.pid
    bird_n2.stop()
    # BIRD's clean shutdown sends a Cease: pybgp drops the session and BIRD's route.
    wait_until(
        lambda: speaker.peer("10.99.0.2"),
        timeout=10,
        describe="pybgp to notice BIRD stopping",
        predicate=lambda e: e["state"] != "Established",
    )
    # (The log, not the status: `info` moves on with the reconnect attempts.)
    assert "peer sent NOTIFICATION: Cease: administrative shutdown" in speaker.logs()
    wait_until(
        lambda: [r["prefix"] for r in speaker.routes()],
        timeout=5,
        describe="BIRD's route withdrawn from pybgp",
        predicate=lambda prefixes: prefixes == [PYBGP_V4],
    )
    bird_n2.start()
    assert bird_n2.pid != old_pid
    speaker.wait_state("10.99.0.2", timeout=20)
    bird_n2.wait_established("pybgp", timeout=20)
    learned = speaker.wait_route(BIRD_V4)
    assert learned["next_hop"] == "10.99.0.2" and learned["as_path"] == [64513]
    assert bird_n2.wait_route(PYBGP_V4, protocol="pybgp")["as_path"] == [64512]


def test_stopping_pybgp_sends_bird_a_cease_and_a_restart_restores_the_route(
    bird: None, topology: Topology
) -> None:
    speaker, bird_n2 = _ebgp_pair(topology)
    assert speaker.stop() == 0
    wait_until(
        lambda: bird_n2.protocols()["pybgp"],
        timeout=10,
        describe="BIRD to leave Established",
        predicate=lambda state: state != "Established",
    )
    # A NOTIFICATION Cease (6/x) reached BIRD, not just a closed socket.
    # Cease 6/2 Administrative Shutdown, with a shutdown communication (RFC 8203).
    assert "pybgp: Received: Administrative shutdown" in bird_n2.logs(), bird_n2.logs()[-3000:]
    wait_until(
        lambda: [r for r in bird_n2.routes() if r["protocol"] == "pybgp"],
        timeout=5,
        describe="pybgp's route withdrawn from BIRD",
        predicate=lambda routes: routes == [],
    )
    speaker.start()
    speaker.wait_state("10.99.0.2", timeout=20)
    bird_n2.wait_established("pybgp", timeout=20)
    assert bird_n2.wait_route(PYBGP_V4, protocol="pybgp")["next_hop"] == ["10.99.0.1"]
    assert speaker.wait_route(BIRD_V4)["as_path"] == [64513]


@pytest.mark.parametrize("bird_extras", [False, True], ids=["plain", "bird-offers-more"])
def test_a_thousand_prefixes_each_way(bird: None, topology: Topology, bird_extras: bool) -> None:
    """1000 blocks each way. With ``bird-offers-more`` BIRD also offers extended messages
    (RFC 8654, which pybgp supports: UPDATEs up to 65535 octets) and ADD-PATH (RFC 7911,
    which pybgp does not offer, so it must stay off)."""
    n1, n2 = lan(topology, 2)
    ours = [f"10.{100 + i // 256}.{i % 256}.0/26" for i in range(1000)]
    theirs = [f"10.{150 + i // 256}.{i % 256}.64/26" for i in range(1000)]
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1")],
        originate=ours,
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [
                BirdPeer(
                    "pybgp",
                    "10.99.0.1",
                    64512,
                    add_paths="on" if bird_extras else None,
                    extra="enable extended messages on;" if bird_extras else "",
                )
            ],
            originate=theirs,
        ),
    )
    speaker.wait_state("10.99.0.2")
    bird_n2.wait_established("pybgp")
    detail = bird_n2.birdc("show protocols all pybgp")
    local_caps, peer_caps = detail.split("Local capabilities")[1].split("Neighbor capabilities")
    peer_caps = peer_caps.split("Session:")[0]
    assert "Extended message" in peer_caps  # pybgp always offers it
    assert "ADD-PATH" not in peer_caps
    assert ("ADD-PATH" in local_caps) == bird_extras
    entry = wait_until(
        lambda: speaker.peer("10.99.0.2"),
        timeout=20,
        describe="pybgp: 1000 received and accepted, 1000 advertised",
        predicate=lambda e: (e["received"], e["accepted"], e["advertised"]) == (1000, 1000, 1000),
    )
    assert entry["state"] == "Established"
    assert speaker.status()["rib"]["ipv4"] == 2000
    wait_until(
        lambda: bird_n2.birdc("show route protocol pybgp count"),
        timeout=20,
        describe="BIRD: 1000 routes from pybgp",
        predicate=lambda text: "1000 of 2000 routes for 2000 networks" in text,
    )
    # Spot checks at both ends.
    assert bird_n2.wait_route(ours[-1], protocol="pybgp")["as_path"] == [64512]
    learned = {r["prefix"]: r for r in speaker.routes() if r["peer"] == "10.99.0.2"}
    assert sorted(learned) == sorted(theirs)
    assert {r["next_hop"] for r in learned.values()} == {"10.99.0.2"}


def test_max_prefixes_exceeded_closes_the_session_with_a_cease(
    bird: None, topology: Topology
) -> None:
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1", max_prefixes=2)],
        originate=[PYBGP_V4],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512)],
            originate=["10.244.2.0/26", "10.244.3.0/26", "10.244.4.0/26"],
        ),
    )
    # Cease 6/1 (RFC 4486) reaches BIRD, which logs it.
    wait_until(
        lambda: bird_n2.logs(),
        timeout=15,
        describe="BIRD to receive the Cease for too many prefixes",
        predicate=lambda text: "pybgp: Received: Maximum number of prefixes reached" in text,
    )
    wait_until(
        lambda: speaker.peer("10.99.0.2"),
        timeout=5,
        describe="pybgp's info to name the prefix limit",
        predicate=lambda e: "maximum number of prefixes (2) exceeded" in e["info"],
    )
    # None of BIRD's routes stays in pybgp's RIB once the session is gone.
    wait_until(
        lambda: [r["prefix"] for r in speaker.routes()],
        timeout=5,
        describe="BIRD's routes flushed",
        predicate=lambda prefixes: prefixes == [PYBGP_V4],
    )


def _bird_stat(bird_n2: BirdDaemon, row: str) -> list[int]:
    """The counters of one ``Route change stats`` row of ``show protocols all pybgp``."""
    for line in bird_n2.birdc("show protocols all pybgp").splitlines():
        if line.strip().startswith(row + ":"):
            return [int(word) for word in line.split(":", 1)[1].split() if word.isdigit()]
    raise AssertionError(f"no {row!r} row in BIRD's protocol details")


def test_bird_hold_time_governs_and_frozen_pybgp_is_torn_down(
    bird: None, topology: Topology
) -> None:
    # pybgp proposes 90 s, BIRD 3 s: pybgp must send keepalives every second or so.
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1")],
        originate=[PYBGP_V4],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, hold_time=3)],
            originate=[BIRD_V4],
        ),
    )
    since = speaker.wait_state("10.99.0.2")["since"]
    bird_n2.wait_established("pybgp")
    # A bounded negative check: two hold times without the session dropping.
    with pytest.raises(AssertionError, match="timed out"):
        wait_until(
            lambda: (
                speaker.peer("10.99.0.2")["state"] != "Established"
                or bird_n2.protocols()["pybgp"] != "Established"
            ),
            timeout=6.5,
            interval=0.25,
            describe="the session to drop",
        )
    assert speaker.peer("10.99.0.2")["since"] == since
    assert "Hold timer expired" not in bird_n2.logs()

    speaker.process.process.freeze()
    try:
        wait_until(
            lambda: bird_n2.protocols()["pybgp"],
            timeout=8,
            describe="BIRD to drop the frozen pybgp",
            predicate=lambda state: state != "Established",
        )
        assert re.search(r"pybgp: Error: Hold timer expired", bird_n2.logs()), bird_n2.logs()[
            -2000:
        ]
    finally:
        speaker.process.process.thaw()
    # pybgp wakes up to BIRD's NOTIFICATION (or a closed socket) and reconnects.
    bird_n2.wait_established("pybgp", timeout=20)
    speaker.wait_state("10.99.0.2", timeout=20)
    assert speaker.wait_route(BIRD_V4)["as_path"] == [64513]


def test_route_refresh_from_bird_makes_pybgp_resend(bird: None, topology: Topology) -> None:
    speaker, bird_n2 = _ebgp_pair(topology)
    assert (
        "Route refresh"
        in bird_n2.birdc("show protocols all pybgp").split("Neighbor capabilities")[1]
    )
    wait_until(
        lambda: _bird_stat(bird_n2, "Import updates"),
        timeout=5,
        describe="BIRD's first import",
        predicate=lambda counters: counters[0] == 1,
    )
    bird_n2.birdc("reload in pybgp")  # BIRD sends ROUTE-REFRESH; pybgp must resend its routes
    counters = wait_until(
        lambda: _bird_stat(bird_n2, "Import updates"),
        timeout=10,
        describe="pybgp's route sent again",
        predicate=lambda counters: counters[0] >= 2,
    )
    assert counters[0] == 2, counters
    assert bird_n2.wait_route(PYBGP_V4, protocol="pybgp")["as_path"] == [64512]
    assert speaker.peer("10.99.0.2")["state"] == "Established"


# pybgp once sent ::ffff:10.99.0.1 here and BIRD refused the route: "Invalid NEXT_HOP
# attribute - mismatched address family (10.99.0.1 for ipv6)". The next hop is now the
# configured local_address6, or a global IPv6 address of the session's interface.
@pytest.mark.parametrize(
    "local_address6",
    [
        pytest.param("fd00:99::1", id="configured"),
        pytest.param(None, id="derived"),
    ],
)
def test_ipv6_routes_over_an_ipv4_session(
    bird: None, topology: Topology, local_address6: str | None
) -> None:
    """MP-BGP (RFC 4760): both families on one IPv4 session. pybgp's IPv6 next hop is
    ``local_address6``, or when absent the global IPv6 address of the interface holding the
    session's IPv4 address (docs/configuration.md)."""
    extra = {"local_address6": local_address6} if local_address6 else {}
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer(
                "10.99.0.2",
                64513,
                local_address="10.99.0.1",
                families=["ipv4", "ipv6"],
                **extra,
            )
        ],
        originate=[PYBGP_V4, PYBGP_V6],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, ipv4=True, ipv6=True)],
            originate=[BIRD_V4, BIRD_V6],
        ),
    )
    speaker.wait_state("10.99.0.2")
    bird_n2.wait_established("pybgp")
    route6 = bird_n2.wait_route(PYBGP_V6, protocol="pybgp", timeout=5)
    assert route6["next_hop"][0] == "fd00:99::1", route6
    assert route6["as_path"] == [64512]
    assert route6["via"] == ["fd00:99::1"]
    assert bird_n2.wait_route(PYBGP_V4, protocol="pybgp")["next_hop"] == ["10.99.0.1"]

    learned6 = speaker.wait_route(BIRD_V6)
    assert learned6["next_hop"] == "fd00:99::2", learned6
    assert learned6["as_path"] == [64513]
    assert speaker.wait_route(BIRD_V4)["next_hop"] == "10.99.0.2"


@pytest.mark.parametrize("passive_side", ["pybgp", "bird"])
def test_one_side_passive(bird: None, topology: Topology, passive_side: str) -> None:
    """Only the active side connects; the session comes up either way."""
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer(
                "10.99.0.2",
                64513,
                local_address="10.99.0.1",
                passive=passive_side == "pybgp",
            )
        ],
        originate=[PYBGP_V4],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "10.99.0.1", 64512, passive=passive_side == "bird")],
            originate=[BIRD_V4],
        ),
    )
    speaker.wait_state("10.99.0.2")
    bird_n2.wait_established("pybgp")
    # Who connected: the passive side's socket is the one listening on port 179.
    if passive_side == "pybgp":
        passive_node, here, there = n1, "10.99.0.1", "10.99.0.2"
    else:
        passive_node, here, there = n2, "10.99.0.2", "10.99.0.1"
    sockets = passive_node.run("ss -tnH state established").stdout
    assert re.search(rf"{re.escape(here)}:179\s+{re.escape(there)}:\d+", sockets), sockets
    assert speaker.wait_route(BIRD_V4)["as_path"] == [64513]
    assert bird_n2.wait_route(PYBGP_V4, protocol="pybgp")["as_path"] == [64512]


@pytest.mark.parametrize("passive", [False, True], ids=["pybgp-connects", "bird-connects"])
def test_md5_over_an_ipv6_session(bird: None, topology: Topology, passive: bool) -> None:
    """TCP MD5 keys for IPv6 peers (sockaddr_in6 in TCP_MD5SIG), on the connecting socket
    and on the listener."""
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [
            peer(
                "fd00:99::2",
                64513,
                local_address="fd00:99::1",
                password="v6 secret",
                passive=passive,
            )
        ],
        originate=[PYBGP_V6],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [BirdPeer("pybgp", "fd00:99::1", 64512, ipv4=False, ipv6=True, password="v6 secret")],
            originate=[BIRD_V6],
        ),
    )
    speaker.wait_state("fd00:99::2")
    bird_n2.wait_established("pybgp")
    assert "md5keys:fd00:99::2/128" in n1.run("ss -tnie state established").stdout
    assert speaker.wait_route(BIRD_V6)["as_path"] == [64513]
    assert bird_n2.wait_route(PYBGP_V6, protocol="pybgp")["as_path"] == [64512]


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_ttl_security_with_bird(bird: None, topology: Topology, family: str) -> None:
    """GTSM (RFC 5082) on both sides: packets leave with TTL 255 and anything below 255 is
    dropped (IP_MINTTL / IPV6_MINHOPCOUNT)."""
    n1, n2 = lan(topology, 2)
    ours, theirs = ("10.99.0.1", "10.99.0.2") if family == "ipv4" else ("fd00:99::1", "fd00:99::2")
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer(theirs, 64513, local_address=ours, ttl_security=True)],
        originate=[PYBGP_V4 if family == "ipv4" else PYBGP_V6],
    )
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64513,
            [
                BirdPeer(
                    "pybgp",
                    ours,
                    64512,
                    ipv4=family == "ipv4",
                    ipv6=family == "ipv6",
                    extra="ttl security on;",
                )
            ],
        ),
    )
    speaker.wait_state(theirs)
    bird_n2.wait_established("pybgp")
    prefix = PYBGP_V4 if family == "ipv4" else PYBGP_V6
    assert bird_n2.wait_route(prefix, protocol="pybgp")["as_path"] == [64512]


def test_ttl_security_refuses_a_peer_sending_ttl_1(bird: None, topology: Topology) -> None:
    """pybgp wants TTL 255; BIRD (eBGP, no GTSM) sends TTL 1: no session comes up."""
    n1, n2 = lan(topology, 2)
    speaker = Speaker(
        n1,
        "10.99.0.1",
        64512,
        [peer("10.99.0.2", 64513, local_address="10.99.0.1", ttl_security=True)],
    )
    bird_n2 = BirdDaemon(
        n2, bird_config("10.99.0.2", 64513, [BirdPeer("pybgp", "10.99.0.1", 64512)])
    )
    # A bounded negative check over several connect retries of both sides.
    with pytest.raises(AssertionError, match="timed out"):
        wait_until(
            lambda: (
                speaker.peer("10.99.0.2")["state"] == "Established"
                or bird_n2.protocols()["pybgp"] == "Established"
            ),
            timeout=4,
            interval=0.2,
            describe="a session",
        )
    assert speaker.peer("10.99.0.2")["received"] == 0


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_next_hop_is_the_session_address_without_local_address(
    bird: None, topology: Topology, family: str
) -> None:
    """No ``local_address`` and a router id that is on no interface: the NEXT_HOP pybgp sends
    is the session's own source address, never the router id."""
    n1, n2 = lan(topology, 2)
    ours, theirs = ("10.99.0.1", "10.99.0.2") if family == "ipv4" else ("fd00:99::1", "fd00:99::2")
    prefix = PYBGP_V4 if family == "ipv4" else PYBGP_V6
    speaker = Speaker(n1, "192.0.2.1", 64512, [peer(theirs, 64512)], originate=[prefix])
    bird_n2 = BirdDaemon(
        n2,
        bird_config(
            "10.99.0.2",
            64512,
            [BirdPeer("pybgp", ours, 64512, ipv4=family == "ipv4", ipv6=family == "ipv6")],
        ),
    )
    speaker.wait_state(theirs)
    bird_n2.wait_established("pybgp")
    route = bird_n2.wait_route(prefix, protocol="pybgp")
    assert route["next_hop"][0] == ours, route
    assert route["via"] == [ours]
    assert route["local_pref"] == 100 and route["as_path"] == []


@pytest.mark.parametrize("passive", [False, True], ids=["both-connect", "pybgp-listens"])
def test_reload_with_the_right_md5_password_brings_the_session_up(
    bird: None, topology: Topology, passive: bool
) -> None:
    """A wrong password fixed by SIGHUP: the new key reaches the sockets (connecting and,
    with a passive pybgp, the listener) without restarting pybgp."""
    n1, speaker, bird_n2 = _md5_pair(topology, "wrong one", "s3cret pass", passive=passive)

    def md5_failures() -> int:
        found = re.search(r"TcpExtTCPMD5Failure\s+(\d+)", n1.run("nstat -asz").stdout)
        return int(found.group(1)) if found else 0

    wait_until(md5_failures, timeout=10, describe="BIRD's segments refused for a bad key")
    assert speaker.peer("10.99.0.2")["state"] != "Established"
    pid = speaker.process.pid
    config = dict(speaker.config)
    config["peers"] = [dict(config["peers"][0], password="s3cret pass")]
    speaker.reload(config)
    speaker.wait_state("10.99.0.2", timeout=20)
    bird_n2.wait_established("pybgp", timeout=20)
    assert speaker.process.pid == pid and speaker.process.process.running
    assert speaker.wait_route(BIRD_V4)["as_path"] == [64513]
