"""Shared by the seeding rules (RPL101-RPL107): which seeds come from entropy, and the
seeding-block fix. What draws from and seeds the global RNGs is `repro_lint.rng`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import libcst as cst

from repro_lint.cst_values import code_of, string_value
from repro_lint.facts import CallSite, FileFacts
from repro_lint.fixes import header_end, insert_at_program_start
from repro_lint.rng import NUMPY, RNG_LABEL, RNGS, SEED_FUNCTION
from repro_lint.rule import SAFE, SELF_TEST, TEST_CODE, AddImport, Edit, Fix, RuleContext, Violation, strict_note
from repro_lint.traversal import descendants

if TYPE_CHECKING:
    from repro_lint.program import Program


# -- entropy --------------------------------------------------------------

_ENTROPY_CALLS = frozenset({
    "time.time", "time.time_ns", "time.perf_counter", "time.perf_counter_ns", "time.monotonic",
    "time.monotonic_ns", "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today",
    "os.urandom", "os.getpid", "uuid.uuid1", "uuid.uuid4", "random.SystemRandom",
})
_ENTROPY_MODULES = ("secrets.",)


def entropy_call(expr: cst.CSTNode, facts: FileFacts, calls: dict[cst.Call, CallSite]) -> CallSite | None:
    """The first call inside `expr` whose result comes from entropy (time, pid, urandom, ...)."""
    for node in _calls_in(expr):
        site = calls.get(node)
        if site is None or site.qualname is None:
            continue
        name = site.qualname
        if name in _ENTROPY_CALLS or name.startswith(_ENTROPY_MODULES):
            return site
        if name == "builtins.hash" and _hashes_a_string(site, facts):
            return site
    return None


def _hashes_a_string(site: CallSite, facts: FileFacts) -> bool:
    """`hash("x")`, `hash(f"...")`, `hash(str(x))`: string hashes change with PYTHONHASHSEED."""
    argument = site.argument(0)
    if argument is None:
        return False
    value = argument.value
    if isinstance(value, (cst.SimpleString, cst.ConcatenatedString, cst.FormattedString)):
        return True
    return isinstance(value, cst.Call) and facts.qualname(value.func, site.scope) == "builtins.str"


def _calls_in(expr: cst.CSTNode) -> Iterator[cst.Call]:
    return (node for node in descendants(expr) if isinstance(node, cst.Call))


# -- the seeding block ----------------------------------------------------


def seeding_block_fix(facts: FileFacts, rngs: Iterable[str], seed: int, in_main_block: bool) -> Fix:
    """One block, at the program's start, that seeds exactly `rngs` with `seed`.

    Every rule that asks for the block for the same program gets the identical
    `Insert`, which the fix applier merges. Names go through the module's own
    imports when they are bound before the block; otherwise an import is added.
    """
    main_block = facts.main_block if in_main_block else None
    if main_block is not None and not isinstance(main_block.body, cst.IndentedBlock):
        main_block = None  # `if __name__ == "__main__": main()` on one line: seed after the imports
    module = facts.module
    position = _index_in_body(module, main_block) if main_block is not None else header_end(module)
    lines: list[str] = []
    imports: list[Edit] = []
    wanted = set(rngs)
    seed_text = str(seed)
    per_rank = uses_distributed_rank(facts)
    if per_rank:
        environ = usable_expression(facts, "os.environ", position)
        if environ is None:
            imports.append(AddImport("os"))
            environ = "os.environ"
        # The launcher's RANK: set before the program starts, so it is known before
        # `init_process_group`, where the block goes.
        seed_text = f'{seed} + int({environ}.get("RANK", "0"))'
    for rng in RNGS:
        if rng not in wanted:
            continue
        function = SEED_FUNCTION[rng]
        expression = usable_expression(facts, function, position)
        if expression is None:
            alias = "np" if rng == NUMPY and not facts.module_scope.binds("np") else None
            imports.append(AddImport(rng, alias))
            expression = ".".join([alias or rng, *function.split(".")[1:]])
        lines.append(f"{expression}({seed_text})")
    code = "\n".join(lines) + "\n"
    names = ", ".join(f"`{SEED_FUNCTION[r]}`" for r in RNGS if r in wanted)
    insert = insert_at_program_start(module, main_block, code)
    if per_rank:
        message = (f"Seed at the start of the program with {seed} plus the process's rank: {names}. Each rank "
                   "then draws its own samples and augmentations; a DistributedDataParallel model still starts "
                   "from rank 0's weights")
    else:
        message = f"Seed at the start of the program: {names}"
    return Fix(SAFE, message, (insert, *imports))


_RANK_CALLS = ("torch.distributed.get_rank", "torch.distributed.get_node_local_rank")
_RANK_VARIABLES = frozenset({"RANK", "LOCAL_RANK"})


def uses_distributed_rank(facts: FileFacts) -> bool:
    """The program asks for its distributed rank (`dist.get_rank()`, the `RANK`/`LOCAL_RANK` variables):
    it runs once per rank, and one constant seed would make every rank draw the same numbers."""
    if facts.calls_to(*_RANK_CALLS):
        return True
    for call in facts.calls_to("os.environ.get", "os.getenv", "os.environ.__getitem__"):
        name = call.argument(0, "key")
        if name is not None and string_value(name.value) in _RANK_VARIABLES:
            return True
    return False


def usable_expression(facts: FileFacts, qualname: str, position: int) -> str | None:
    """Source text for `qualname` that is bound before module statement number `position`."""
    expression = facts.expression_for(qualname)
    if expression is None:
        return None
    alias = expression.split(".")[0]
    bound_at = _binding_statement_index(facts, alias)
    return expression if bound_at is not None and bound_at < position else None


def _binding_statement_index(facts: FileFacts, name: str) -> int | None:
    """Index in the module body of the first top-level import statement binding `name`."""
    indexes = {id(statement): index for index, statement in enumerate(facts.module.body)}
    for site in facts.imports:
        if site.scope is not facts.module_scope or id(site.statement) not in indexes:
            continue
        if name in _bound_names(site.node):
            return indexes[id(site.statement)]
    return None


def _bound_names(node: cst.Import | cst.ImportFrom) -> set[str]:
    if isinstance(node.names, cst.ImportStar):
        return set()
    bound = set()
    for alias in node.names:
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            bound.add(alias.asname.name.value)
        elif isinstance(node, cst.Import):
            bound.add(cst.Module([]).code_for_node(alias.name).split(".")[0])
        else:
            bound.add(cst.Module([]).code_for_node(alias.name))
    return bound


def _index_in_body(module: cst.Module, statement: cst.BaseStatement) -> int:
    return next(i for i, s in enumerate(module.body) if s is statement)


def unseeded_rng_violations(program: Program, ctx: RuleContext, rng: str) -> Iterator[Violation]:
    """RPL101-RPL103: the program's first draw from `rng` when nothing seeded it before.

    The fix is the program's one seeding block, for every RNG drawn unseeded.
    """
    reason = TEST_CODE if ctx.is_test_code else SELF_TEST if program.is_self_test else None
    if not program.is_program or not ctx.reports(reason):
        return
    unseeded = program.unseeded()
    consumption = unseeded.get(rng)
    if consumption is None:
        return
    callee = code_of(consumption.call.node.func)
    if consumption.in_spawned_process:
        # The seed belongs inside the spawned function; where exactly is the author's call.
        message = (f"`{callee}(...)` draws from {RNG_LABEL[rng]} in a process `spawn` starts, which does not "
                   "inherit the parent's seeds, and that process reaches no seed for it before this call")
        fix = None
    else:
        message = (f"`{callee}(...)` draws from {RNG_LABEL[rng]}, and the program reaches no seed for it "
                   "before this call")
        guard = program.seeds_off_by_default.get(rng)
        if guard is not None:
            message += (f" when run with its defaults: its seed under `if {code_of(guard)}:` runs only when "
                        "that command-line option is given")
        fix = seeding_block_fix(ctx.facts, unseeded, ctx.seed, program.seeding_starts_in_main_block())
    yield Violation(consumption.call.node, message + strict_note(reason), fix)




def with_seed_argument(call: cst.Call, argument: cst.Arg | None, seed: int) -> cst.Call:
    """`call` with its seed argument set to `seed`: the given `argument` replaced, or a
    first positional argument added."""
    value = cst.parse_expression(str(seed))
    if argument is not None:
        args = [a.with_changes(value=value) if a is argument else a for a in call.args]
        return call.with_changes(args=args)
    comma = cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if call.args else cst.MaybeSentinel.DEFAULT
    first = cst.Arg(value, comma=comma)
    return call.with_changes(args=[first, *call.args])
