"""BFD series in the Prometheus text: from the ``"bfd"`` objects of ``pybgp status --json``."""

from __future__ import annotations

from pybgp.metrics import render_metrics

STATUS = {
    "peers": [
        {"address": "10.0.0.2", "state": "Established",
         "bfd": {"state": "Up", "detection_time_ms": 900.0}},
        {"address": "10.0.0.3", "state": "Idle",
         "bfd": {"state": "Down", "detection_time_ms": 0}},
        {"address": "10.0.0.4", "state": "Established"},  # no BFD: no BFD series
    ]
}


def test_per_peer_state_and_detection_time() -> None:
    text = render_metrics(STATUS)
    assert 'pybgp_bfd_state{peer="10.0.0.2"} 3' in text
    assert 'pybgp_bfd_state{peer="10.0.0.3"} 1' in text
    assert 'peer="10.0.0.4"} ' not in "\n".join(
        line for line in text.splitlines() if line.startswith("pybgp_bfd")
    )
    assert 'pybgp_bfd_detection_time_seconds{peer="10.0.0.2"} 0.900' in text
    for state, count in (("AdminDown", 0), ("Down", 1), ("Init", 0), ("Up", 1)):
        assert f'pybgp_bfd_sessions{{state="{state}"}} {count}' in text
    assert "# TYPE pybgp_bfd_state gauge" in text


def test_aggregates_only_without_per_peer() -> None:
    text = render_metrics(STATUS, per_peer=False)
    assert 'pybgp_bfd_sessions{state="Up"} 1' in text
    assert "pybgp_bfd_state{" not in text


def test_no_bfd_no_series() -> None:
    assert "pybgp_bfd" not in render_metrics({"peers": [{"address": "10.0.0.2"}]})
