"""Scale-out on one machine: `ml-ci train` re-runs itself under torch.distributed.run (torchrun).

The plan (`torchrun_args`) is pure; `relaunch` starts the processes. Inside a PyTorchJob pod the
operator's PET_* variables name the node's rank and the master, and torchrun is given them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence

from ml_ci.config.model import Distributed
from ml_ci.errors import ConfigError, OperationalError, Problem

WORKER_ENV = "ML_CI_TORCHRUN_WORKER"


def inside_worker(env: Mapping[str, str]) -> bool:
    """True in a process torchrun started (ours, or the user's own `torchrun -m ml_ci train`)."""
    return WORKER_ENV in env or "LOCAL_RANK" in env


def reports_result(env: Mapping[str, str]) -> bool:
    """Whether this process prints the result line and sets the step outputs. After `relaunch` the
    parent reports once for all its workers; under the user's own torchrun there is no parent, so
    the global rank 0 does. Any other process reporting would repeat the line once per worker."""
    if WORKER_ENV in env:
        return False
    return "LOCAL_RANK" not in env or env.get("RANK", "0") == "0"


def needs_launch(distributed: Distributed, env: Mapping[str, str]) -> bool:
    return (distributed.nproc_per_node > 1 or distributed.nodes > 1) and not inside_worker(env)


def torchrun_args(distributed: Distributed, env: Mapping[str, str], *, source: str = "ml.yaml") -> list[str]:
    nproc = str(distributed.nproc_per_node)
    if distributed.nodes == 1:
        return ["--standalone", "--nnodes", "1", "--nproc-per-node", nproc]
    master = env.get("PET_MASTER_ADDR") or env.get("MASTER_ADDR")
    if not master:
        raise ConfigError(
            [
                Problem(
                    source,
                    0,
                    0,
                    "train.distributed.nodes",
                    f"{distributed.nodes} nodes train on a cluster: write the Kubeflow PyTorchJob with "
                    "`ml-ci train --emit-k8s job/pytorchjob.yaml` and apply it, or set nodes: 1 to train here",
                )
            ]
        )
    return [
        "--nnodes",
        str(distributed.nodes),
        "--nproc-per-node",
        nproc,
        "--node-rank",
        env.get("PET_NODE_RANK") or env.get("RANK", "0"),
        "--master-addr",
        master,
        "--master-port",
        env.get("PET_MASTER_PORT") or env.get("MASTER_PORT", "23456"),
    ]


def command(distributed: Distributed, argv: Sequence[str], env: Mapping[str, str], *, source: str = "ml.yaml") -> list[str]:
    """The full command line: this Python, torch.distributed.run, then `-m ml_ci <argv>`."""
    return [sys.executable, "-m", "torch.distributed.run", *torchrun_args(distributed, env, source=source), "-m", "ml_ci", *argv]


def relaunch(cmd: Sequence[str], env: Mapping[str, str] | None = None) -> None:
    """Run the workers and wait; a failed worker fails the command (torchrun prints which one)."""
    child_env = {**(os.environ if env is None else env), WORKER_ENV: "1"}
    try:
        done = subprocess.run(list(cmd), env=child_env, check=False)
    except OSError as e:
        raise OperationalError(f"cannot start torch.distributed.run: {e}") from None
    if done.returncode != 0:
        raise OperationalError(f"distributed training failed (torchrun exit {done.returncode}); the worker's error is above")
