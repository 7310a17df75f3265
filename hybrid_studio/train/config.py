"""Training settings (what a project's ``training`` section stores) and the devices one can train on."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, fields

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULERS = ("none", "step", "cosine", "onecycle")
AMP_MODES = ("none", "bf16", "fp16")
#: the largest value of each count setting: far past any real run, small enough for torch, numpy and the
#: checkpoint reader (which takes epochs and steps up to 10**9)
MAX_SETTINGS = {"epochs": 1_000_000, "batch_size": 1 << 24, "step_size": 1_000_000_000,
                "early_stopping": 1_000_000_000, "num_threads": 1024, "seed": (1 << 63) - 1}
_DEVICE = re.compile(r"auto|cpu|cuda|cuda:\d+|mps")  # fullmatch: "$" would let "cpu\n" through


def is_device_name(name: str) -> bool:
    """Whether ``name`` is a device setting: auto, cpu, cuda, cuda:I or mps (whether it exists here is
    ``resolve_device``'s question)."""
    return bool(_DEVICE.fullmatch(str(name)))


class ConfigError(ValueError):
    """A training setting that is not allowed, named with the allowed values."""


@dataclass
class TrainConfig:
    """Everything that decides how a run trains.

    ``early_stopping`` is a patience in epochs (0 turns it off); ``grad_clip`` is a max gradient norm (0 is off);
    ``step_size``/``gamma`` drive the ``step`` scheduler; ``momentum`` is SGD's; ``num_threads`` 0 keeps torch's
    default; ``dataset`` remembers the last dataset used (a built-in name or a path); ``init_weights`` names
    weights to start from ("" starts from a fresh initialisation).
    """

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    scheduler: str = "none"
    step_size: int = 10
    gamma: float = 0.1
    epochs: int = 10
    batch_size: int = 32
    val_split: float = 0.2
    seed: int = 0
    grad_clip: float = 0.0
    early_stopping: int = 0
    amp: str = "none"
    compile: bool = False
    device: str = "auto"
    num_threads: int = 0
    dataset: str = ""
    #: a state_dict (e.g. an import's PROJECT.weights.pt) the model starts from; relative to the project's folder
    init_weights: str = ""
    #: stop a run whose loss grows to this many times the lowest it reached (diverged); 0 turns the check off
    divergence: float = 1000.0

    def validate(self) -> "TrainConfig":
        """Raise ConfigError for a value that is not allowed; return self."""
        def bad(name, why):
            raise ConfigError(f"training setting '{name}' {why} (got {getattr(self, name)!r})")

        if self.optimizer not in OPTIMIZERS:
            bad("optimizer", f"must be one of {', '.join(OPTIMIZERS)}")
        if self.scheduler not in SCHEDULERS:
            bad("scheduler", f"must be one of {', '.join(SCHEDULERS)}")
        if self.amp not in AMP_MODES:
            bad("amp", f"must be one of {', '.join(AMP_MODES)}")
        if not is_device_name(self.device):
            bad("device", "must be auto, cpu, cuda, cuda:I or mps")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            bad("lr", "must be a positive number")
        for name in ("weight_decay", "momentum", "grad_clip"):
            v = getattr(self, name)
            if not (v >= 0 and math.isfinite(v)):
                bad(name, "must be zero or a positive number")
        if not (0 < self.gamma <= 1):
            bad("gamma", "must be in (0, 1]")
        for name in ("epochs", "batch_size", "step_size"):
            if getattr(self, name) < 1:
                bad(name, "must be at least 1")
        if self.early_stopping < 0 or self.num_threads < 0:
            bad("early_stopping" if self.early_stopping < 0 else "num_threads", "must not be negative")
        # upper bounds: a crafted config.json or training section must not reach torch with a count it cannot take
        # (num_threads 10**9 aborted the process inside libgomp, a seed of 10**30 failed in torch.manual_seed)
        for name, most in MAX_SETTINGS.items():
            if getattr(self, name) > most:
                bad(name, f"must be at most {most:,}")
        if self.seed < 0:
            bad("seed", "must not be negative")
        if not (0 <= self.val_split < 1):
            bad("val_split", "must be in [0, 1)")
        if not (self.divergence == 0 or (self.divergence > 1 and math.isfinite(self.divergence))):
            bad("divergence", "must be 0 (off) or a factor above 1")
        return self

    def to_dict(self) -> dict:
        """Plain JSON data (the project's ``training`` section and the run's ``config.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> "TrainConfig":
        """A config from stored settings: unknown keys are ignored, missing ones take defaults, types are coerced.

        Raises ConfigError for a value of the wrong type or out of range.
        """
        data = dict(data or {})
        kwargs = {}
        for f in fields(cls):
            if f.name not in data or data[f.name] is None:
                continue
            v = data[f.name]
            default = f.default
            try:
                if isinstance(default, bool):
                    if not isinstance(v, bool):
                        raise TypeError
                elif isinstance(default, int):
                    if isinstance(v, bool) or (isinstance(v, float) and not v.is_integer()):
                        raise TypeError
                    v = int(v)
                elif isinstance(default, float):
                    if isinstance(v, bool):
                        raise TypeError
                    v = float(v)
                elif isinstance(default, str):
                    if not isinstance(v, str):
                        raise TypeError
            except (TypeError, ValueError):
                raise ConfigError(f"training setting '{f.name}' must be of type {type(default).__name__} "
                                  f"(got {v!r})") from None
            kwargs[f.name] = v
        return cls(**kwargs).validate()

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some settings changed (None values are ignored), validated."""
        data = self.to_dict()
        data.update({k: v for k, v in changes.items() if v is not None})
        return TrainConfig.from_dict(data)


def list_devices() -> list[tuple[str, str]]:
    """(id, label) of the devices torch can train on: always ("cpu", "CPU") first, then CUDA GPUs and MPS."""
    out = [("cpu", "CPU")]
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return out
    try:
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                gib = props.total_memory / 2 ** 30
                out.append((f"cuda:{i}", f"{props.name} ({gib:.0f} GiB)"))
    except Exception:  # noqa: BLE001 - a broken driver must not break the device list
        pass
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        out.append(("mps", "Apple GPU (MPS)"))
    return out


def resolve_device(name: str):
    """The torch.device for a device setting; ``auto`` picks CUDA, then MPS, then CPU.

    Raises ConfigError when the asked device is not there.
    """
    import torch

    name = (name or "auto").strip()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", 0)
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if not is_device_name(name):
        raise ConfigError(f"unknown device '{name}': use auto, cpu, cuda, cuda:I or mps")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device '{name}' was asked for but this machine has no CUDA GPU that torch can use "
                              f"(torch {torch.__version__}); use --device cpu")
        index = int(name.split(":")[1]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device '{name}' does not exist: this machine has {torch.cuda.device_count()} "
                              f"CUDA GPU(s) (cuda:0 .. cuda:{torch.cuda.device_count() - 1})")
        return torch.device("cuda", index)
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        raise ConfigError("device 'mps' was asked for but Apple's Metal backend is not available here")
    return torch.device("mps")
