"""The face finder's fourth check learns only its read-out: a small perceptron over the mean
ImageNet features of each window (`faces.networks.LiteCheck`), whose filters stay as they are."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEARNING_RATE = 1e-3
WEIGHT_DECAY = 1e-3
ROWS = 256


def fit_readout(head: nn.Sequential, features: torch.Tensor, labels: torch.Tensor, epochs: int,
                gen: torch.Generator) -> float:
    """Train `head` (its first layer linear) on `features` [N, F] and 0/1 `labels` [N] for
    `epochs` shuffled passes (AdamW); returns the last batch's loss. The features are learned
    from standardised (their scales differ a hundredfold between depths), and the
    standardisation is then folded into the first layer, so the head reads raw features."""
    mean, spread = features.mean(dim=0), features.std(dim=0).clamp_min(1e-6)
    standard = (features - mean) / spread
    optimizer = torch.optim.AdamW(head.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    head.train()
    loss = torch.zeros(())
    for _ in range(epochs):
        for rows in torch.randperm(len(standard), generator=gen).split(ROWS):
            loss = F.binary_cross_entropy_with_logits(head(standard[rows])[:, 0], labels[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    first = head[0]
    with torch.no_grad():
        first.weight /= spread
        first.bias -= first.weight @ mean
    head.eval()
    return loss.item()
