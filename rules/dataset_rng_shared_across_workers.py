from __future__ import annotations

from collections.abc import Iterator

from repro_lint.cst_values import code_of
from repro_lint.rule import Rule, RuleContext, Violation

from ._dataloader import shared_dataset_rngs


class DatasetRngSharedAcrossWorkers(Rule):
    """
    What it does:
        Flags an RNG object (`np.random.default_rng(...)`, `np.random.RandomState(...)`,
        `random.Random(...)`, `torch.Generator()`) that a `Dataset` or `IterableDataset`
        subclass builds in `__init__` and draws from in `__getitem__`, `__getitems__` or
        `__iter__` (or in a method they call on `self`). Reported at the constructor. Not
        flagged when another method rebuilds or reseeds it (`self.rng = ...`,
        `self.rng.seed(...)`), or when a `worker_init_fn` in the file does so through
        `get_worker_info().dataset`.

    Why it matters:
        DataLoader workers are copies of the main process. torch reseeds the global torch,
        numpy and `random` RNGs in each worker, but an RNG object the dataset holds is
        copied with the same state into every worker: all workers draw the same "random"
        augmentations, and, unless workers persist, repeat them every epoch. This holds in
        current torch releases.

    Example:
        import numpy as np
        from torch.utils.data import Dataset


        class Jittered(Dataset):
            def __init__(self):
                self.rng = np.random.default_rng(0)

            def __len__(self):
                return 8

            def __getitem__(self, index):
                return index + self.rng.normal()

    Use instead:
        import numpy as np
        from torch.utils.data import Dataset, get_worker_info


        class Jittered(Dataset):
            def __init__(self):
                self.rng = None

            def __len__(self):
                return 8

            def __getitem__(self, index):
                if self.rng is None:
                    info = get_worker_info()
                    self.rng = np.random.default_rng(info.seed if info is not None else 0)
                return index + self.rng.normal()

    Fix safety:
        No automatic fix: where the RNG should be built depends on the dataset. Build it
        lazily in the worker, seeded from `torch.utils.data.get_worker_info().seed` (or
        `torch.initial_seed()`), as above; or reseed `worker_info.dataset.rng` in a
        `worker_init_fn`.
    """

    code = "RPL304"
    name = "dataset-rng-shared-across-workers"
    summary = "An RNG object built in a Dataset's __init__ is copied unchanged into every DataLoader worker"
    markers = ("Dataset",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        for rng in shared_dataset_rngs(ctx.facts):
            yield Violation(
                rng.constructor,
                f"`{rng.target} = {code_of(rng.constructor.func)}(...)` is built in `__init__` and drawn "
                f"from in `{rng.drawn_in}`: every DataLoader worker gets a copy of the same state and repeats the "
                "same draws; build it per worker, seeded from `torch.utils.data.get_worker_info().seed`",
            )
