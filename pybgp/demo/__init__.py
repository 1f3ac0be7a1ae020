"""``pybgp demo``: a small Calico-style cluster on loopback (:mod:`.loopback`) or in network
namespaces with real kernels (:mod:`.netns_demo`), and the namespace lab both that demo and the
test harness build on (:mod:`.lab`)."""

from pybgp.demo.loopback import DemoNode, cluster, node_config, run_cluster, run_demo

__all__ = ["DemoNode", "cluster", "node_config", "run_cluster", "run_demo"]
