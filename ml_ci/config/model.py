"""The typed, immutable view of ml.yaml that the rest of ml-ci reads.

Field names mirror the schema's generic keys (a task's own keys are in its typed view, Config.spec);
defaults live in the schema alone and are applied before these objects are built, so nothing here
repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

# A metric name: the task's own (its config half's METRICS) or a generic one (ml_ci.config.by_task); the schema
# lists those of each task, so the typed model need not.
Metric = str
# Metrics where smaller is better: gates and tuning read them the other way round.
# Kept for the evaluate stage until it asks ml_ci.config.by_task.lower_is_better(config.task).
LOWER_IS_BETTER: frozenset[str] = frozenset({"ece", "latency_p50_ms", "latency_p95_ms", "size_mb"})


@dataclass(frozen=True, kw_only=True)
class HubSplits:
    train: str
    validation: str
    test: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class HubDataset:
    id: str
    splits: HubSplits
    config: Optional[str] = None
    revision: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class TextLength:
    min: int
    max: int


@dataclass(frozen=True, kw_only=True)
class Drift:
    method: Literal["psi", "chi2"]
    threshold: float


@dataclass(frozen=True, kw_only=True)
class DataChecks:
    min_rows: int
    max_null_fraction: float
    max_empty_fraction: float
    max_duplicate_fraction: float
    text_length: TextLength
    leakage: bool
    drift: Drift
    severity: dict[str, Literal["error", "warn"]]  # check name -> what its failure does; absent: error


@dataclass(frozen=True, kw_only=True)
class SplitFrom:
    """data.validation held out of another split (ml_ci.data.split)."""

    split_from: Literal["train"]
    fraction: float
    seed: int


@dataclass(frozen=True, kw_only=True)
class Data:
    slice_columns: tuple[str, ...]
    checks: DataChecks
    train: Optional[str] = None
    validation: Union[str, SplitFrom, None] = None
    test: Optional[str] = None
    reference: Optional[str] = None
    hub: Optional[HubDataset] = None
    format: Optional[Literal["csv", "tsv", "json", "parquet", "conll"]] = None
    delimiter: Optional[str] = None
    # The task's typed view of its own keys (the same object as Config.spec): the task's data half is given
    # this section and reads its keys (columns, ...) from it. Not part of ml.yaml.
    spec: object = None

    def split_paths(self) -> dict[str, str]:
        """Role -> path for the splits given as files (a validation split held out of train is none)."""
        validation = self.validation if isinstance(self.validation, str) else None
        return {k: v for k, v in (("train", self.train), ("validation", validation), ("test", self.test)) if v}


@dataclass(frozen=True, kw_only=True)
class ModelSpec:
    base: str
    max_length: int
    revision: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Distributed:
    nproc_per_node: int
    nodes: int


@dataclass(frozen=True, kw_only=True)
class Train:
    epochs: float
    batch_size: int
    learning_rate: float
    weight_decay: float
    warmup_ratio: float
    gradient_accumulation_steps: int
    eval_steps: int
    seed: int
    precision: Literal["auto", "fp32", "bf16", "fp16"]
    distributed: Distributed
    # The task's own tunable hyperparameters (its config half's TUNABLE: text-generation's adapter.rank), as
    # ml.yaml gives them or a run overrides them. Not a key of ml.yaml: load_config fills it in.
    task_params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class FloatParam:
    type: Literal["float"]
    low: float
    high: float
    log: bool
    step: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class IntParam:
    type: Literal["int"]
    low: int
    high: int
    log: bool
    step: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class CategoricalParam:
    type: Literal["categorical"]
    choices: tuple[Union[bool, int, float, str], ...]


Param = Union[FloatParam, IntParam, CategoricalParam]


@dataclass(frozen=True, kw_only=True)
class Budget:
    """What one tuning trial trains on (ml_ci.tune.budget)."""

    train_fraction: float
    epochs: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class Tune:
    enabled: bool
    trials: int
    timeout_minutes: float
    metric: Metric
    direction: Literal["maximize", "minimize"]
    sampler: Literal["tpe", "random", "grid"]
    pruner: Literal["median", "hyperband", "none"]
    workers: int
    storage_env: str
    search_space: dict[str, Param]
    budget: Budget


@dataclass(frozen=True, kw_only=True)
class Gate:
    metric: Metric
    min: Optional[float] = None
    max: Optional[float] = None
    against: Optional[Literal["production", "main"]] = None
    max_drop: Optional[float] = None
    significance: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class LengthRange:
    min: int
    max: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class Slice:
    name: str
    min_rows: int
    gates: tuple[Gate, ...]
    column: Optional[str] = None
    value: Optional[str] = None
    length: Optional[LengthRange] = None


@dataclass(frozen=True, kw_only=True)
class Evaluate:
    split: Literal["test", "validation"]
    metrics: tuple[Metric, ...]
    allow_missing_baseline: bool
    gates: tuple[Gate, ...]
    slices: tuple[Slice, ...]
    latency_samples: int


@dataclass(frozen=True, kw_only=True)
class Package:
    format: Literal["onnx"]
    quantize: Literal["none", "int8"]
    opset: int
    max_accuracy_drop: float
    min_agreement: float


@dataclass(frozen=True, kw_only=True)
class Image:
    registry: str
    base: str
    platforms: tuple[str, ...]
    repository: Optional[str] = None
    # None: cpu. Not defaulted in the schema, so that a config that does not set it resolves as it always did.
    accelerator: Optional[str] = None
    registry_username_env: Optional[str] = None
    registry_password_env: Optional[str] = None


# serve keys for a model that generates (its token limits): refused for a task whose server generates nothing.
GENERATION_LIMITS = ("max_tokens", "max_prompt_tokens", "max_sequences", "max_queued")


@dataclass(frozen=True, kw_only=True)
class Serve:
    port: int
    max_batch_size: int
    max_batch_delay_ms: float
    max_body_bytes: int
    max_texts: int
    max_text_chars: int
    threads: int
    drain_seconds: float
    # A model that generates (ml_ci.serve.limits.Limits has what each means); None: the Limits default. Not defaulted
    # in the schema, so that other configs resolve, and their Dockerfiles render, as they always did.
    max_tokens: Optional[int] = None
    max_prompt_tokens: Optional[int] = None
    max_sequences: Optional[int] = None
    max_queued: Optional[int] = None


@dataclass(frozen=True, kw_only=True)
class GitOps:
    repo: str
    path: str
    branch: str
    token_env: str
    create: bool = False  # a missing local repository is created only when ml.yaml says so
    allow_insecure_http: bool = False  # the token over plain http:// only when ml.yaml says so


@dataclass(frozen=True, kw_only=True)
class ResourceSet:
    cpu: Optional[str] = None
    memory: Optional[str] = None


@dataclass(frozen=True, kw_only=True)
class Resources:
    requests: Optional[ResourceSet] = None
    limits: Optional[ResourceSet] = None


@dataclass(frozen=True, kw_only=True)
class Autoscale:
    min_replicas: int
    max_replicas: int
    target_cpu_utilization: int


@dataclass(frozen=True, kw_only=True)
class SmokeTest:
    enabled: bool
    golden_examples: int
    timeout_seconds: int


@dataclass(frozen=True, kw_only=True)
class Environment:
    name: str
    kind: Literal["kubernetes", "local"]
    replicas: int
    resources: Resources
    approval: bool
    smoke_test: SmokeTest
    namespace: Optional[str] = None
    autoscale: Optional[Autoscale] = None
    url: Optional[str] = None
    port: Optional[int] = None

    @property
    def k8s_namespace(self) -> str:
        return self.namespace or f"ml-{self.name}"


@dataclass(frozen=True, kw_only=True)
class Deploy:
    strategy: Literal["gitops", "apply"]
    environments: tuple[Environment, ...]
    gitops: Optional[GitOps] = None

    def environment(self, name: str) -> Environment:
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)


@dataclass(frozen=True, kw_only=True)
class SupplyChain:
    """supply_chain: the image's SBOM and signed provenance (ml_ci.supply.attest)."""

    attest: bool  # build --push attaches the SBOM and the signed provenance to the pushed digest
    signing_key_env: str  # the variable (a secret) holding the private key's PEM; read only when attesting
    public_key: str  # a PEM file in the repository (relative to it): what verification trusts
    verify: bool  # deploy and promote refuse an image that fails verification


@dataclass(frozen=True, kw_only=True)
class Monitoring:
    enabled: bool
    p95_latency_ms: float
    error_rate: float
    no_traffic_minutes: int
    for_minutes: int
    # Alerts on the token metrics of a task that has them (ConfigHalf.TOKEN_METRICS); None: no such alert. Not
    # defaulted in the schema, so that other configs resolve as they always did.
    time_to_first_token_p95_ms: Optional[float] = None
    min_tokens_per_second: Optional[float] = None


@dataclass(frozen=True, kw_only=True)
class CI:
    runner: tuple[str, ...]
    python: str
    branches: tuple[str, ...]
    paths: tuple[str, ...]
    timeout_minutes: int
    gpu_runner: Optional[tuple[str, ...]] = None
    ml_ci_version: Optional[str] = None
    constraints: Optional[str] = None  # relative to ml.yaml's folder; `ml-ci lock` folds it into ml-ci.lock/
    torch_index: Optional[str] = None  # None: the setup action's default (PyTorch's CPU index); "": none
    # relative to ml.yaml's folder; `ml-ci lock` adds it to the locks of profiles that take it (Profile.takes_requirements)
    requirements: Optional[str] = None

    @property
    def train_runner(self) -> tuple[str, ...]:
        return self.gpu_runner or self.runner


@dataclass(frozen=True, kw_only=True)
class Config:
    version: int
    name: str
    task: str  # a name of the task registry (ml_ci.tasks); the schema refuses others
    data: Data
    model: ModelSpec
    train: Train
    tune: Tune
    evaluate: Evaluate
    package: Package
    image: Image
    serve: Serve
    monitoring: Monitoring
    ci: CI
    deploy: Optional[Deploy] = None
    supply_chain: Optional[SupplyChain] = None
    min_ml_ci_version: Optional[str] = None
    # Where the file was read from; not part of ml.yaml.
    path: Path = Path("ml.yaml")
    # The task's typed view of its own keys (its config half's spec(), built by load_config); opaque here:
    # the task's halves read it through their config half's accessor. Not part of ml.yaml.
    spec: object = None
    # The task's keys as ml.yaml gives them (defaults filled in), by section as in the file: what reads a
    # section whole, as the cache keys do, puts them back in their places (ml_ci.config.by_task.section).
    task_keys: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        """The model repository: the folder holding ml.yaml."""
        return self.path.parent
