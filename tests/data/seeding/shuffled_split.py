"""A random train/validation split and one epoch of shuffled batches; prints a digest of the order."""
import hashlib

import torch
from torch.utils.data import DataLoader, random_split

dataset = list(range(40))
train_part, val_part = random_split(dataset, [30, 10])
loader = DataLoader(train_part, batch_size=6, shuffle=True)
order = [int(i) for batch in loader for i in batch] + list(val_part.indices)
print(hashlib.sha256(repr(order).encode()).hexdigest())
