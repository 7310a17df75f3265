"""The PNG report of ``hybrid-studio explain -o report.png`` (matplotlib, Agg backend, no window)."""

from __future__ import annotations

import io

import numpy as np


def _image_of(x: np.ndarray, axes: str) -> np.ndarray | None:
    """A 2-D picture of one sample of an image-like input (channels averaged; frames of video averaged)."""
    if "H" not in axes or "W" not in axes:
        return None
    a = np.asarray(x, np.float64)
    keep = (axes.index("H"), axes.index("W"))
    return a.mean(axis=tuple(d for d in range(a.ndim) if d not in keep)) if a.ndim > 2 else a


def write_report(result: dict, path) -> None:
    """Heatmaps over images (first samples), attribution curves over time and feature axes, shares per input."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from hybrid_studio.project import atomic_write_bytes

    ids = result.get("_input_ids", [])
    samples = result.get("_samples", [])
    rows = []
    if result["method"] == "grad-cam":
        maps = result["_cam"]
        img = next((k for k, name in enumerate(ids) if "H" in _axes_of(result, name, samples[k])), None)
        n = min(4, len(maps))
        for i in range(n):
            rows.append(("cam", i, img))
    else:
        for k, name in enumerate(ids):
            info = result["inputs"][name]
            if "H" in info["axes"] and "W" in info["axes"]:
                for i in range(min(4, len(samples[k]))):
                    rows.append(("heat", i, k))
            for ax, prof in info["profile"].items():
                rows.append(("curve", ax, k))
        rows.append(("shares", None, None))
    cols = 4
    nrows = max(1, (len(rows) + cols - 1) // cols)
    fig = Figure(figsize=(4 * cols, 3.2 * nrows))
    for j, (kind, a, k) in enumerate(rows):
        ax = fig.add_subplot(nrows, cols, j + 1)
        if kind == "shares":
            names = list(result["inputs"])
            ax.bar(names, [result["inputs"][n]["share"] for n in names], color="#4477aa")
            ax.set_ylim(0, 1)
            ax.set_title("share per input")
        elif kind == "curve":
            prof = result["inputs"][ids[k]]["profile"][a]
            ax.plot(range(len(prof)), prof, color="#cc3311")
            ax.set_title(f"{ids[k]}: attribution over {a}")
            ax.set_xlabel(a)
        elif kind == "heat":
            axes = result["inputs"][ids[k]]["axes"]
            pic = _image_of(samples[k][a], axes)
            heat = _image_of(np.abs(result["_attributions"][k][a]), axes)
            ax.imshow(pic, cmap="gray")
            ax.imshow(heat, cmap="inferno", alpha=0.55)
            ax.set_title(f"{ids[k]} sample {a}")
            ax.axis("off")
        elif kind == "cam":
            cam = np.asarray(result["_cam"][a])
            if k is not None and cam.ndim == 2:
                ax.imshow(_image_of(samples[k][a], _axes_of(result, ids[k], samples[k])), cmap="gray")
                ax.imshow(cam, cmap="jet", alpha=0.5)
            elif cam.ndim == 1:
                ax.plot(cam)
            else:
                ax.imshow(cam.reshape(cam.shape[0], -1) if cam.ndim > 1 else cam[None], cmap="jet")
            ax.set_title(f"Grad-CAM {result['block']} sample {a}")
            ax.axis("off")
    fig.suptitle(f"{result['method']} over {result['samples']} samples")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    atomic_write_bytes(path, buf.getvalue())


def _axes_of(result, name, sample_array) -> str:
    info = result.get("inputs", {}).get(name)
    if info:
        return info["axes"]
    return result.get("_axes", {}).get(name, "")
