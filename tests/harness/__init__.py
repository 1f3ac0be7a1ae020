"""Test harness: network-namespace topologies with BIRD 2, ExaBGP and pybgp processes.

Typical use (through the ``topology`` fixture of tests/netns/conftest.py)::

    a, b = topology.add_node("a"), topology.add_node("b")
    topology.add_bridge("lan")
    topology.connect(a, "lan", "10.99.0.1/24")
    topology.connect(b, "lan", "10.99.0.2/24")
    bird_a = BirdDaemon(a, bird_config("10.99.0.1", 64512,
                                       [BirdPeer("b", "10.99.0.2", 64512)],
                                       originate=["10.244.1.0/26"], kernel_export=True))
    ...
    bird_a.wait_established("b")
"""

from .bird import (
    BirdDaemon,
    BirdPeer,
    ProtocolRow,
    bird_available,
    bird_config,
    parse_show_protocols,
    parse_show_route_all,
)
from .exabgp import ExaBgpPeer, ExaRoute, exabgp_available, exabgp_config
from .netns import CommandError, Node, Topology, list_namespaces, netns_supported
from .pybgp_proc import ManagedProcess, PybgpProcess, pid_alive, to_toml
from .wait import AbortWait, wait_until

__all__ = [
    "AbortWait",
    "BirdDaemon",
    "BirdPeer",
    "CommandError",
    "ExaBgpPeer",
    "ExaRoute",
    "ManagedProcess",
    "Node",
    "ProtocolRow",
    "PybgpProcess",
    "Topology",
    "bird_available",
    "bird_config",
    "exabgp_available",
    "exabgp_config",
    "list_namespaces",
    "netns_supported",
    "parse_show_protocols",
    "parse_show_route_all",
    "pid_alive",
    "to_toml",
    "wait_until",
]
