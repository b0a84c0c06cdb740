"""Loads a randomly augmented dataset with two workers and prints a digest of every batch.

The augmentation draws from numpy's and Python's global RNGs inside the workers and
nothing is seeded, so as written every run prints a different digest.
"""
import hashlib
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class Augmented(Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, index):
        scale = np.random.uniform(0.5, 1.5)
        shift = random.randint(0, 100)
        return torch.tensor([index * scale + shift], dtype=torch.float64)


def main():
    loader = DataLoader(Augmented(), batch_size=4, shuffle=True, num_workers=2)
    digest = hashlib.sha256()
    for batch in loader:
        digest.update(batch.numpy().tobytes())
    print(digest.hexdigest())


if __name__ == "__main__":
    main()
