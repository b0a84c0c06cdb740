from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import CallSite
from repro_lint.rng import NUMPY
from repro_lint.rule import SAFE, Edit, Fix, Replace, Rule, RuleContext, Violation, strict_note

from ._dataloader import (
    DRAWS_NOTHING,
    NO_TRAINING_DRAWS,
    WorkerSeedHelper,
    argument_of,
    constant_value,
    dataloader_calls,
    passes,
    per_sample_code_draws,
    per_sample_code_draws_nothing,
    seeded_generator,
    splat_passes_any,
    strict_only,
    with_keywords,
    worker_seed_helper,
)

_POSITIONS = {"worker_init_fn": 10, "generator": 12}


class DataloaderWorkerSeeding(Rule):
    """
    What it does:
        Flags a `DataLoader` that starts worker processes (`num_workers` is not provably 0)
        without a `worker_init_fn` or without a `generator`, in every import form. A value
        read from arguments or a config object counts as "not provably 0". A `**` splat of a
        dict built in the same function (`loader_args = dict(num_workers=4)`) is read; calls
        with any other splat are skipped, since it may carry both.

        By default only where the streams really vary: a linted program runs the loader
        and never seeds torch (the parent's seed does not reach a process `spawn` starts,
        and a loader under an option that is off by default does not run), or the target
        torch is older than 1.9 and the dataset draws from numpy's global RNG (every
        worker then starts from the same numpy state). A
        program that calls `torch.manual_seed` gets the same base seed, and so the same
        worker streams for torch, `random` and numpy, in every run. Nor by default where the
        worker streams cannot matter: no `collate_fn`, and a `TensorDataset`, a torchvision
        dataset whose transforms are all fixed ones (`Resize`, `CenterCrop`, `ToTensor`,
        `Normalize`, ...), or a project dataset whose `__getitem__` provably draws nothing
        (it calls no callable held in a variable or attribute, and no library the linter does
        not know). A `self.transform` that `__init__` stores from its `transform` parameter
        counts as fixed where the loader's dataset call passes fixed transforms or None.
        Strict mode reports every such loader, as robustness advice.

    Why it matters:
        Each worker's RNGs are seeded from a base seed that the loader draws from its
        `generator`, or, without one, from the global torch RNG, which is seeded from OS
        entropy unless the program seeds it. Augmentations drawn in the workers then differ
        from run to run. A `worker_init_fn` that seeds numpy and `random` from
        `torch.initial_seed()` ties those libraries to the same base seed on every torch
        version.

    Example:
        import torch
        from torch.utils.data import DataLoader

        data = torch.arange(8.0)
        loader = DataLoader(data, batch_size=2, num_workers=2)

    Use instead:
        import random

        import numpy as np
        import torch
        from torch.utils.data import DataLoader


        def seed_worker(worker_id):
            worker_seed = torch.initial_seed() % 2**32
            np.random.seed(worker_seed)
            random.seed(worker_seed)


        data = torch.arange(8.0)
        loader = DataLoader(
            data,
            batch_size=2,
            num_workers=2,
            worker_init_fn=seed_worker,
            generator=torch.Generator().manual_seed(0),
        )

    Fix safety:
        Safe: adds `worker_init_fn=seed_worker` and `generator=torch.Generator().manual_seed(SEED)`
        (SEED is the `seed` setting), and inserts the `seed_worker` helper once per file,
        after the imports, reusing an identical existing helper. The helper seeds numpy only
        when the project imports numpy; `import numpy as np`, `import random` and
        `import torch` are added where missing. A loader created anew every epoch then
        repeats the same order each epoch: create it once, or pass one generator created
        outside the loop.
    """

    code = "RPL301"
    name = "dataloader-worker-seeding"
    summary = "DataLoader workers without worker_init_fn or generator draw different random numbers on every run"
    fix_applicability = SAFE
    markers = ("DataLoader",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reported = [(call, workers, missing, reason) for call, workers, missing in self._unseeded_loaders(ctx)
                    if ctx.reports(reason := self._strict_reason(ctx, call))]
        needs_helper = any("worker_init_fn" in missing for _, _, missing, _ in reported)
        helper = worker_seed_helper(ctx) if needs_helper else None
        for call, workers, missing, reason in reported:
            yield Violation(
                call.node,
                f"DataLoader with {workers} lacks {' and '.join(f'`{m}`' for m in missing)}: "
                "the workers' random numbers change from run to run" + strict_note(reason),
                self._fix(ctx, call, missing, helper),
            )

    def _strict_reason(self, ctx: RuleContext, call: CallSite) -> str | None:
        # Before torch 1.9 every worker got the same numpy global state: workers draw the same numbers.
        if ctx.torch_version < (1, 9) and per_sample_code_draws(ctx, call, NUMPY):
            return None
        reason = strict_only(ctx, call)
        if reason is None and per_sample_code_draws_nothing(ctx, call):
            return DRAWS_NOTHING
        if reason is None and ctx.only_evaluated_at(call.scope, call.node) and not per_sample_code_draws(ctx, call):
            return NO_TRAINING_DRAWS
        return reason

    def _unseeded_loaders(self, ctx: RuleContext) -> Iterator[tuple[CallSite, str, list[str]]]:
        """Loaders with workers and a missing seeding argument: (call, num_workers as described, missing)."""
        for call in dataloader_calls(ctx.facts):
            workers = argument_of(ctx.facts, call, "num_workers")
            if workers is None:
                continue
            value = constant_value(ctx, workers.value, call.scope)
            if value is not None and value <= 0:
                continue
            missing = [name for name in _POSITIONS if not passes(argument_of(ctx.facts, call, name))]
            if missing:
                described = (
                    f"`num_workers={value}`" if value is not None
                    else f"`num_workers={code_of(workers.value)}` (not provably 0)"
                )
                yield call, described, missing

    def _fix(
        self, ctx: RuleContext, call: CallSite, missing: list[str], helper: WorkerSeedHelper | None
    ) -> Fix | None:
        if splat_passes_any(ctx.facts, call, missing):
            return None
        values: dict[str, cst.BaseExpression] = {}
        edits: list[Edit] = []
        if "worker_init_fn" in missing:
            # The helper lives at module level: the call must see that binding.
            if helper is None or ctx.facts.binding_scope(helper.name, call.scope) not in (None, ctx.facts.module_scope):
                return None
            values["worker_init_fn"] = cst.Name(helper.name)
            edits += helper.edits
        if "generator" in missing:
            generator = seeded_generator(ctx, call.scope)
            if generator is None:
                return None
            values["generator"], generator_edits = generator
            edits += generator_edits
        added = " and ".join(f"`{name}`" for name in values)
        return Fix(SAFE, f"Add {added} to the DataLoader",
                   (Replace(call.node, with_keywords(call.node, _POSITIONS, values)), *edits))
