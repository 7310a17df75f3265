"""What a training run reports, as small picklable dataclasses.

The worker process puts these on a queue; the parent (the app's train panel, the command line) drains them. They
hold only plain Python values so that they pickle cheaply and never drag torch into the parent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Started:
    """The run passed its checks and is about to take its first step."""

    run_id: str
    run_dir: str
    device: str
    epochs: int
    steps_per_epoch: int
    #: Epochs already done before this start (a resumed run), else 0.
    start_epoch: int = 0
    #: Number of training and validation samples.
    train_samples: int = 0
    val_samples: int = 0
    #: The validation loss of the dataset's trivial baseline (e.g. copy-last-frame), which the model should beat.
    baseline_loss: float | None = None
    baseline: str = ""


@dataclass
class Step:
    """Training progress, sent at most a few times a second. ``loss`` is the mean over the steps since the last one."""

    epoch: int
    step: int
    loss: float
    lr: float
    samples_per_s: float
    #: 1-based index of the batch within its epoch.
    batch: int = 0


@dataclass
class EpochEnd:
    """An epoch finished: training means over the epoch and validation figures (None where not applicable)."""

    epoch: int
    step: int
    train_loss: float
    val_loss: float | None
    train_acc: float | None
    val_acc: float | None
    val_mae: float | None
    duration_s: float
    #: CPU seconds this process spent on the epoch's training (all its threads); ~duration_s on an idle machine.
    cpu_s: float | None = None
    #: the validation character error rate of a ctc output (edit distance / target length); None otherwise
    val_cer: float | None = None
    #: Where the epoch's time went (wall seconds): ``duration_s`` trained, ``val_s`` validated, ``checkpoint_s``
    #: held the loop for the checkpoint (a snapshot; the file is written in the background). None when not measured.
    val_s: float | None = None
    checkpoint_s: float | None = None
    #: Training samples per second over the whole epoch, validation and checkpoint included; and over the training
    #: loop alone (``duration_s``). Samples trained before a mid-epoch resume are not counted.
    samples_per_s: float | None = None
    train_samples_per_s: float | None = None
    #: CPU seconds of the process (all threads, the background checkpoint writer's included) over the whole epoch.
    epoch_cpu_s: float | None = None


@dataclass
class CheckpointSaved:
    path: str
    epoch: int
    best: bool


@dataclass
class Log:
    message: str


@dataclass
class Finished:
    """The run ended on its own (``finished``, also after early stopping) or on request (``stopped``)."""

    status: str
    summary: dict = field(default_factory=dict)


@dataclass
class Failed:
    """The run failed; ``message`` is for people, ``traceback`` for bug reports."""

    message: str
    traceback: str = ""


EVENT_TYPES = (Started, Step, EpochEnd, CheckpointSaved, Log, Finished, Failed)


def event_dict(event) -> dict:
    """The event as a plain dict with its type name under ``"event"``."""
    return {"event": type(event).__name__, **asdict(event)}
