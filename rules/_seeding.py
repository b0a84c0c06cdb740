"""Shared by the seeding rules (RPL101-RPL107): which calls draw from a global RNG,
which calls seed one, which seeds come from entropy, and the seeding-block fix.

The tables follow `pytorch-determinism/facts.md` §5 (ecosystem seed helpers) and
the RNG entries of the catalog draft; the torch consumers are the public forms of
the aten ops torch 2.13 tags `nondeterministic_seeded`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import libcst as cst

from repro_lint.facts import CallSite, FileFacts, literal_bool
from repro_lint.fixes import header_end, insert_at_program_start
from repro_lint.rule import SAFE, TEST_CODE, AddImport, Edit, Fix, RuleContext, Violation, strict_note

if TYPE_CHECKING:
    from repro_lint.program import Program

TORCH = "torch"
RANDOM = "random"
NUMPY = "numpy"
# The order of the lines in an inserted seeding block.
RNGS = (RANDOM, NUMPY, TORCH)
RNG_LABEL = {TORCH: "torch's global RNG", RANDOM: "Python's `random` module", NUMPY: "numpy's global RNG"}
SEED_FUNCTION = {TORCH: "torch.manual_seed", RANDOM: "random.seed", NUMPY: "numpy.random.seed"}

# -- consumers ------------------------------------------------------------

_TORCH_SAMPLING_FUNCTIONS = frozenset(
    f"torch.{name}"
    for name in (
        "rand", "rand_like", "randn", "randn_like", "randint", "randint_like", "randperm",
        "bernoulli", "multinomial", "normal", "poisson", "dropout", "alpha_dropout",
        "feature_alpha_dropout", "rrelu", "svd_lowrank", "pca_lowrank", "lobpcg",
    )
) | frozenset(
    f"torch.nn.functional.{name}"
    for name in ("gumbel_softmax", "rrelu", "fractional_max_pool2d", "fractional_max_pool3d")
) | frozenset({"torch.utils.data.random_split", "torch.utils.data.dataset.random_split"})

# Functional dropout draws only in training mode: the default for these...
_TORCH_DROPOUT_FUNCTIONS = frozenset(
    f"torch.nn.functional.{name}" for name in ("dropout", "dropout1d", "dropout2d", "dropout3d")
)
# ...but not for these, which default to `training=False`.
_TORCH_EVAL_DEFAULT_DROPOUT_FUNCTIONS = frozenset(
    f"torch.nn.functional.{name}" for name in ("alpha_dropout", "feature_alpha_dropout")
)

_TORCH_SAMPLERS = frozenset(
    f"torch.utils.data.{name}"
    for name in ("RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler")
) | frozenset(
    f"torch.utils.data.sampler.{name}"
    for name in ("RandomSampler", "SubsetRandomSampler", "WeightedRandomSampler")
)
_DATA_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})

_TORCH_INPLACE_SAMPLERS = frozenset(
    {"uniform_", "normal_", "random_", "bernoulli_", "exponential_", "cauchy_", "geometric_", "log_normal_"}
)

_NN_INIT = frozenset(
    f"torch.nn.init.{name}{suffix}"
    for name in (
        "uniform", "normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
        "kaiming_normal", "orthogonal", "sparse", "trunc_normal",
    )
    for suffix in ("_", "")
)

# Layers whose constructor draws their initial parameters from the RNG.
_NN_RANDOM_INIT_LAYERS = frozenset(
    f"torch.nn.{name}"
    for name in (
        "Linear", "Bilinear", "LazyLinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
        "ConvTranspose2d", "ConvTranspose3d", "LazyConv1d", "LazyConv2d", "LazyConv3d",
        "Embedding", "EmbeddingBag", "RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell",
        "MultiheadAttention", "Transformer", "TransformerEncoderLayer", "TransformerDecoderLayer",
    )
)
# Layers that draw in their forward pass (in training): building one means the program
# will draw, and a module's forward call cannot be followed statically.
_NN_DROPOUT_LAYERS = frozenset(
    f"torch.nn.{name}"
    for name in ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout")
)
_NN_RANDOM_FORWARD_LAYERS = frozenset(
    f"torch.nn.{name}" for name in ("RReLU", "FractionalMaxPool2d", "FractionalMaxPool3d")
)

_PYTHON_RANDOM_FUNCTIONS = frozenset(
    f"random.{name}"
    for name in (
        "random", "uniform", "randint", "randrange", "choice", "choices", "shuffle", "sample",
        "gauss", "normalvariate", "lognormvariate", "expovariate", "vonmisesvariate",
        "gammavariate", "betavariate", "paretovariate", "weibullvariate", "triangular",
        "getrandbits", "randbytes", "binomialvariate",
    )
)

_NUMPY_LEGACY_FUNCTIONS = frozenset(
    f"numpy.random.{name}"
    for name in (
        "rand", "randn", "randint", "random", "random_sample", "ranf", "sample", "choice",
        "shuffle", "permutation", "bytes", "uniform", "normal", "standard_normal", "beta",
        "binomial", "chisquare", "dirichlet", "exponential", "f", "gamma", "geometric",
        "gumbel", "hypergeometric", "laplace", "logistic", "lognormal", "logseries",
        "multinomial", "multivariate_normal", "negative_binomial", "noncentral_chisquare",
        "noncentral_f", "pareto", "poisson", "power", "rayleigh", "standard_cauchy",
        "standard_exponential", "standard_gamma", "standard_t", "triangular", "vonmises",
        "wald", "weibull", "zipf", "random_integers",
    )
)


def consumed_rng(call: CallSite) -> str | None:
    """The global RNG this call draws from, or None."""
    name = call.qualname
    if name in _PYTHON_RANDOM_FUNCTIONS:
        return RANDOM
    if name in _NUMPY_LEGACY_FUNCTIONS:
        return NUMPY
    if _has_own_generator(call):
        return None
    if name in _TORCH_DROPOUT_FUNCTIONS or name in _TORCH_EVAL_DEFAULT_DROPOUT_FUNCTIONS:
        training = call.argument(2, "training")
        if training is None:
            drops = name in _TORCH_DROPOUT_FUNCTIONS
        else:
            drops = literal_bool(training.value) is not False
        return TORCH if drops and not _literal_zero(call.argument(1, "p")) else None
    if name in _TORCH_SAMPLING_FUNCTIONS or name in _NN_INIT or name in _NN_RANDOM_INIT_LAYERS:
        return TORCH
    if name in _NN_DROPOUT_LAYERS:
        return None if _literal_zero(call.argument(0, "p")) else TORCH
    if name in _NN_RANDOM_FORWARD_LAYERS:
        return TORCH
    if name in _TORCH_SAMPLERS:
        return TORCH
    if name in _DATA_LOADERS:
        shuffle = call.argument(2, "shuffle")
        return TORCH if shuffle is not None and literal_bool(shuffle.value) is not False else None
    if call.method in _TORCH_INPLACE_SAMPLERS and (name is None or name.startswith("torch.")):
        return TORCH
    return None


def _has_own_generator(call: CallSite) -> bool:
    generator = call.keyword("generator")
    return generator is not None and not (isinstance(generator.value, cst.Name) and generator.value.value == "None")


def _literal_zero(arg: cst.Arg | None) -> bool:
    return arg is not None and literal_bool(arg.value) is False and not isinstance(arg.value, cst.Name)


# -- seed calls -----------------------------------------------------------


@dataclass(frozen=True)
class SeedCall:
    """A function that seeds global RNGs from its argument."""

    rngs: frozenset[str]
    parameter: str = "seed"
    # What happens without a seed argument: "entropy" (a random seed), "default"
    # (a fixed default) or "required" (the call fails without one).
    when_missing: str = "required"
    # Whether an explicit `None` means a random seed.
    none_is_entropy: bool = True


_EVERY_RNG = frozenset({TORCH, RANDOM, NUMPY})
_HELPER = SeedCall(_EVERY_RNG)
_RANDOM_WHEN_MISSING = SeedCall(_EVERY_RNG, when_missing="entropy")
# Lightning 2.x falls back to $PL_GLOBAL_SEED or 0 when the seed is missing or None.
_LIGHTNING = SeedCall(_EVERY_RNG, when_missing="default", none_is_entropy=False)

SEED_CALLS: dict[str, SeedCall] = {
    "torch.manual_seed": SeedCall(frozenset({TORCH}), none_is_entropy=False),
    "torch.random.manual_seed": SeedCall(frozenset({TORCH}), none_is_entropy=False),
    "random.seed": SeedCall(frozenset({RANDOM}), parameter="a", when_missing="entropy"),
    "numpy.random.seed": SeedCall(frozenset({NUMPY}), when_missing="entropy"),
    **{
        name: _LIGHTNING
        for name in (
            "lightning.seed_everything", "lightning.pytorch.seed_everything",
            "lightning.fabric.seed_everything", "lightning.fabric.utilities.seed.seed_everything",
            "lightning.fabric.Fabric.seed_everything", "lightning.Fabric.seed_everything",
            "pytorch_lightning.seed_everything", "pytorch_lightning.utilities.seed.seed_everything",
            "lightning_fabric.seed_everything", "lightning_fabric.utilities.seed.seed_everything",
        )
    },
    **{
        name: _HELPER
        for name in (
            "transformers.set_seed", "transformers.trainer_utils.set_seed",
            "transformers.enable_full_determinism", "transformers.trainer_utils.enable_full_determinism",
            "accelerate.utils.set_seed", "accelerate.utils.random.set_seed",
            "mmdet.apis.set_random_seed", "mmseg.apis.set_random_seed", "mmcls.apis.set_random_seed",
            "mmdet3d.apis.set_random_seed", "torch_geometric.seed_everything",
            "torch_geometric.seed.seed_everything", "ignite.utils.manual_seed",
            "torchtnt.utils.env.seed", "keras.utils.set_random_seed",
        )
    },
    **{
        name: SeedCall(_EVERY_RNG, parameter="s")
        for name in ("fastai.torch_core.set_seed", "fastai.vision.all.set_seed", "fastai.text.all.set_seed")
    },
    "mmengine.runner.set_random_seed": _RANDOM_WHEN_MISSING,
    "mmengine.runner.utils.set_random_seed": _RANDOM_WHEN_MISSING,
    "detectron2.utils.env.seed_all_rng": _RANDOM_WHEN_MISSING,
    # MONAI's default seed is a fixed number; only an explicit None is random.
    "monai.utils.set_determinism": SeedCall(_EVERY_RNG, when_missing="default"),
    "timm.utils.random_seed": SeedCall(_EVERY_RNG, when_missing="default"),
    "timm.utils.random.random_seed": SeedCall(_EVERY_RNG, when_missing="default"),
    "fairseq.utils.set_torch_seed": SeedCall(frozenset({TORCH})),
}

# Calls that reseed from OS entropy whatever they are given.
ENTROPY_RESEEDS = frozenset({
    "torch.seed", "torch.random.seed", "torch.default_generator.seed",
    "torch.cuda.seed", "torch.cuda.seed_all", "torch.cuda.random.seed", "torch.cuda.random.seed_all",
})
CUDA_SEEDS = frozenset({"torch.cuda.manual_seed", "torch.cuda.manual_seed_all", "torch.cuda.random.manual_seed",
                        "torch.cuda.random.manual_seed_all"})
# Objects with their own stream, seeded by their first argument (RPL104 checks what they get).
SEEDED_CONSTRUCTORS = frozenset({
    "numpy.random.default_rng", "numpy.random.RandomState", "random.Random",
    *(f"numpy.random.{bits}" for bits in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")),
})
NUMPY_BIT_GENERATORS = frozenset(
    f"numpy.random.{bits}" for bits in ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")
)
NUMPY_STREAM_CONSTRUCTORS = frozenset({"numpy.random.default_rng", "numpy.random.RandomState"})


def seed_call(call: CallSite) -> SeedCall | None:
    """The seed helper this call is, by name (`fabric.seed_everything(...)` included)."""
    if call.qualname in SEED_CALLS:
        return SEED_CALLS[call.qualname]
    if call.qualname is None and call.method == "seed_everything":
        return _LIGHTNING
    return None


def seed_argument(call: CallSite, helper: SeedCall) -> cst.Arg | None:
    return call.argument(0, helper.parameter)


def picks_random_seed(call: CallSite, helper: SeedCall) -> bool:
    """True when the helper is called so that it seeds from entropy: no seed, or `None`."""
    argument = seed_argument(call, helper)
    if argument is None:
        return helper.when_missing == "entropy" and not call.has_star_kwargs and not _has_star_args(call)
    return helper.none_is_entropy and is_none(argument.value)


def seeded_rngs(call: CallSite) -> frozenset[str]:
    """The global RNGs this call seeds with a chosen (non-entropy) value."""
    helper = seed_call(call)
    if helper is None or picks_random_seed(call, helper):
        return frozenset()
    if seed_argument(call, helper) is None and helper.when_missing == "required":
        return frozenset()
    return helper.rngs


def is_none(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "None"


def _has_star_args(call: CallSite) -> bool:
    return any(arg.star == "*" for arg in call.node.args)


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
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.Call):
            yield node
        stack.extend(reversed(node.children))


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
    for rng in RNGS:
        if rng not in wanted:
            continue
        function = SEED_FUNCTION[rng]
        expression = usable_expression(facts, function, position)
        if expression is None:
            alias = "np" if rng == NUMPY and not facts.module_scope.binds("np") else None
            imports.append(AddImport(rng, alias))
            expression = ".".join([alias or rng, *function.split(".")[1:]])
        lines.append(f"{expression}({seed})")
    code = "\n".join(lines) + "\n"
    names = ", ".join(f"`{SEED_FUNCTION[r]}`" for r in RNGS if r in wanted)
    insert = insert_at_program_start(module, main_block, code)
    return Fix(SAFE, f"Seed at the start of the program: {names}", (insert, *imports))


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
    reason = TEST_CODE if ctx.is_test_code else None
    if not program.is_program or not ctx.reports(reason):
        return
    unseeded = program.unseeded()
    consumption = unseeded.get(rng)
    if consumption is None:
        return
    fix = seeding_block_fix(ctx.facts, unseeded, ctx.seed, program.seeding_starts_in_main_block())
    callee = code_of(consumption.call.node.func)
    yield Violation(
        consumption.call.node,
        f"`{callee}(...)` draws from {RNG_LABEL[rng]}, and the program reaches no seed for it before this call"
        + strict_note(reason),
        fix,
    )


def code_of(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


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
