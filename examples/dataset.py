"""Synthetic images of horizontal bars, one class per bar position."""

import random

import numpy as np
import torch
from torch.utils.data import Dataset


class NoisyBars(Dataset):
    def __init__(self, size: int = 256, image_size: int = 16, noise: float = 0.1):
        self.size = size
        self.image_size = image_size
        self.noise = noise
        self.rng = np.random.default_rng(1234)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int):
        label = index % 10
        image = torch.zeros(3, self.image_size, self.image_size)
        image[:, label, :] = 1.0
        if random.random() < 0.5:
            image = image.flip(-1)
        jitter = self.rng.normal(0.0, self.noise, size=image.shape).astype(np.float32)
        scale = np.random.uniform(0.9, 1.1)
        return image * scale + torch.from_numpy(jitter), label
