"""A reload that changes ``[originate]``: the difference by key sets (linear), the summary
bounded, the speaker asked once per batch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network, ip_network

import attrs

from pybgp.config import OriginateConfig, Prefixes, SpeakerConfig, SpeakerSection
from pybgp.speaker.reload import apply_config


class Recorder:
    """The part of a speaker a reload of [originate] uses, recording the calls."""

    def __init__(self, config: SpeakerConfig) -> None:
        self.config = config
        self.calls: list[tuple[str, Prefixes]] = []

    def originate_many(self, prefixes: Iterable[str | IPv4Network | IPv6Network],
                       communities: object = (), large_communities: object = ()) -> None:
        assert isinstance(prefixes, Prefixes)
        self.calls.append(("originate", prefixes))

    def withdraw_many(self, prefixes: Iterable[str | IPv4Network | IPv6Network]) -> None:
        assert isinstance(prefixes, Prefixes)
        self.calls.append(("withdraw", prefixes))


def config(texts: list[str], communities: tuple[int, ...] = ()) -> SpeakerConfig:
    section = SpeakerSection(asn=65001, router_id="10.0.0.1")
    return SpeakerConfig(
        speaker=section,
        originate=OriginateConfig(
            prefixes=tuple(ip_network(t) for t in texts), communities=communities
        ),
    )


def test_reload_diffs_originated_prefixes_by_key() -> None:
    old = [f"10.{i >> 8}.{i & 255}.0/24" for i in range(20_000)]
    new = [*old[100:], "fd00::/64", "10.200.0.0/16"]
    speaker = Recorder(config(old))
    summary = asyncio.run(apply_config(speaker, config(new)))  # type: ignore[arg-type]
    withdrawn = [c for kind, c in speaker.calls if kind == "withdraw"]
    originated = [c for kind, c in speaker.calls if kind == "originate"]
    assert len(withdrawn) == 1 and set(withdrawn[0]) == {ip_network(t) for t in old[:100]}
    # same communities: only the new prefixes are originated again
    assert len(originated) == 1 and originated[0] == Prefixes(
        [ip_network("10.200.0.0/16"), ip_network("fd00::/64")]
    )
    assert "+10.200.0.0/16" in summary and "+fd00::/64" in summary
    assert "-10.0.0.0/24" in summary and summary.endswith(" and 92 more)")  # 102, 2 + 8 shown


def test_reload_with_the_same_prefixes_reordered_is_no_change_of_prefixes() -> None:
    texts = ["10.0.0.0/24", "10.0.1.0/24"]
    speaker = Recorder(config(texts))
    changed = attrs.evolve(config(texts[::-1]))
    summary = asyncio.run(apply_config(speaker, changed))  # type: ignore[arg-type]
    assert summary == "originated prefixes updated"
    assert [(kind, len(p)) for kind, p in speaker.calls] == [("withdraw", 0), ("originate", 0)]


def test_reload_with_new_communities_originates_every_prefix_again() -> None:
    texts = [f"10.0.{i}.0/24" for i in range(200)]
    speaker = Recorder(config(texts))
    summary = asyncio.run(apply_config(speaker, config(texts[1:], (65001 * 65536 + 1,))))  # type: ignore[arg-type]
    assert summary == "originated prefixes updated (-10.0.0.0/24)"
    assert [(kind, len(p)) for kind, p in speaker.calls] == [
        ("withdraw", 1), ("originate", 199)
    ]
