from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import libcst as cst

from repro_lint.cst_values import literal_bool
from repro_lint.facts import CallSite, FileFacts, LoopSite, Scope
from repro_lint.rng import DATA_LOADERS, loader_argument
from repro_lint.rule import NO_PROGRAM, SAFE, Fix, Insert, Rule, RuleContext, Violation, strict_note

DISTRIBUTED_SAMPLERS = ("torch.utils.data.DistributedSampler", "torch.utils.data.distributed.DistributedSampler")
_SHUFFLE_POSITION = 3
_ITERATION_WRAPPERS = frozenset({"builtins.enumerate", "builtins.iter", "tqdm.tqdm", "tqdm.auto.tqdm"})


@dataclass(frozen=True, eq=False)
class _Loader:
    sampler: CallSite
    sampler_name: str | None  # the name the sampler is bound to, when it is one
    call: CallSite  # the DataLoader(...) call
    name: str | None  # the name the loader is bound to


class DistributedSamplerWithoutSetEpoch(Rule):
    """
    What it does:
        Flags an epoch loop (a `for` loop around a loop over a DataLoader) whose loader
        takes its order from a shuffling `DistributedSampler` and that never calls
        `set_epoch(...)` on the sampler. The loops must be in one function; a `set_epoch`
        call anywhere in the epoch loop, or in another function of the file, counts.
        Code no linted program runs is reported in strict mode only.

    Why it matters:
        `DistributedSampler` shuffles with `seed + epoch`, and its epoch stays 0 until
        `set_epoch` changes it, so every epoch visits the data in the same order. Runs
        repeat each other, but training does not reshuffle, which distributed users hit
        more than any other randomness bug; it is reported by default.

    Example:
        from torch.utils.data import DataLoader, DistributedSampler

        sampler = DistributedSampler(dataset)
        loader = DataLoader(dataset, batch_size=32, sampler=sampler)
        for epoch in range(10):
            for batch in loader:
                step(batch)

    Use instead:
        from torch.utils.data import DataLoader, DistributedSampler

        sampler = DistributedSampler(dataset)
        loader = DataLoader(dataset, batch_size=32, sampler=sampler)
        for epoch in range(10):
            sampler.set_epoch(epoch)
            for batch in loader:
                step(batch)

    Fix safety:
        Safe: `sampler.set_epoch(epoch)` becomes the first statement of the epoch loop,
        when the sampler is a name in scope there and the loop's variable is the epoch
        (a single name, iterating `range(...)` or named like an epoch). Each epoch then
        gets its own order, the same in every run. Otherwise no fix.
    """

    code = "RPL305"
    name = "distributed-sampler-without-set-epoch"
    summary = "A DistributedSampler's epoch loop never calls set_epoch, so every epoch has the same order"
    fix_applicability = SAFE
    markers = ("DistributedSampler",)

    def check(self, ctx: RuleContext) -> Iterator[Violation]:
        reason = None if ctx.runs_in_a_program else NO_PROGRAM
        if not ctx.reports(reason):
            return
        facts = ctx.facts
        loaders = list(_loaders(facts))
        if not loaders:
            return
        set_epoch_calls = [call for call in facts.calls if call.method == "set_epoch"]
        reported: set[int] = set()
        for loader in loaders:
            for inner in facts.loops:
                if not _iterates(facts, inner, loader):
                    continue
                outer = _epoch_loop(facts, inner)
                if outer is None or id(outer.node) in reported:
                    continue
                inside = _statement_ids(outer.node.body)
                if any(id(call.statement) in inside or call.scope is not outer.scope for call in set_epoch_calls):
                    continue
                reported.add(id(outer.node))
                what = f"`{loader.name}`" if loader.name else "the DataLoader"
                yield Violation(
                    outer.node,
                    f"{what} takes its order from a shuffling `DistributedSampler`, and this epoch loop never calls "
                    "`set_epoch(...)` on it: every epoch visits the data in the same order" + strict_note(reason),
                    _fix(facts, outer, loader),
                )


def _loaders(facts: FileFacts) -> Iterator[_Loader]:
    for sampler in facts.calls_to(*DISTRIBUTED_SAMPLERS):
        if sampler.has_star_kwargs:
            continue
        shuffle = sampler.argument(_SHUFFLE_POSITION, "shuffle")
        if shuffle is not None and literal_bool(shuffle.value) is False:
            continue
        sampler_name = _bound_name(sampler)
        for call in facts.calls_to(*DATA_LOADERS):
            arg = loader_argument(call.node, "sampler")
            if arg is None:
                continue
            value = arg.value
            if value is sampler.node or (
                sampler_name is not None and isinstance(value, cst.Name) and value.value == sampler_name
                and facts.binding_scope(sampler_name, call.scope) is facts.binding_scope(sampler_name, sampler.scope)
            ):
                yield _Loader(sampler, sampler_name, call, _bound_name(call))


def _bound_name(call: CallSite) -> str | None:
    """`name = call(...)` (or `name = call(...) if c else None`): the name."""
    statement = call.statement
    if not isinstance(statement, cst.SimpleStatementLine) or len(statement.body) != 1:
        return None
    assign = statement.body[0]
    if not isinstance(assign, (cst.Assign, cst.AnnAssign)) or assign.value is None:
        return None
    value = assign.value
    if isinstance(value, cst.IfExp):
        value = value.body if value.body is call.node else value.orelse
    if value is not call.node:
        return None
    target = assign.targets[0].target if isinstance(assign, cst.Assign) and len(assign.targets) == 1 else (
        assign.target if isinstance(assign, cst.AnnAssign) else None)
    return target.value if isinstance(target, cst.Name) else None


def _iterates(facts: FileFacts, loop: LoopSite, loader: _Loader) -> bool:
    """`for batch in loader`, `enumerate(loader)`, `tqdm(loader)` or the DataLoader call itself."""
    expr = loop.node.iter
    while isinstance(expr, cst.Call) and expr.args and facts.qualname(expr.func, loop.scope) in _ITERATION_WRAPPERS:
        expr = expr.args[0].value
    if expr is loader.call.node:
        return True
    return (
        loader.name is not None and isinstance(expr, cst.Name) and expr.value == loader.name
        and facts.binding_scope(loader.name, loop.scope) is facts.binding_scope(loader.name, loader.call.scope)
    )


def _epoch_loop(facts: FileFacts, inner: LoopSite) -> LoopSite | None:
    """The innermost `for` loop of the same function that holds `inner`."""
    enclosing = [
        loop for loop in facts.loops
        if loop is not inner and loop.scope is inner.scope and id(inner.node) in _statement_ids(loop.node.body)
    ]
    return max(enclosing, key=lambda loop: loop.order, default=None)


def _statement_ids(suite: cst.BaseSuite) -> frozenset[int]:
    """The statements inside a loop's body, at any depth of its blocks, not inside a def or class."""
    found: set[int] = set()
    pending: list[cst.CSTNode] = [suite]
    while pending:
        node = pending.pop()
        if isinstance(node, cst.IndentedBlock):
            for statement in node.body:
                found.add(id(statement))
                if isinstance(statement, cst.BaseCompoundStatement) and not isinstance(
                    statement, (cst.FunctionDef, cst.ClassDef)
                ):
                    pending.extend(_blocks(statement))
        elif isinstance(node, cst.SimpleStatementSuite):
            found.update(id(small) for small in node.body)
    return frozenset(found)


def _blocks(statement: cst.BaseCompoundStatement) -> Iterator[cst.CSTNode]:
    yield statement.body
    for name in ("orelse", "finalbody"):
        part = getattr(statement, name, None)
        while isinstance(part, cst.If):  # elif chains
            yield part.body
            part = part.orelse
        if part is not None:
            yield part.body
    for handler in getattr(statement, "handlers", ()):
        yield handler.body
    for case in getattr(statement, "cases", ()):
        yield case.body


def _fix(facts: FileFacts, outer: LoopSite, loader: _Loader) -> Fix | None:
    name = loader.sampler_name
    target = outer.node.target
    body = outer.node.body
    if name is None or not isinstance(target, cst.Name) or not isinstance(body, cst.IndentedBlock) or not body.body:
        return None
    if not _visible(facts, name, outer.scope, loader.sampler.scope):
        return None
    iterated = outer.node.iter
    over_range = isinstance(iterated, cst.Call) and facts.qualname(iterated.func, outer.scope) == "builtins.range"
    if not over_range and "epoch" not in target.value.lower():
        return None
    code = f"{name}.set_epoch({target.value})\n"
    return Fix(SAFE, f"Call `{code.strip()}` at the start of each epoch", (Insert(body.body[0], code),))


def _visible(facts: FileFacts, name: str, where: Scope, bound_in: Scope) -> bool:
    return facts.binding_scope(name, where) is facts.binding_scope(name, bound_in)
