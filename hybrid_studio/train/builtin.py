"""The built-in datasets: generated or bundled, nothing downloaded at run time.

Each builder takes a seed and returns a ``Raw`` (arrays plus what they mean). Generators are deterministic for a
seed, vectorised where it matters, and small enough to build in well under a second.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .imageio import resize


@dataclass
class Raw:
    x: list
    y: np.ndarray
    axes: list
    task: str = "classification"
    class_names: list = field(default_factory=list)
    input_names: list = field(default_factory=list)
    #: An explicit validation set (x list, y) that replaces the random split, e.g. a dataset's official test set.
    val: tuple | None = None
    #: The axes of a regression target shaped like a tensor (``CHW`` for a predicted frame); empty: a vector.
    target_axes: str = ""
    #: A trivial predictor the model must beat, by name (``copy-last-frame``); see ``datasets.baseline_loss``.
    baseline: str = ""
    #: Per input, the int (N,) lengths of its time axis T when it holds padded variable-length sequences, else
    #: None (an empty list: no input has lengths); ``val_lengths`` the same for an explicit validation set.
    lengths: list = field(default_factory=list)
    val_lengths: list = field(default_factory=list)


# ---- digits -----------------------------------------------------------------------------------------------------

def _digits():
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)


def digits(seed: int) -> Raw:
    """scikit-learn's 8x8 digits, upscaled to 20x20 and centred on a 28x28 canvas like MNIST."""
    images, y = _digits()
    big = resize(images, 20, 20)
    canvas = np.zeros((len(images), 1, 28, 28), np.float32)
    canvas[:, 0, 4:24, 4:24] = np.clip(big, 0, 1)
    return Raw([canvas], y, ["CHW"], class_names=[str(i) for i in range(10)], input_names=["image"])


def digit_strings(seed: int, n: int = 4000, height: int = 24, width: int = 160) -> Raw:
    """Text lines of 3-8 digits for CTC: each digit a random glyph of scikit-learn's digits (upscaled to 16x16),
    jittered up and down, with random gaps and noise, on a 1 x 24 x 160 line. Labels are digit + 1 (0 is the CTC
    blank), padded with 0 to 8."""
    images, y = _digits()
    glyphs = np.clip(np.kron(images, np.ones((2, 2), np.float32)), 0, 1)  # 16 x 16
    rng = np.random.default_rng([int(seed), 11])
    x = np.zeros((n, 1, height, width), np.float32)
    labels = np.zeros((n, 8), np.int64)
    for i in range(n):
        count = int(rng.integers(3, 9))
        col = int(rng.integers(0, 6))
        for j in range(count):
            k = int(rng.integers(0, len(glyphs)))
            top = int(rng.integers(0, height - 16 + 1))
            w = 16 if col + 16 <= width else width - col
            x[i, 0, top:top + 16, col:col + w] = np.maximum(x[i, 0, top:top + 16, col:col + w], glyphs[k][:, :w])
            labels[i, j] = int(y[k]) + 1
            col += 16 + int(rng.integers(-2, 4))  # glyphs touch or overlap a little, or leave a gap
    x += rng.normal(0, 0.08, x.shape).astype(np.float32)
    return Raw([np.clip(x, 0, 1)], labels, ["CHW"], task="ctc", class_names=[str(i) for i in range(10)],
               input_names=["image"])


# Tone pairs of the ten spoken-digit stand-ins, in rfft bins of a 32-sample frame (like telephone DTMF: one low and
# one high tone per digit; 4 x 3 pairs, ten used).
_WAVE_TONES = [(lo, hi) for hi in (9, 11, 13) for lo in (2, 3, 5, 6)][:10]


def digit_waves(seed: int, n: int = 3000, frames: int = 80, frame_len: int = 32) -> Raw:
    """Speech-like sequences for CTC: 3-6 "spoken" digits, each a burst of 5-8 frames of its two-tone waveform
    (frequencies jittered, amplitude random) between 1-3 frames of silence, in noise; the waveform is cut into
    32-sample frames and each frame becomes 16 log-magnitude spectrum features, like a tiny spectrogram (T=80, F=16).
    Labels are digit + 1 (0 is the CTC blank), padded with 0 to 6."""
    rng = np.random.default_rng([int(seed), 12])
    wave = np.zeros((n, frames * frame_len), np.float64)
    labels = np.zeros((n, 6), np.int64)
    t = np.arange(frames * frame_len, dtype=np.float64)
    for i in range(n):
        count = int(rng.integers(3, 7))
        frame = int(rng.integers(0, 4))
        for j in range(count):
            d = int(rng.integers(0, 10))
            length = int(rng.integers(5, 9)) * frame_len
            lo, hi = (b + rng.uniform(-0.3, 0.3) for b in _WAVE_TONES[d])
            start = frame * frame_len
            seg = t[start:start + length]
            envelope = np.minimum(1.0, np.minimum(seg - start + 1, start + length - seg) / 8.0)  # no clicks
            wave[i, start:start + length] = rng.uniform(0.5, 1.5) * envelope * (
                np.sin(2 * np.pi * lo * seg / frame_len + rng.uniform(0, 6.3))
                + 0.8 * np.sin(2 * np.pi * hi * seg / frame_len + rng.uniform(0, 6.3)))
            labels[i, j] = d + 1
            frame += length // frame_len + int(rng.integers(1, 4))
    wave += rng.normal(0, 0.3, wave.shape)
    spectrum = np.abs(np.fft.rfft(wave.reshape(n, frames, frame_len), axis=-1))[..., 1:17]
    x = np.log1p(spectrum).astype(np.float32)
    x = (x - x.mean()) / x.std()
    return Raw([x], labels, ["TF"], task="ctc", class_names=[str(i) for i in range(10)], input_names=["audio"])


def digits_seq(seed: int) -> Raw:
    """The same digits as sequences: 8 time steps (rows) x 8 features (columns)."""
    images, y = _digits()
    return Raw([images.copy()], y, ["TF"], class_names=[str(i) for i in range(10)], input_names=["series"])


# ---- moving shapes ------------------------------------------------------------------------------------------------

DIRECTIONS = ("up", "down", "left", "right")
_STEPS = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}


def _shape_mask(kind: int, s: int) -> np.ndarray:
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) - (s - 1) / 2
    r = (s - 1) / 2
    if kind == 0:    # square
        m = np.ones((s, s), bool)
    elif kind == 1:  # disc
        m = yy ** 2 + xx ** 2 <= r ** 2 + 0.5
    elif kind == 2:  # triangle
        m = (yy + r) >= 2 * np.abs(xx) - 0.5
    else:            # plus
        m = (np.abs(xx) <= max(1, s // 6)) | (np.abs(yy) <= max(1, s // 6))
    return m.astype(np.float32)


def moving_shapes(seed: int, n: int = 1200, frames: int = 12, size: int = 32, speed: int = 2) -> Raw:
    """Clips of one shape moving up, down, left or right (the 4 classes), on a torus.

    The start position is uniform and motion wraps around the frame, so every single frame has the same
    distribution of positions in every class: only the change across frames tells the direction.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    rng.shuffle(y)
    clips = np.zeros((n, frames, 1, size, size), np.float32)
    kinds = rng.integers(0, 4, n)
    sizes = rng.integers(5, 9, n)
    starts = rng.integers(0, size, (n, 2))
    bright = rng.uniform(0.6, 1.0, n).astype(np.float32)
    base = np.zeros((size, size), np.float32)
    for i in range(n):
        s = int(sizes[i])
        base[:] = 0
        base[:s, :s] = _shape_mask(int(kinds[i]), s) * bright[i]
        dr, dc = _STEPS[DIRECTIONS[y[i]]]
        for t in range(frames):
            clips[i, t, 0] = np.roll(base, (int(starts[i, 0]) + dr * speed * t, int(starts[i, 1]) + dc * speed * t),
                                     axis=(0, 1))
    clips += rng.normal(0, 0.08, clips.shape).astype(np.float32)
    return Raw([clips], y.astype(np.int64), ["TCHW"], class_names=list(DIRECTIONS), input_names=["video"])


def moving_shapes_next(seed: int, n: int = 1000, frames: int = 6, size: int = 20) -> Raw:
    """Next-frame prediction: clips of ``frames`` frames of one shape moving in a straight line (one of 8
    directions, 1 or 2 pixels a frame), and as the target the clean frame that follows (``CHW``), a regression.

    Whole paths stay inside the frame (nothing wraps), and the inputs carry a little noise while the target does
    not, so copying the last frame (the ``copy-last-frame`` baseline) is wrong by the motion and the noise; a model
    must learn where the shape goes.
    """
    if size - 5 < 2 * frames:
        raise ValueError(f"a {size}x{size} frame is too small for {frames} frames of motion")
    rng = np.random.default_rng([int(seed), 8])
    clips = np.zeros((n, frames + 1, 1, size, size), np.float32)
    kinds = rng.integers(0, 4, n)
    sizes = rng.integers(3, 6, n)
    bright = rng.uniform(0.6, 1.0, n).astype(np.float32)
    steps = np.array([(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)])
    direction = steps[rng.integers(0, len(steps), n)] * rng.integers(1, 3, (n, 1))
    for i in range(n):
        s = int(sizes[i])
        travel = np.abs(direction[i]) * frames
        # a start from which the shape stays inside the frame for every step of the clip and the target
        lo = np.where(direction[i] < 0, travel, 0)
        hi = size - s - np.where(direction[i] > 0, travel, 0)
        r0, c0 = (int(rng.integers(a, b + 1)) for a, b in zip(lo, hi))  # size - s >= 2 * frames: never empty
        mask = _shape_mask(int(kinds[i]), s) * bright[i]
        for t in range(frames + 1):
            r, c = r0 + direction[i][0] * t, c0 + direction[i][1] * t
            clips[i, t, 0, r:r + s, c:c + s] = mask
    x = clips[:, :frames] + rng.normal(0, 0.05, (n, frames, 1, size, size)).astype(np.float32)
    return Raw([x], clips[:, frames].copy(), ["TCHW"], task="regression", input_names=["video"],
               target_axes="CHW", baseline="copy-last-frame")


# ---- waveforms ----------------------------------------------------------------------------------------------------

WAVES = ("sine", "square", "triangle", "sawtooth")


def waveforms(seed: int, n: int = 1200, length: int = 128) -> Raw:
    """Noisy sine / square / triangle / sawtooth waves with random frequency, phase and amplitude."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 4
    rng.shuffle(y)
    t = np.arange(length, dtype=np.float64)[None, :]
    cycles = rng.uniform(2.0, 6.0, (n, 1))
    phase = rng.uniform(0, 1, (n, 1))
    u = (t / length * cycles + phase) % 1.0            # position within the period, in [0, 1)
    sine = np.sin(2 * np.pi * u)
    waves = np.stack([sine, np.sign(sine), 4 * np.abs(u - 0.5) - 1, 2 * u - 1], 0)
    x = waves[y, np.arange(n)] * rng.uniform(0.5, 1.5, (n, 1)) + rng.normal(0, 0.2, (n, length))
    return Raw([x[..., None].astype(np.float32)], y.astype(np.int64), ["TF"], class_names=list(WAVES),
               input_names=["series"])


# ---- image + series -------------------------------------------------------------------------------------------------

PATTERNS = ("horizontal", "vertical", "diagonal", "antidiagonal", "ring")


def _strokes(rng, kind: int) -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    yy, xx = np.mgrid[0:28, 0:28]
    if kind == 4:
        cy, cx, r = rng.uniform(10, 18), rng.uniform(10, 18), rng.uniform(5, 9)
        img[np.abs(np.hypot(yy - cy, xx - cx) - r) < 1.0] = 1.0
        return img
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.integers(10, 20))
        a, b = int(rng.integers(2, 26)), int(rng.integers(0, 28 - length))
        if kind == 0:
            img[a:a + 2, b:b + length] = 1.0
        elif kind == 1:
            img[b:b + length, a:a + 2] = 1.0
        else:
            off = int(rng.integers(-10, 11))
            d = (xx - yy - off) if kind == 2 else (xx + yy - 27 - off)
            img[(np.abs(d) <= 1) & (yy >= b) & (yy < b + length)] = 1.0
    return img


def image_series(seed: int, n: int = 1500) -> Raw:
    """Two inputs whose label needs both: the image shows one of 5 stroke patterns (horizontal, vertical, diagonal,
    anti-diagonal, ring), the 8x8 series oscillates slowly or fast; the class is the pair (10 classes), so the image
    alone gives at most 50% and the series at most 20%."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    rng.shuffle(y)
    pattern, fast = y // 2, y % 2
    images = np.stack([_strokes(rng, int(k)) for k in pattern])[:, None]
    images += rng.normal(0, 0.15, images.shape).astype(np.float32)
    t = np.arange(8, dtype=np.float64)[None, :, None]
    cycles = np.where(fast, 3.0, 0.5)[:, None, None] * rng.uniform(0.85, 1.15, (n, 1, 1))
    phase = rng.uniform(0, 2 * np.pi, (n, 1, 8))
    series = np.sin(2 * np.pi * cycles * t / 8 + phase) + rng.normal(0, 0.25, (n, 8, 8))
    names = [f"{p}+{s}" for p in PATTERNS for s in ("slow", "fast")]
    return Raw([images.astype(np.float32), series.astype(np.float32)], y.astype(np.int64), ["CHW", "TF"],
               class_names=names, input_names=["image", "series"])


# ---- a real multichannel time series set (shipped inside sktime's wheel) ---------------------------------------------

def sktime_data_dir() -> Path | None:
    """sktime's bundled data folder, found without importing sktime (which is slow); None when not installed."""
    try:
        spec = importlib.util.find_spec("sktime")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "datasets" / "data"
        if (d / "BasicMotions" / "BasicMotions_TRAIN.ts").is_file():
            return d
    return None


def basic_motions(seed: int) -> Raw:
    """UEA BasicMotions: 6-axis accelerometer+gyroscope recordings (T=100, F=6) of standing, walking, running
    and badminton; the official train (40) and test (40) halves become train and validation. Channels are
    standardised with the training set's mean and deviation."""
    from .datasets import DatasetError, read_ts

    d = sktime_data_dir()
    if d is None:
        raise DatasetError("basic-motions: the BasicMotions data ships with sktime, which is not installed "
                           "(pip install 'hybrid-studio[timeseries]' or pip install sktime)")
    xtr, ytr = read_ts(d / "BasicMotions" / "BasicMotions_TRAIN.ts")
    xte, yte = read_ts(d / "BasicMotions" / "BasicMotions_TEST.ts")
    names = sorted(set(ytr) | set(yte))
    index = {c: i for i, c in enumerate(names)}
    # read_ts gives (N, channels, length); sequences are (N, T, F).
    xtr, xte = xtr.transpose(0, 2, 1), xte.transpose(0, 2, 1)
    mean, std = xtr.mean((0, 1)), xtr.std((0, 1)) + 1e-6
    xtr, xte = ((xtr - mean) / std).astype(np.float32), ((xte - mean) / std).astype(np.float32)
    ytr = np.array([index[c] for c in ytr], np.int64)
    yte = np.array([index[c] for c in yte], np.int64)
    return Raw([xtr], ytr, ["TF"], class_names=names, input_names=["series"], val=([xte], yte))
