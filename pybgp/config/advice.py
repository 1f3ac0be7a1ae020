"""Warnings about a valid config that probably does not do what its author wants
(``pybgp check`` prints them; the file is still valid). Pure: no I/O."""

from __future__ import annotations

from pybgp.config.values import SpeakerConfig
from pybgp.wire.nlri import prefix_to_str


def config_warnings(config: SpeakerConfig) -> list[str]:
    """One sentence per suspicious combination, naming the keys."""
    warnings: list[str] = []
    if config.originate.blackhole and config.kernel.adapter == "none":
        warnings.append(
            'originate.blackhole = true has no effect with kernel.adapter = "none" (no kernel '
            "route is installed; set kernel.adapter = \"netlink\")"
        )
    ipv6 = [prefix_to_str(key, 2) for key in config.originate.prefixes.keys(2)[:4]]
    carriers = [p for p in config.peers if "ipv6" in p.families] + [
        d for d in config.dynamic_peers if "ipv6" in d.families
    ]
    if ipv6 and not carriers:
        shown = ", ".join(ipv6[:3]) + (" ..." if len(ipv6) > 3 else "")
        warnings.append(
            f"originate.prefixes has IPv6 prefixes ({shown}) but no peer carries ipv6 "
            '(add "ipv6" to a peer\'s families): they reach no one'
        )
    return warnings
