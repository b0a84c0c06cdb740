"""Shared by the data-loading rules RPL301-RPL303.

Finding DataLoader and sampler calls and their arguments, deciding whether
`num_workers` or `shuffle` is provably off, and building the fixes: a keyword
added to a call, a seeded `torch.Generator`, and the `seed_worker` helper.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import libcst as cst

from repro_lint.cst_values import argument, code_of, has_splat, is_none, keyword_arg, literal_bool
from repro_lint.effects import DREW, SEEDED
from repro_lint.facts import CallSite, FileFacts, FunctionSite, Scope, parameter_names
from repro_lint.fixes import header_end
from repro_lint.program import program_for
from repro_lint.project import HeldParameter
from repro_lint.rng import DATA_LOADERS, RNGS, TORCH, loader_argument
from repro_lint.rule import NO_PROGRAM, OFF_BY_DEFAULT, AddImport, Edit, Insert, RuleContext

# Sampling calls that take `generator=`, with the position it has when passed positionally.
SAMPLER_GENERATOR_POSITIONS = {
    "torch.utils.data.random_split": 2,
    "torch.utils.data.dataset.random_split": 2,
    "torch.utils.data.RandomSampler": 3,
    "torch.utils.data.sampler.RandomSampler": 3,
    "torch.utils.data.SubsetRandomSampler": 1,
    "torch.utils.data.sampler.SubsetRandomSampler": 1,
    "torch.utils.data.WeightedRandomSampler": 3,
    "torch.utils.data.sampler.WeightedRandomSampler": 3,
}
RANDOM_SAMPLERS = frozenset({"torch.utils.data.RandomSampler", "torch.utils.data.sampler.RandomSampler"})

HELPER_NAME = "seed_worker"
_MAX_HELPER_SUFFIX = 9


def strict_only(ctx: RuleContext, call: CallSite) -> str | None:
    """Why a data-order finding at `call` is robustness advice, or None when runs really differ.

    The loader's order and its workers' base seed come from torch's global RNG. They
    vary between runs only where a program runs this code and never seeds torch: a
    program calling just `torch.manual_seed` gets the same order and the same worker
    streams (torch, `random` and numpy, since torch 1.9) in every run.
    """
    if not ctx.runs_in_a_program_at(call.scope, call.node):
        return OFF_BY_DEFAULT if ctx.runs_in_a_program else NO_PROGRAM
    if ctx.false_guard(call) is not None:
        return OFF_BY_DEFAULT
    if SEEDED[TORCH] in ctx.effects_at(call.scope, call.node):
        if program_for(ctx.facts, ctx.project).unseeded_spawned_process(call, TORCH):
            return None
        return "the program seeds torch, so its runs repeat today"
    return None


NO_TRAINING_DRAWS = (
    "the programs that run it load trained weights and compute no gradients, and neither its dataset nor its "
    "collate_fn draws random numbers that the linter can see"
)
_PER_SAMPLE_CODE = {"dataset": ("__getitem__", "__iter__"), "collate_fn": ("__call__",)}


def per_sample_code_draws(ctx: RuleContext, loader: CallSite, rng: str | None = None) -> bool:
    """Whether the code a loader runs for each sample provably draws random numbers (from `rng`,
    or from any global RNG): its dataset's `__getitem__` or `__iter__`, or its `collate_fn`
    (a function, a class's `__call__`, or a method of an object), where that is project code
    whose effects say so."""
    for argument_name, methods in _PER_SAMPLE_CODE.items():
        arg = argument_of(ctx.facts, loader, argument_name)
        if arg is None:
            continue
        value = arg.value
        if isinstance(value, cst.Name):
            value = ctx.facts.value_before(value.value, loader) or value
        built = value.func if isinstance(value, cst.Call) else None
        name = ctx.facts.qualname(built if built is not None else value, loader.scope)
        if name is None and isinstance(value, cst.Attribute):
            name = _method_of_built_object(ctx, value, loader)
        if name is None:
            continue
        callees = [f"{name}.{method}" for method in methods] if built is not None else [name]
        drawn = RNGS if rng is None else (rng,)
        if any(DREW[each] in ctx.project.effects_of(callee) for callee in callees for each in drawn):
            return True
    return False


DRAWS_NOTHING = "its dataset draws no random numbers per sample (built-in data and fixed transforms only)"
_DATA_ONLY_DATASETS = frozenset({"torch.utils.data.TensorDataset", "torch.utils.data.dataset.TensorDataset"})
# torchvision transforms whose output is a function of their input: they draw nothing.
_FIXED_TRANSFORMS = frozenset(
    f"torchvision.transforms.{version}{name}"
    for version in ("", "v2.")
    for name in (
        "Compose", "Resize", "CenterCrop", "FiveCrop", "TenCrop", "Pad", "Grayscale", "Normalize", "ToTensor",
        "PILToTensor", "ToPILImage", "ConvertImageDtype", "ToImage", "ToDtype", "ToPureTensor",
    )
)
_TRANSFORM_KEYWORDS = ("transform", "target_transform", "transforms")
_MAX_TRANSFORM_DEPTH = 8


def per_sample_code_draws_nothing(ctx: RuleContext, loader: CallSite) -> bool:
    """Whether the loader's per-sample code provably draws no random numbers: no `collate_fn`, and a
    dataset built in the call or in the same function (also through `random_split` or `Subset`) that is a
    `TensorDataset`, a torchvision dataset whose transforms are all fixed ones (`Resize`, `ToTensor`, ...),
    or a project dataset whose `__getitem__` provably draws nothing. Worker seeds then change nothing."""
    dataset = argument_of(ctx.facts, loader, "dataset")
    if dataset is None or passes(argument_of(ctx.facts, loader, "collate_fn")):
        return False
    built = _datasets_built(ctx, dataset.value, loader, 0)
    return built is not None and all(_dataset_draws_nothing(ctx, call, loader) for call in built)


_DATASET_VIEWS = frozenset(
    f"torch.utils.data.{module}{name}" for module in ("", "dataset.") for name in ("random_split", "Subset")
)


def _datasets_built(ctx: RuleContext, expr: cst.BaseExpression, loader: CallSite, depth: int) -> list[cst.Call] | None:
    """Every call that may have built the dataset `expr`, following names assigned in the loader's
    function and the dataset a `random_split` or `Subset` views; None when one cannot be told."""
    if depth > _MAX_TRANSFORM_DEPTH:
        return None
    if isinstance(expr, cst.Name):
        values = ctx.facts.values_before(expr.value, loader)
        found: list[cst.Call] = []
        for value in values:
            built = _datasets_built(ctx, value, loader, depth + 1)
            if built is None:
                return None
            found += built
        return found or None
    if not isinstance(expr, cst.Call) or has_splat(expr):
        return None
    if ctx.facts.qualname(expr.func, loader.scope) in _DATASET_VIEWS:
        viewed = argument(expr, 0, "dataset")
        return _datasets_built(ctx, viewed.value, loader, depth + 1) if viewed is not None else None
    return [expr]


def _dataset_draws_nothing(ctx: RuleContext, built: cst.Call, loader: CallSite) -> bool:
    name = ctx.facts.qualname(built.func, loader.scope) or _picked_from_module(ctx, built.func, loader) or ""
    if name in _DATA_ONLY_DATASETS:
        return True
    if ctx.project.is_project_class(name):
        method = ctx.project.method_of(name, "__getitem__") or ctx.project.method_of(name, "__iter__")
        if method is None:
            return False
        # `self.transform(image)` draws nothing where this call stores a fixed transform there.
        held = ctx.project.held_parameters(name)
        fixed = [stored.attribute for stored in held if _passes_fixed(ctx, built, stored, loader)]
        return ctx.project.draws_nothing(method, ",".join(sorted(fixed)))
    if not name.startswith("torchvision.datasets."):
        return False
    for position, arg in enumerate(built.args):
        keyword = arg.keyword.value if arg.keyword is not None else None
        if keyword in _TRANSFORM_KEYWORDS or (keyword is None and position > 0):
            # A positional argument after the root may be a transform, unless it is a literal.
            if not (keyword is None and _is_literal(arg.value)) and not _fixed_transform(ctx, arg.value, loader, 0):
                return False
    return True


def _picked_from_module(ctx: RuleContext, func: cst.BaseExpression, loader: CallSite) -> str | None:
    """`datasets.__dict__[args.dataset.upper()]`: some class of that module, named `<module>.*`."""
    if not (isinstance(func, cst.Subscript) and isinstance(func.value, cst.Attribute)
            and func.value.attr.value == "__dict__"):
        return None
    module = ctx.facts.qualname(func.value.value, loader.scope)
    return f"{module}.*" if module is not None else None


def _passes_fixed(ctx: RuleContext, built: cst.Call, held: HeldParameter, loader: CallSite) -> bool:
    """The dataset call passes None or a fixed transform for `held`'s parameter, or leaves its None default."""
    arg = argument(built, held.position, held.parameter)
    if arg is None:
        return held.defaults_to_none and not has_splat(built)
    return _fixed_transform(ctx, arg.value, loader, 0)


def _fixed_transform(ctx: RuleContext, expr: cst.BaseExpression, loader: CallSite, depth: int) -> bool:
    if is_none(expr):
        return True
    if depth > _MAX_TRANSFORM_DEPTH:
        return False
    if isinstance(expr, cst.Name):
        # Every value the name may hold here: `if args.augment: t = Compose([RandomCrop(...)]) else: ...`.
        values = ctx.facts.values_before(expr.value, loader)
        return bool(values) and all(_fixed_transform(ctx, value, loader, depth + 1) for value in values)
    if not isinstance(expr, cst.Call) or has_splat(expr):
        return False
    name = ctx.facts.qualname(expr.func, loader.scope)
    if name not in _FIXED_TRANSFORMS:
        return False
    if not name.endswith(".Compose"):
        return True
    steps = argument(expr, 0, "transforms")
    return steps is not None and isinstance(steps.value, (cst.List, cst.Tuple)) and all(
        _fixed_transform(ctx, step.value, loader, depth + 1) for step in steps.value.elements
    )


def _is_literal(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, (cst.SimpleString, cst.Integer, cst.Float)) or literal_bool(expr) is not None


def _method_of_built_object(ctx: RuleContext, attribute: cst.Attribute, loader: CallSite) -> str | None:
    """`Cls.method` for `obj.method`, where `obj` was last assigned `Cls(...)` in the loader's scope."""
    if not isinstance(attribute.value, cst.Name):
        return None
    built = ctx.facts.value_before(attribute.value.value, loader)
    if not isinstance(built, cst.Call):
        return None
    cls = ctx.facts.qualname(built.func, loader.scope)
    return f"{cls}.{attribute.attr.value}" if cls is not None else None


def passes(arg: cst.Arg | None) -> bool:
    """The argument is given, and not as a literal `None` (which means "not given")."""
    return arg is not None and not is_none(arg.value)


def dataloader_calls(facts: FileFacts) -> list[CallSite]:
    """DataLoader calls whose arguments can all be read: no `*args`, and each `**` splat a dict
    built in the same function (`loader_args = dict(num_workers=4)`)."""
    return [site for site in facts.calls_to(*DATA_LOADERS) if facts.splatted_keywords(site) is not None]


def argument_of(facts: FileFacts, loader: CallSite, name: str) -> cst.Arg | None:
    """The loader's argument `name`, passed directly or through a readable `**` splat."""
    return loader_argument(loader.node, name, facts.splatted_keywords(loader))


def splat_passes_any(facts: FileFacts, loader: CallSite, names: Sequence[str]) -> bool:
    """A splat passes one of `names` (as `None`): a keyword added for it would be passed twice."""
    return bool(set(names) & (facts.splatted_keywords(loader) or {}).keys())


def inline_random_samplers(facts: FileFacts) -> list[tuple[CallSite, cst.Call, int]]:
    """DataLoaders given `sampler=RandomSampler(...)` built without a generator: the loader,
    the sampler call and the position `generator` has in it. RPL302 reports these, so
    RPL303 leaves them alone. A splat in the loader cannot supply the sampler's generator."""
    found = []
    for loader in facts.calls_to(*DATA_LOADERS):
        positional_unknown = any(arg.star == "*" for arg in loader.node.args)
        arg = keyword_arg(loader.node, "sampler") if positional_unknown else loader_argument(loader.node, "sampler")
        sampler = arg.value if arg is not None else None
        if not isinstance(sampler, cst.Call) or has_splat(sampler):
            continue
        name = facts.qualname(sampler.func, loader.scope)
        if name in RANDOM_SAMPLERS:
            position = SAMPLER_GENERATOR_POSITIONS[name]
            if not passes(argument(sampler, position, "generator")):
                found.append((loader, sampler, position))
    return found


# -- values --------------------------------------------------------------

_BINARY: dict[type, Callable[[int, int], int]] = {
    cst.Add: operator.add,
    cst.Subtract: operator.sub,
    cst.Multiply: operator.mul,
    cst.FloorDivide: operator.floordiv,
    cst.Modulo: operator.mod,
}
_FOLDS: dict[str, Callable[..., int]] = {"builtins.min": min, "builtins.max": max}
_Seen = frozenset[tuple[int, str]]  # names being evaluated, by binding scope: breaks `A = B; B = A`


def constant_value(ctx: RuleContext, expr: cst.BaseExpression, scope: Scope) -> int | None:
    """The integer (bools count as 0 and 1) that `expr` always has, or None when not provable.

    Follows names assigned exactly once (`NUM_WORKERS = 4`), integer arithmetic, `min`/`max`
    of such values, and the parameters of a function in a module no other linted module
    imports, where every call of it in the file leaves the same value (`shuffle=False` by
    default, never passed).
    """
    calls_known = not ctx.project.is_imported(ctx.facts.module_name)
    return _evaluate(ctx.facts, expr, scope, frozenset(), calls_known)


def _evaluate(facts: FileFacts, expr: cst.BaseExpression, scope: Scope, seen: _Seen, calls_known: bool) -> int | None:
    if isinstance(expr, cst.Integer):
        return int(expr.value.replace("_", ""), 0)
    if isinstance(expr, cst.Name):
        if expr.value in ("True", "False"):
            return int(expr.value == "True")
        return _name_value(facts, expr.value, scope, seen, calls_known)
    if isinstance(expr, cst.UnaryOperation):
        inner = _evaluate(facts, expr.expression, scope, seen, calls_known)
        if inner is None:
            return None
        if isinstance(expr.operator, cst.Minus):
            return -inner
        if isinstance(expr.operator, cst.Plus):
            return inner
        if isinstance(expr.operator, cst.Not):
            return int(not inner)
        return None
    if isinstance(expr, cst.BinaryOperation):
        fold = _BINARY.get(type(expr.operator))
        left = _evaluate(facts, expr.left, scope, seen, calls_known)
        right = _evaluate(facts, expr.right, scope, seen, calls_known)
        if fold is None or left is None or right is None:
            return None
        try:
            return fold(left, right)
        except ZeroDivisionError:
            return None
    if isinstance(expr, cst.Call):
        fold = _FOLDS.get(facts.qualname(expr.func, scope) or "")
        if fold is None or not expr.args or has_splat(expr) or any(a.keyword for a in expr.args):
            return None
        values = [_evaluate(facts, a.value, scope, seen, calls_known) for a in expr.args]
        return None if any(v is None for v in values) or len(values) < 2 else fold(values)
    return None


def _name_value(facts: FileFacts, name: str, scope: Scope, seen: _Seen, calls_known: bool) -> int | None:
    """The value of a name bound by exactly one plain assignment, in the scope the use sees."""
    binder = facts.binding_scope(name, scope)
    if binder is None or name in binder.imports or (id(binder), name) in seen:
        return None
    function = next((f for f in facts.functions if f.scope is binder), None) if binder.kind == "function" else None
    if function is not None and name in parameter_names(function.node.params):
        return _parameter_value(facts, name, function, seen | {(id(binder), name)}) if calls_known else None
    values = [
        site.value
        for site in facts.assignments
        if isinstance(site.target, cst.Name)
        and site.target.value == name
        and facts.binding_scope(name, site.scope) is binder
    ]
    if len(values) != 1 or values[0] is None:
        return None
    return _evaluate(facts, values[0], binder, seen | {(id(binder), name)}, calls_known)


def _parameter_value(facts: FileFacts, name: str, function: FunctionSite, seen: _Seen) -> int | None:
    """The one value parameter `name` of `function` takes in every call in the file: its
    default where a call omits it, or a constant passed by keyword or position. None when the
    name is reassigned in the body, or any call is unreadable."""
    binder = function.scope
    if binder.parent is None or binder.parent.kind != "module":
        return None  # a method or a nested function: its calls are not all plain calls by name
    if any(isinstance(s.target, cst.Name) and s.target.value == name and s.scope is binder for s in facts.assignments):
        return None
    params = function.node.params
    positional = [*params.posonly_params, *params.params]
    param = next((p for p in [*positional, *params.kwonly_params] if p.name.value == name), None)
    if param is None:
        return None
    position = next((i for i, p in enumerate(positional) if p is param), None)
    prefix = f"{facts.module_name}." if facts.module_name else ""
    values: set[int | None] = set()
    for call in facts.calls_to(prefix + function.qualname):
        if has_splat(call.node):
            return None
        passed = call.argument(position, name) if position is not None else call.keyword(name)
        if passed is not None:
            values.add(_evaluate(facts, passed.value, call.scope, seen, True))
        elif param.default is not None:
            values.add(_evaluate(facts, param.default, binder.parent, seen, True))
        else:
            return None
    if not values and param.default is not None:
        values.add(_evaluate(facts, param.default, binder.parent, seen, True))
    return values.pop() if len(values) == 1 else None


# -- fixes: arguments ----------------------------------------------------


def with_keywords(call: cst.Call, positions: dict[str, int], values: dict[str, cst.BaseExpression]) -> cst.Call:
    """`call` with each keyword in `values` set: a literal `None` passed for it is replaced
    in place; otherwise the keyword is appended, keeping the call's layout."""
    args = list(call.args)
    appended = []
    for name, value in values.items():
        existing = argument(call, positions[name], name)
        if existing is not None:
            args[call.args.index(existing)] = existing.with_changes(value=value)
        else:
            appended.append(cst.Arg(value=value, keyword=cst.Name(name), equal=_EQUAL))
    # Appending changes the last argument's comma, so it comes after the in-place replacements.
    for arg in appended:
        args = _appended(args, arg)
    return call.with_changes(args=args)


_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def _appended(args: list[cst.Arg], new: cst.Arg) -> list[cst.Arg]:
    if not args:
        return [new]
    last = args[-1]
    if isinstance(last.comma, cst.Comma):
        # A trailing comma: the new argument takes it, and the old last argument takes
        # the separator the call already uses between arguments (often a line break).
        separator = args[-2].comma if len(args) > 1 and isinstance(args[-2].comma, cst.Comma) else _SPACED_COMMA
        return [*args[:-1], last.with_changes(comma=separator), new.with_changes(comma=last.comma)]
    return [*args[:-1], last.with_changes(comma=_SPACED_COMMA), new]


_SPACED_COMMA = cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))


# -- fixes: names --------------------------------------------------------


def module_reference(
    facts: FileFacts, module: str, attribute: str, scopes: Sequence[Scope], alias: str | None = None
) -> tuple[str, tuple[Edit, ...]] | None:
    """Source text naming `<module>.<attribute>` in every scope of `scopes`, through the
    file's own imports, or through a new module-level import when the name is free.
    None when neither works (the name is shadowed, or taken by something else)."""
    qualname = f"{module}.{attribute}"
    text = facts.expression_for(qualname)
    if text is not None:
        expression = cst.parse_expression(text)
        if all(facts.qualname(expression, scope) == qualname for scope in scopes):
            return text, ()
        return None
    for name in (alias, module) if alias else (module,):
        if "." not in name and all(facts.binding_scope(name, scope) is None for scope in scopes):
            return f"{name}.{attribute}", (AddImport(module, None if name == module else name),)
    return None


def seeded_generator(ctx: RuleContext, scope: Scope) -> tuple[cst.BaseExpression, tuple[Edit, ...]] | None:
    """`torch.Generator().manual_seed(SEED)`, naming torch as the file does at `scope`."""
    reference = module_reference(ctx.facts, "torch", "Generator", [scope])
    if reference is None:
        return None
    text, edits = reference
    return cst.parse_expression(f"{text}().manual_seed({ctx.seed})"), edits


def numpy_available(ctx: RuleContext) -> bool:
    """numpy is imported somewhere in the linted project, so a new `import numpy` will work."""
    return any(m == "numpy" or m.startswith("numpy.") for m in ctx.project.imported_modules)


# -- fixes: the seed_worker helper ---------------------------------------


@dataclass(frozen=True)
class WorkerSeedHelper:
    """The module-level `seed_worker` function a fix passes as `worker_init_fn`."""

    name: str
    edits: tuple[Edit, ...]  # empty when the file already defines this exact helper


def worker_seed_helper(ctx: RuleContext) -> WorkerSeedHelper | None:
    """The helper for this file: an identical existing definition, or a new one under a free name.

    Every DataLoader in a file gets the same `Insert` and imports, so the fixes agree
    and the helper is inserted once.
    """
    facts = ctx.facts
    module_scope = facts.module_scope
    parts = _helper_parts(ctx)
    if parts is None:
        return None
    body, edits = parts
    for suffix in range(1, _MAX_HELPER_SUFFIX + 1):
        name = HELPER_NAME if suffix == 1 else f"{HELPER_NAME}_{suffix}"
        code = f"def {name}(worker_id):\n{body}"
        binder = facts.binding_scope(name, module_scope)
        if binder is None:
            return WorkerSeedHelper(name, (*edits, _insert_after_imports(facts, code)))
        existing = _module_function(facts, name)
        if existing is not None and _same_function(existing.node, code):
            return WorkerSeedHelper(name, edits)
    return None


def _helper_parts(ctx: RuleContext) -> tuple[str, tuple[Edit, ...]] | None:
    """The helper's body, seeding numpy (when the project has it) and `random` from the
    worker's torch seed, with the imports it needs."""
    scopes = [ctx.facts.module_scope]
    references = [module_reference(ctx.facts, "torch", "initial_seed", scopes)]
    if numpy_available(ctx):
        references.append(module_reference(ctx.facts, "numpy", "random.seed", scopes, alias="np"))
    references.append(module_reference(ctx.facts, "random", "seed", scopes))
    if any(r is None for r in references):
        return None
    (initial_seed, _), *seeders = references  # type: ignore[misc]
    lines = [f"    worker_seed = {initial_seed}() % 2**32\n"]
    lines += [f"    {seeder}(worker_seed)\n" for seeder, _ in seeders]  # type: ignore[misc]
    edits = tuple(edit for _, found in references for edit in found)  # type: ignore[misc]
    return "".join(lines), edits


def _module_function(facts: FileFacts, name: str) -> FunctionSite | None:
    for function in facts.functions:
        if function.qualname == name and function.scope.parent is facts.module_scope:
            bound = facts.module_scope.imports.get(name, set())
            if len(bound) == 1 and name not in facts.module_scope.locals:
                return function
    return None


def _same_function(node: cst.FunctionDef, code: str) -> bool:
    """Same code up to formatting and comments: compared as Python ASTs."""
    existing = node.with_changes(leading_lines=())
    return ast.dump(ast.parse(code_of(existing))) == ast.dump(ast.parse(code))


def _insert_after_imports(facts: FileFacts, code: str) -> Insert:
    body = facts.module.body
    position = header_end(facts.module)
    if position > 0:
        # PEP 8's two blank lines between the imports and a top-level function.
        return Insert(body[position - 1], "\n\n" + code, after=True)
    return Insert(body[0], code)
