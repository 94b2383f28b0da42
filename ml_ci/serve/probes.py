"""What /healthz and /readyz answer: pure functions of the server's state, tested without a socket.

Liveness asks one thing: would a restart help? It fails only when the process cannot serve any more:
the loop that accepts connections has not turned for LOOP_STALL_S (a wedged or dead accept loop; under
the heaviest flood it still turns every few milliseconds, accepting and refusing). It never depends on
load: a busy pod restarted drops every request in flight and sends its clients to the other, equally
busy pods.

Readiness asks: should the load balancer send this pod new requests? No while the model loads, while
draining after SIGTERM, and when liveness fails. Not "no when busy" either: connections beyond
max_connections already get a fast 503 with Retry-After, while a pod marked unready moves its whole
share onto the others, which then overflow and turn unready too, until the Service has no endpoint
left and every client is refused (a partial overload made total; the HPA scales on CPU meanwhile).
"""

from __future__ import annotations

from typing import Any

HEALTH_PATH, READY_PATH = "/healthz", "/readyz"
# Longest the accept loop may go without turning before liveness fails. It polls every 0.1 s and each
# turn is short (a 503 over the cap is one non-blocking send), so seconds of silence mean it is stuck.
LOOP_STALL_S = 10.0


def probe_answer(path: str, *, ready: bool, draining: bool, loop_silent_s: float | None) -> tuple[int, dict[str, Any]]:
    """The status and body of a probe. `loop_silent_s`: seconds since the accept loop last turned, None
    when it is not meant to run (before serve(), and after the drain period has stopped accepting)."""
    stalled = loop_silent_s is not None and loop_silent_s > LOOP_STALL_S
    if path == HEALTH_PATH:
        if stalled:
            return 503, {"status": "stalled", "message": f"the accept loop has not run for {loop_silent_s:.0f} s"}
        return 200, {"status": "ok"}
    if path == READY_PATH:
        if draining:
            return 503, {"status": "draining"}
        if stalled:
            return 503, {"status": "stalled"}
        return (200, {"status": "ready"}) if ready else (503, {"status": "loading"})
    raise ValueError(f"{path!r} is not a probe")
