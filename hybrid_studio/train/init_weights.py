"""Starting a run from given weights (``train --init-weights FILE``, or an import's ``PROJECT.weights.pt``)."""

from __future__ import annotations

from .errors import InputProblem


def load_init_weights(model, path) -> None:
    """Load the state_dict at ``path`` into ``model``; InputProblem naming the file and every key or shape that
    disagrees. Read with ``torch.load(weights_only=True)``: the file cannot run code."""
    import pickle

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputProblem(f"initial weights {path}: no such file") from None
    except (OSError, RuntimeError, pickle.UnpicklingError, EOFError, ValueError) as e:
        raise InputProblem(f"initial weights {path} cannot be read as a state_dict of tensors ({e})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputProblem(f"initial weights {path} is not a state_dict (a dict of tensors)")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [f"{k}: file {tuple(state[k].shape)}, model {tuple(own[k].shape)}"
              for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or extra or shapes:
        parts = []
        if missing:
            parts.append(f"the model has {len(missing)} weight(s) the file lacks ({', '.join(missing[:5])}"
                         f"{', ...' if len(missing) > 5 else ''})")
        if extra:
            parts.append(f"the file has {len(extra)} weight(s) the model lacks ({', '.join(extra[:5])}"
                         f"{', ...' if len(extra) > 5 else ''})")
        if shapes:
            parts.append("shapes differ: " + "; ".join(shapes[:5]) + ("; ..." if len(shapes) > 5 else ""))
        raise InputProblem(f"initial weights {path} do not fit this model: " + "; ".join(parts)
                           + ". Were they made for another version of the graph?")
    with torch.no_grad():
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
