"""Cluster state from a datastore: Calico's v3 data model in etcd.

The pure part (no I/O; unit-tested with plain data): :mod:`.selector` (Calico label
selectors), :mod:`.model` (etcd keys and values -> frozen resources), :mod:`.mapping`
(resources -> pybgp config values for one node), :mod:`.diff` (what changed between two
derived configs). The shell: :mod:`.etcd` (an asyncio etcd v3 client behind the optional
``pybgp[etcd]`` extra) and :mod:`.agent` (snapshot, watch, reconnect, apply through the
speaker's hitless reload path). Importing this package does not import the etcd client.
"""

from pybgp.datastore.diff import DerivedDiff, derived_diff
from pybgp.datastore.mapping import (
    DatastoreProblem,
    DerivedConfig,
    PoolEncapsulation,
    derive,
    merge,
)
from pybgp.datastore.model import ClusterState, ResourceProblem
from pybgp.datastore.selector import Selector, SelectorError, parse_selector

__all__ = [
    "ClusterState",
    "DatastoreProblem",
    "DerivedConfig",
    "DerivedDiff",
    "PoolEncapsulation",
    "ResourceProblem",
    "Selector",
    "SelectorError",
    "derive",
    "derived_diff",
    "merge",
    "parse_selector",
]
