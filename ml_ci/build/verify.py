"""Start the built image and check it as TFX's InfraValidator does: it must become ready and answer
the golden examples as the exported model did. Nothing is pushed otherwise.

The serving client asks the server; the task's serving half compares the answers with the golden ones
and, for a model served as exported (not quantized), with evaluate's own predictions."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ml_ci import serving_client, tasks
from ml_ci.build import docker_ops
from ml_ci.config.model import Config
from ml_ci.errors import OperationalError
from ml_ci.net import free_port
from ml_ci.records.golden import GoldenRecord

if TYPE_CHECKING:
    from ml_ci.tasks.protocols.serving import ServingHalf

READY_TIMEOUT_S = 120.0


def check_server(
    base_url: str, golden: GoldenRecord, serving: ServingHalf, max_inputs: int, eval_record: Any = None
) -> tuple[list[str], int]:
    """Every golden mismatch (and evaluated-prediction mismatch) of a ready server; empty when it agrees."""
    examples = serving.golden_examples(golden, "golden.json")
    answers = serving_client.predict(base_url, serving.golden_inputs(examples), max_inputs, serving)
    problems = serving.mismatches(examples, answers, golden.allowed, caller="build")
    more, compared = serving.eval_mismatches(golden, answers, eval_record)
    return problems + more, compared


def verify(
    c: Any, image_id: str, config: Config, golden: GoldenRecord, eval_record: Any, log: Callable[[str], None]
) -> dict[str, Any]:
    """Run the image (host network, a free port on 127.0.0.1) and check it; raises when it fails."""
    port = free_port()
    container, device = start(c, image_id, {"ML_CI_SERVE_HOST": "127.0.0.1", "ML_CI_SERVE_PORT": str(port)}, config, log)
    base = f"http://127.0.0.1:{port}"
    exit_code = None
    try:

        def alive() -> bool:
            container.reload()
            return container.status in ("created", "running")

        try:
            seconds = serving_client.wait_ready(base, READY_TIMEOUT_S, alive=alive, interval=0.1)
        except serving_client.NotReady as e:
            why = "the server exited before it became ready" if e.stopped else f"not ready after {READY_TIMEOUT_S:.0f} s"
            raise OperationalError(f"the image did not become ready: {why}\n{docker_ops.logs(container)}") from None
        # An int8 model is compared with its own golden answers only: PyTorch's may differ within the parity bounds.
        problems, compared = check_server(
            base,
            golden,
            tasks.get(config.task).serving(),
            config.serve.max_texts,
            eval_record if config.package.quantize == "none" else None,
        )
        if problems:
            shown = "\n  ".join(problems[:10])
            raise OperationalError(
                f"the image answers {len(problems)} golden example(s) differently; nothing was pushed:\n  {shown}"
            )
    finally:
        exit_code = docker_ops.stop(container)
    if exit_code != 0:
        raise OperationalError(f"the image did not stop cleanly on SIGTERM (exit code {exit_code}); nothing was pushed")
    log(
        f"verified: ready in {seconds:.1f} s, {len(golden.examples)} golden examples match"
        + (f" ({compared} also against evaluate's predictions)" if compared else "")
        + ", clean exit on SIGTERM"
        + {None: "", "cuda": ", on the GPU", "cpu": ", on the CPU (the GPU path was not exercised)"}[device]
    )
    checks = {"ready_seconds": round(seconds, 3), "golden_examples": len(golden.examples), "compared_with_eval": compared}
    return checks if device is None else {**checks, "device": device}


def start(
    c: Any, image_id: str, environment: dict[str, str], config: Config, log: Callable[[str], None]
) -> tuple[Any, str | None]:
    """The container to check, and the device it runs on (None: a CPU image, nothing to say). A CUDA image runs with
    every GPU Docker has; where Docker has none (no NVIDIA container toolkit, no GPU) it runs on the CPU
    (ML_CI_SERVE_DEVICE=cpu), since the same ONNX file and golden prompts still check the model, the server and the
    image's onnxruntime; the log and image.json's verification.device say that the GPU path was not exercised."""
    if config.image.accelerator != "cuda":
        return docker_ops.run_detached(c, image_id, environment), None
    try:
        container = docker_ops.run_detached(c, image_id, environment, gpus=True)
    except docker_ops.NoGpu as e:
        log(
            f"no GPU for the image check: Docker could not start the container with one ({e}); checking the CUDA "
            "image on the CPU instead (ML_CI_SERVE_DEVICE=cpu): the GPU path (onnxruntime's CUDA provider) was NOT "
            "exercised; run the build where `docker run --gpus all` works to check it"
        )
        return docker_ops.run_detached(c, image_id, {**environment, "ML_CI_SERVE_DEVICE": "cpu"}), "cpu"
    log("checking the CUDA image on the GPU (docker run --gpus all)")
    return container, "cuda"
