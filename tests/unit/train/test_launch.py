"""When and how `ml-ci train` re-runs itself under torchrun (the command line only; nothing starts)."""

from __future__ import annotations

import sys

import pytest

from ml_ci.config.model import Distributed
from ml_ci.errors import ConfigError
from ml_ci.train.launch import command, inside_worker, needs_launch, torchrun_args

ONE = Distributed(nproc_per_node=1, nodes=1)
TWO = Distributed(nproc_per_node=2, nodes=1)
CLUSTER = Distributed(nproc_per_node=4, nodes=3)


def test_launch_only_when_scaled_out_and_not_already_a_worker() -> None:
    assert not needs_launch(ONE, {})
    assert needs_launch(TWO, {})
    assert needs_launch(Distributed(nproc_per_node=1, nodes=2), {"PET_MASTER_ADDR": "m"})
    assert not needs_launch(TWO, {"ML_CI_TORCHRUN_WORKER": "1"})
    assert not needs_launch(TWO, {"LOCAL_RANK": "0"})  # the user's own `torchrun -m ml_ci train`
    assert inside_worker({"LOCAL_RANK": "1"}) and not inside_worker({"RANK": "0"})


def test_one_machine_is_a_standalone_rendezvous() -> None:
    assert command(TWO, ["train", "-c", "ml.yaml"], {}) == [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc-per-node",
        "2",
        "-m",
        "ml_ci",
        "train",
        "-c",
        "ml.yaml",
    ]


def test_in_a_pytorchjob_pod_the_operator_variables_name_rank_and_master() -> None:
    env = {"PET_MASTER_ADDR": "job-master-0", "PET_MASTER_PORT": "23456", "PET_NODE_RANK": "2"}
    assert torchrun_args(CLUSTER, env) == [
        "--nnodes",
        "3",
        "--nproc-per-node",
        "4",
        "--node-rank",
        "2",
        "--master-addr",
        "job-master-0",
        "--master-port",
        "23456",
    ]
    assert torchrun_args(CLUSTER, {"MASTER_ADDR": "m", "RANK": "1"})[4:] == [
        "--node-rank",
        "1",
        "--master-addr",
        "m",
        "--master-port",
        "23456",
    ]


def test_several_nodes_outside_a_cluster_say_how_to_get_one() -> None:
    with pytest.raises(ConfigError, match=r"ml-ci train --emit-k8s job/pytorchjob.yaml"):
        torchrun_args(CLUSTER, {})
