"""What /healthz and /readyz answer (ml_ci/serve/probes.py): liveness fails only on a stalled accept loop,
readiness on loading, draining or a stall, and neither on load."""

from __future__ import annotations

import pytest

from ml_ci.serve.probes import HEALTH_PATH, LOOP_STALL_S, READY_PATH, probe_answer


def test_a_busy_server_is_alive_and_ready() -> None:
    """The state a flood leaves (every connection slot taken, the loop turning) is not a reason to restart or
    to take the pod out of the Service: the probe's answer has no input for load at all."""
    for silent in (None, 0.0, LOOP_STALL_S):
        assert probe_answer(HEALTH_PATH, ready=True, draining=False, loop_silent_s=silent) == (200, {"status": "ok"})
        assert probe_answer(READY_PATH, ready=True, draining=False, loop_silent_s=silent) == (200, {"status": "ready"})


def test_a_stalled_accept_loop_fails_liveness_and_readiness() -> None:
    status, body = probe_answer(HEALTH_PATH, ready=True, draining=False, loop_silent_s=LOOP_STALL_S + 1)
    assert status == 503 and body["status"] == "stalled" and "11 s" in body["message"]
    assert probe_answer(READY_PATH, ready=True, draining=False, loop_silent_s=LOOP_STALL_S + 1) == (503, {"status": "stalled"})


def test_loading_and_draining_are_unready_but_alive() -> None:
    assert probe_answer(READY_PATH, ready=False, draining=False, loop_silent_s=0.1) == (503, {"status": "loading"})
    assert probe_answer(READY_PATH, ready=True, draining=True, loop_silent_s=0.1) == (503, {"status": "draining"})
    # After the drain period the loop stops on purpose (None): liveness holds until the process exits.
    assert probe_answer(HEALTH_PATH, ready=True, draining=True, loop_silent_s=None) == (200, {"status": "ok"})


def test_other_paths_are_no_probe() -> None:
    with pytest.raises(ValueError, match="'/metrics' is not a probe"):
        probe_answer("/metrics", ready=True, draining=False, loop_silent_s=None)
