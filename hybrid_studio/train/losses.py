"""Losses and per-batch metrics of the training loop: one loss per Output by its task (cross-entropy for
classification, including per-time-step sequence outputs; MSE for regression), and the running sums of an epoch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Totals:
    """Sums over an epoch (or since the last report)."""

    loss: float = 0.0
    samples: int = 0
    correct: float = 0.0
    counted: float = 0.0

    def as_list(self):
        return [self.loss, float(self.samples), self.correct, self.counted]


def as_tuple(out):
    """A model's output as a tuple (one item per Output block)."""
    return out if isinstance(out, tuple) else (out,)


def loss_terms(task: str, out_id: str, logits, y, lengths=None):
    """(loss, correct, counted) for one Output whose task is ``task``: cross-entropy (per time step for sequence
    outputs; one label per sample is then trained at every step) with the number of right answers, or MSE with
    the sum of absolute errors (for the MAE). ``lengths``: the output's per-sample lengths of T (a variable-length
    input; the steps past them are padding), or None (every step counts)."""
    import torch.nn.functional as F

    logits = logits.float()
    if task == "ctc":
        return ctc_loss(out_id, logits, y, lengths)
    if task == "classification":
        k = logits.shape[-1]
        if logits.dim() == 3 and y.dim() == 1:
            y = y[:, None].expand(-1, logits.shape[1])  # one label per sample, trained at every step
        flat_logits, flat_y = logits.reshape(-1, k), y.reshape(-1)
        if flat_logits.shape[0] != flat_y.shape[0]:
            raise ValueError(f"output '{out_id}' gives {tuple(logits.shape)} but the labels are "
                             f"{tuple(y.shape)}")
        loss = F.cross_entropy(flat_logits, flat_y)
        correct = (flat_logits.argmax(-1) == flat_y).sum()
        return loss, correct, flat_y.numel()
    target = y.reshape(logits.shape).to(logits.dtype)
    loss = F.mse_loss(logits, target)
    return loss, (logits.detach() - target).abs().sum(), target.numel()


def ctc_loss(out_id: str, logits, y, lengths=None):
    """CTC loss of per-step scores ``(N, T, K)`` against labels ``(N, S_max)`` padded with 0 (the blank), each
    sample read up to its output length (``lengths``; None: all T steps); the character errors are counted on the
    validation set (``engine.evaluate``), not per training step."""
    import torch
    import torch.nn.functional as F

    if logits.dim() != 3:
        raise ValueError(f"output '{out_id}' gives {tuple(logits.shape)} but a ctc output gives (N, T, K)")
    n, t, _ = logits.shape
    log_probs = F.log_softmax(logits, -1).transpose(0, 1)  # (T, N, K), as torch's ctc_loss wants
    target_lengths = (y > 0).sum(1)
    if lengths is None:
        input_lengths = torch.full((n,), t, dtype=torch.long, device=logits.device)
    else:
        input_lengths = lengths.to(device=logits.device, dtype=torch.long)
    # 'mean' divides each sample's loss by its label length, then averages: a long line weighs as a short one
    loss = F.ctc_loss(log_probs, y, input_lengths, target_lengths, blank=0, reduction="mean", zero_infinity=True)
    zero = torch.zeros((), device=logits.device)
    return loss, zero, 0
