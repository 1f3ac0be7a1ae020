"""``pybgp demo`` (in-process): the Calico-style cluster converges and the story is told."""

from __future__ import annotations

import io

from pybgp.demo import cluster, run_cluster


async def test_demo_cluster_converges_with_the_reflector() -> None:
    out = io.StringIO()
    assert await run_cluster(timeout=30.0, out=out)
    text = out.getvalue()
    nodes = cluster()
    assert "sessions established 12/12, routes installed 30/30" in text
    # Every node lists every other node's block via that node, through the tunnel device;
    # node-5 and node-6 only peer with the reflector, so theirs came reflected.
    for node in nodes:
        if node.reflector:
            continue
        for other in nodes:
            if other.block and other is not node:
                assert f"{other.block} via {other.address} dev tunl0 onlink proto 186" in text
        assert f"blackhole {node.block} proto 186" in text
    assert "UNEXPECTED" not in text
    assert "converged in" in text
