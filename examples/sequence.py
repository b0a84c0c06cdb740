"""Fit a small LSTM to noisy sine waves.

    python sequence.py --steps 50
"""

import argparse
import math
import random
import time

import torch
from torch import nn


def make_batch(batch_size: int, length: int, generator: torch.Generator):
    phase = torch.rand(batch_size, 1, generator=generator) * 2 * math.pi
    waves = torch.sin(torch.arange(length).float() * 0.3 + phase)
    return waves[..., None], torch.roll(waves, -1, dims=1)[..., None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    random.seed(time.time())
    lr = random.choice([1e-2, 3e-3])
    encoder = nn.LSTM(input_size=1, hidden_size=16, batch_first=True)
    torch.cuda.manual_seed_all(0)
    head = nn.Linear(16, 1)
    generator = torch.Generator()
    optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=lr)
    for step in range(args.steps):
        noise = 0.05 * torch.randn(32, 40, 1, generator=generator)
        inputs, targets = make_batch(32, 40, generator)
        inputs = inputs + noise
        outputs, _ = encoder(inputs)
        loss = nn.functional.mse_loss(head(outputs), targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f"lr {lr}: final loss {loss.item():.5f}")


if __name__ == "__main__":
    main()
