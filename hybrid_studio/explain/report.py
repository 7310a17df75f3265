"""The PNG report of an explanation (matplotlib, off screen): per Input, its share and a heat map over its image
axes or a curve over its time axis; for Grad-CAM, the block's heat map."""

from __future__ import annotations

import numpy as np


def _image(mean_map: np.ndarray, axes: str):
    """A 2-D view of an Input's mean attribution map: summed over every axis but H and W (or T and F)."""
    for pair in (("H", "W"), ("T", "F"), ("T", "C")):
        if all(a in axes for a in pair):
            keep = [axes.index(a) for a in pair]
            others = tuple(i for i in range(len(axes)) if i not in keep)
            return mean_map.sum(axis=others) if others else mean_map, pair
    return None, None


def write_report(explanation, path) -> None:
    """Draw ``explanation`` into the PNG at ``path`` (written atomically)."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hybrid_studio.project import atomic_write_bytes

    items = list(explanation.inputs.items())
    panels = len(items) + (1 if explanation.cam is not None else 0) + (1 if items else 0)
    fig, axs = plt.subplots(1, max(panels, 1), figsize=(4.2 * max(panels, 1), 3.6), squeeze=False)
    axs = list(axs[0])
    title = f"{explanation.method}, {explanation.samples} validation samples"
    if items:
        ax = axs.pop(0)
        ax.bar([k for k, _ in items], [v.share for _, v in items], color="#1e5ae6")
        ax.set_ylim(0, 1)
        ax.set_title("share of the attribution per input")
    for name, info in items:
        ax = axs.pop(0)
        img, pair = _image(np.asarray(info.mean_map), info.axes) if info.mean_map is not None else (None, None)
        if "T" in info.axes and (img is None or pair == ("T", "F") or pair == ("T", "C")):
            ax.plot(info.profile["T"], color="#e66e14")
            ax.set_xlabel("time step T")
            ax.set_title(f"{name}: attribution over time")
        elif img is not None:
            ax.imshow(img, cmap="inferno")
            ax.set_title(f"{name}: attribution over {pair[0]} x {pair[1]}")
            ax.axis("off")
        else:
            axis = info.axes[-1]
            ax.bar(range(len(info.profile[axis])), info.profile[axis])
            ax.set_title(f"{name}: attribution over {axis}")
    if explanation.cam is not None:
        ax = axs.pop(0)
        cam = np.asarray(explanation.cam)
        if cam.ndim == 1:
            ax.plot(cam)
        else:
            ax.imshow(cam if cam.ndim == 2 else cam.mean(0), cmap="inferno")
            ax.axis("off")
        ax.set_title(f"Grad-CAM of {explanation.block}")
    fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
