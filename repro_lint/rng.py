"""The global RNGs and the calls that touch them: which calls draw from torch's,
Python's `random` or numpy's global RNG, and which seed them (ecosystem helpers
included).

A core fact: the project pass, the program model and the seeding rules all ask it.
The tables follow `pytorch-determinism/facts.md` §5 (ecosystem seed helpers) and
the RNG entries of the catalog draft; the torch consumers are the public forms of
the aten ops torch 2.13 tags `nondeterministic_seeded`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import libcst as cst

from repro_lint.cst_values import argument, has_star_args, is_none, literal_bool
from repro_lint.facts import CallSite, FileFacts

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
DATA_LOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})
# Where DataLoader takes these when they are passed by position.
_LOADER_POSITIONS = {
    "dataset": 0, "shuffle": 2, "sampler": 3, "num_workers": 5, "collate_fn": 6, "worker_init_fn": 10, "generator": 12,
}


def loader_argument(call: cst.Call, name: str, splatted: Mapping[str, cst.Arg] | None = None) -> cst.Arg | None:
    """A `DataLoader(...)` call's argument `name`, passed by position or by keyword, or by one of
    the call's `**` splats (`splatted`: see `FileFacts.splatted_keywords`)."""
    found = argument(call, _LOADER_POSITIONS[name], name)
    return found if found is not None or splatted is None else splatted.get(name)


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
    if name in DATA_LOADERS:
        shuffle = loader_argument(call.node, "shuffle")
        return TORCH if shuffle is not None and literal_bool(shuffle.value) is not False else None
    if call.method in _TORCH_INPLACE_SAMPLERS and (name is None or name.startswith("torch.")):
        return TORCH
    return None


# Words of a name that holds a network address or a plotting colour: a value no result depends on.
_LABEL_WORDS = frozenset({
    "port", "url", "addr", "address", "host", "color", "colors", "colour", "colours", "palette",
})


def drawn_for_a_label(call: CallSite) -> bool:
    """The draw's statement only stores a value under names for a port, an address or a colour
    (`args.dist_url = f"tcp://localhost:{random.randrange(49152, 65535)}"`, `colors = random.sample(...)`):
    two runs differ only in those."""
    names = _stored_as(call.statement)
    return bool(names) and all(_LABEL_WORDS & set(name.lower().split("_")) for name in names)


_EVALUATION_WORDS = frozenset({"val", "valid", "validation", "test", "testing", "eval", "evaluation", "dev"})
_EVALUATION_SPLIT_KEYWORDS = frozenset({"split", "mode", "subset", "image_set", "phase"})


def feeds_evaluation(call: CallSite, facts: FileFacts) -> bool:
    """A `DataLoader(...)` for evaluation: stored under a name for a validation or test loader
    (`val_loader`, `testloader`), or over a dataset that is a validation or test split (`train=False`,
    `split="val"`, a positional "TEST", or a dataset variable so named). The order of its batches
    changes no sum, mean or count taken over them."""
    if call.qualname not in DATA_LOADERS:
        return False
    if any(_evaluation_name(name) for name in _stored_as(call.statement)):
        return True
    dataset = loader_argument(call.node, "dataset", facts.splatted_keywords(call))
    if dataset is None:
        return False
    value = dataset.value
    if isinstance(value, cst.Name):
        if _evaluation_name(value.value):
            return True
        value = facts.value_before(value.value, call) or value
    return isinstance(value, cst.Call) and _evaluation_split(value)


def _evaluation_name(name: str) -> bool:
    lowered = name.lower()
    return bool(_EVALUATION_WORDS & set(lowered.split("_"))) or lowered.startswith(("val", "test", "eval"))


def _evaluation_split(dataset: cst.Call) -> bool:
    for arg in dataset.args:
        keyword = arg.keyword.value if arg.keyword is not None else None
        if keyword == "train" and literal_bool(arg.value) is False:
            return True
        text = arg.value.evaluated_value if isinstance(arg.value, cst.SimpleString) else None
        if isinstance(text, str) and (keyword is None or keyword in _EVALUATION_SPLIT_KEYWORDS):
            if text.lower() in _EVALUATION_WORDS:
                return True
    return False


def _stored_as(line: cst.CSTNode) -> list[str]:
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return []
    statement = line.body[0]
    if isinstance(statement, cst.Assign):
        return [_target_name(target.target) for target in statement.targets]
    if isinstance(statement, cst.AnnAssign):
        return [_target_name(statement.target)]
    return []


def _target_name(target: cst.BaseExpression) -> str:
    """`x`, `args.x` and `env["X"]` all give the name "x"/"X"."""
    if isinstance(target, cst.Attribute):
        return target.attr.value
    if isinstance(target, cst.Name):
        return target.value
    if isinstance(target, cst.Subscript) and len(target.slice) == 1:
        index = target.slice[0].slice
        if isinstance(index, cst.Index) and isinstance(index.value, cst.SimpleString):
            return index.value.raw_value
    return ""


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
        return helper.when_missing == "entropy" and not call.has_star_kwargs and not has_star_args(call.node)
    return helper.none_is_entropy and is_none(argument.value)


def seeded_rngs(call: CallSite) -> frozenset[str]:
    """The global RNGs this call seeds with a chosen (non-entropy) value."""
    helper = seed_call(call)
    if helper is None or picks_random_seed(call, helper):
        return frozenset()
    if seed_argument(call, helper) is None and helper.when_missing == "required":
        return frozenset()
    return helper.rngs



