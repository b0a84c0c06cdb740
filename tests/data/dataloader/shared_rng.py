"""A dataset that builds its numpy RNG in `__init__`, loaded with two workers.

Prints, as JSON, the worker that produced each item and the value it drew. Every
worker starts from a copy of the same RNG state, so the workers draw the same values.
"""
import json

import numpy as np
from torch.utils.data import DataLoader, Dataset, get_worker_info


class Jittered(Dataset):
    def __init__(self):
        self.rng = np.random.default_rng(1234)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return get_worker_info().id, float(self.rng.normal())


def main():
    loader = DataLoader(Jittered(), batch_size=1, num_workers=2)
    draws = [[int(worker[0]), float(value[0])] for worker, value in loader]
    print(json.dumps(draws))


if __name__ == "__main__":
    main()
