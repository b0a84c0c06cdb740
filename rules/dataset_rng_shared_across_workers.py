from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from repro_lint.cst_values import code_of
from repro_lint.facts import CallSite, ClassSite, FileFacts, FunctionSite, Scope
from repro_lint.rule import Rule, RuleContext, Violation


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


DATASET_BASES = frozenset({
    "torch.utils.data.Dataset",
    "torch.utils.data.dataset.Dataset",
    "torch.utils.data.IterableDataset",
    "torch.utils.data.dataset.IterableDataset",
})
RNG_CONSTRUCTORS = frozenset({
    "numpy.random.default_rng",
    "numpy.random.RandomState",
    "numpy.random.Generator",
    "random.Random",
    "torch.Generator",
})


# -- reading the dataset classes ------------------------------------------


def dataset_classes(facts: FileFacts) -> list[ClassSite]:
    """Classes that derive from `Dataset`/`IterableDataset`, directly or through a class in this file."""
    prefix = f"{facts.module_name}." if facts.module_name else ""
    bases = {id(cls): _base_names(facts, cls) for cls in facts.classes}
    known = set(DATASET_BASES)
    found: list[ClassSite] = []
    changed = True
    while changed:
        changed = False
        for cls in facts.classes:
            if cls not in found and known & bases[id(cls)]:
                found.append(cls)
                known.add(prefix + cls.qualname)
                changed = True
    return sorted(found, key=facts.classes.index)


def _base_names(facts: FileFacts, cls: ClassSite) -> set[str]:
    """Resolved base classes, reading `Dataset[int]` as `Dataset`."""
    outer = cls.scope.parent or facts.module_scope
    names = set()
    for base in cls.node.bases:
        expr = base.value.value if isinstance(base.value, cst.Subscript) else base.value
        name = facts.qualname(expr, outer)
        if name:
            names.add(name)
    return names


def rng_constructor(facts: FileFacts, value: cst.BaseExpression | None, scope: Scope) -> cst.Call | None:
    """The RNG constructor call in `value`: `np.random.default_rng(0)`, `random.Random()`,
    `torch.Generator()` and `torch.Generator().manual_seed(0)`."""
    if not isinstance(value, cst.Call):
        return None
    func = value.func
    if isinstance(func, cst.Attribute) and func.attr.value == "manual_seed" and isinstance(func.value, cst.Call):
        return rng_constructor(facts, func.value, scope)
    return value if facts.qualname(func, scope) in RNG_CONSTRUCTORS else None


def method_scopes(facts: FileFacts, cls: ClassSite) -> dict[str, FunctionSite]:
    return {f.node.name.value: f for f in facts.functions if f.scope.parent is cls.scope}


def self_name(function: FunctionSite) -> str | None:
    params = [*function.node.params.posonly_params, *function.node.params.params]
    return params[0].name.value if params else None


def self_attribute(expr: cst.BaseExpression, self_param: str | None) -> str | None:
    """`attr` for `self.attr`, else None."""
    if (
        self_param is not None
        and isinstance(expr, cst.Attribute)
        and isinstance(expr.value, cst.Name)
        and expr.value.value == self_param
    ):
        return expr.attr.value
    return None


def within(scope: Scope | None, function: FunctionSite) -> bool:
    """`scope` is the function's own scope or nested inside it."""
    while scope is not None:
        if scope is function.scope:
            return True
        scope = scope.parent
    return False


def calls_in(facts: FileFacts, function: FunctionSite) -> Iterator[CallSite]:
    return (call for call in facts.calls if within(call.scope, function))


# Methods a DataLoader worker runs; methods that reseed an RNG object; methods that only read it.
_WORKER_ENTRY_POINTS = ("__getitem__", "__getitems__", "__iter__")
_RESEEDING_METHODS = frozenset({"seed", "manual_seed", "set_state", "setstate"})
_READING_METHODS = frozenset({"initial_seed", "get_state", "getstate"})


@dataclass(frozen=True, eq=False)
class SharedRng:
    """An RNG object a Dataset builds in `__init__` and draws from in its workers."""

    constructor: cst.Call
    target: str  # as written in `__init__`: "self.rng"
    drawn_in: str  # the first worker-side method that draws from it


def shared_dataset_rngs(facts: FileFacts) -> Iterator[SharedRng]:
    for cls in dataset_classes(facts):
        methods = method_scopes(facts, cls)
        init = methods.get("__init__")
        if init is None:
            continue
        built = _rngs_built_in(facts, init)
        reseeded = _reseeded_attributes(facts, methods)
        candidates = {attr: ctor for attr, ctor in built.items() if attr not in reseeded}
        drawn: dict[str, str] = {}
        for name in _worker_methods(facts, methods):
            for attr in _attributes_drawn(facts, methods[name]):
                drawn.setdefault(attr, name)
        for attr, ctor in candidates.items():
            if attr in drawn:
                yield SharedRng(ctor, f"{self_name(init)}.{attr}", drawn[attr])


def _rngs_built_in(facts: FileFacts, init: FunctionSite) -> dict[str, cst.Call]:
    """`self.<attr> = <RNG constructor>` in `__init__`, by attribute."""
    self_param = self_name(init)
    built: dict[str, cst.Call] = {}
    for site in facts.assignments:
        if site.scope is not init.scope:
            continue
        attr = self_attribute(site.target, self_param)
        ctor = rng_constructor(facts, site.value, site.scope) if attr else None
        if attr and ctor is not None:
            built.setdefault(attr, ctor)
    return built


def _worker_methods(facts: FileFacts, methods: dict[str, FunctionSite]) -> list[str]:
    """The worker entry points and the methods they call on `self`, transitively, in discovery order."""
    reached = [name for name in _WORKER_ENTRY_POINTS if name in methods]
    for name in reached:
        method = methods[name]
        for call in calls_in(facts, method):
            callee = self_attribute(call.node.func, self_name(method))
            if callee in methods and callee not in reached and callee != "__init__":
                reached.append(callee)
    return reached


def _attributes_drawn(facts: FileFacts, method: FunctionSite) -> Iterator[str]:
    """`self.<attr>` used as the object of a method call (`self.rng.normal()`) or passed
    as an argument (`torch.rand(3, generator=self.gen)`)."""
    self_param = self_name(method)
    for call in calls_in(facts, method):
        func = call.node.func
        if isinstance(func, cst.Attribute) and func.attr.value not in _RESEEDING_METHODS | _READING_METHODS:
            attr = self_attribute(func.value, self_param)
            if attr:
                yield attr
        for arg in call.node.args:
            attr = self_attribute(arg.value, self_param)
            if attr:
                yield attr


def _reseeded_attributes(facts: FileFacts, methods: dict[str, FunctionSite]) -> set[str]:
    """Attributes rebuilt or reseeded after `__init__`: in another method of the class
    (`self.rng = ...`, lazily per worker) or through `<info>.dataset.<attr>` anywhere in
    the file (a `worker_init_fn`)."""
    found: set[str] = set()
    for name, method in methods.items():
        if name == "__init__":
            continue
        self_param = self_name(method)
        for site in facts.assignments:
            attr = self_attribute(site.target, self_param) if within(site.scope, method) else None
            if attr:
                found.add(attr)
        for call in calls_in(facts, method):
            func = call.node.func
            if isinstance(func, cst.Attribute) and func.attr.value in _RESEEDING_METHODS:
                attr = self_attribute(func.value, self_param)
                if attr:
                    found.add(attr)
    for site in facts.assignments:
        found.update(_dataset_attribute(site.target))
    for call in facts.calls:
        func = call.node.func
        if isinstance(func, cst.Attribute) and func.attr.value in _RESEEDING_METHODS:
            found.update(_dataset_attribute(func.value))
    return found


def _dataset_attribute(expr: cst.BaseExpression) -> Iterator[str]:
    """`attr` for `<anything>.dataset.attr`, the form a `worker_init_fn` reaches the worker's copy by."""
    if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Attribute) and expr.value.attr.value == "dataset":
        yield expr.attr.value
