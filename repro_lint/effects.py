"""What a call or an assignment does to the process's reproducibility state.

The project pass gathers these effects per function and follows calls across
files, so that "the program seeds torch" holds when a helper in another module
does it. Effects are short strings:

- ``seed:torch``, ``seed:random``, ``seed:numpy``: that global RNG was seeded with a
  chosen value (a seed from entropy, such as ``random.seed()``, does not count);
- ``rng:torch``, ``rng:random``, ``rng:numpy``: that global RNG was drawn from;
- ``deterministic-mode``: ``torch.use_deterministic_algorithms(True)`` (and the framework
  switches that call it: Lightning's ``Trainer(deterministic=True)``, transformers'
  ``enable_full_determinism`` and ``TrainingArguments(full_determinism=True)``, accelerate's and
  transformers' ``set_seed(..., deterministic=True)``);
- ``deterministic-mode-raises``, ``deterministic-mode-warn-only``: added to ``deterministic-mode``,
  how it was turned on: so that ops without a deterministic implementation raise, or with
  ``warn_only=True`` (Lightning: ``deterministic="warn"``), where they warn and stay
  nondeterministic;
- ``cudnn-deterministic``: ``torch.backends.cudnn.deterministic = True``;
- ``computes-gradients``: a backward pass runs (``loss.backward()``, a trainer's ``fit``);
- ``loads-weights``: trained weights are read (``torch.load``, ``load_state_dict``);
- ``env:<NAME>``: the environment variable NAME was set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from repro_lint.argparse_defaults import off_by_default
from repro_lint.cst_values import is_self_attribute, literal_bool, string_value
from repro_lint.rng import RNGS, consumed_rng, seeded_rngs

if TYPE_CHECKING:
    from repro_lint.facts import AssignSite, CallSite, FileFacts

DETERMINISTIC_MODE = "deterministic-mode"
DETERMINISTIC_RAISES = "deterministic-mode-raises"
DETERMINISTIC_WARN_ONLY = "deterministic-mode-warn-only"
_RAISING_MODE = frozenset({DETERMINISTIC_MODE, DETERMINISTIC_RAISES})
_WARNING_MODE = frozenset({DETERMINISTIC_MODE, DETERMINISTIC_WARN_ONLY})
CUDNN_DETERMINISTIC = "cudnn-deterministic"
# The code runs a backward pass, so the backward kernels of the ops before it run.
COMPUTES_GRADIENTS = "computes-gradients"
_GRADIENT_FUNCTIONS = frozenset({"torch.autograd.backward", "torch.autograd.grad"})
# `loss.backward()`, `accelerator.backward(loss)`, `trainer.fit(model)` (Lightning, which runs them), and
# `optimizer.zero_grad()`, which a loop calls around a backward hidden in a helper (timm's loss scaler).
_GRADIENT_METHODS = frozenset({"backward", "fit", "zero_grad"})
# The code reads trained weights: what it built from the RNG before is overwritten.
LOADS_WEIGHTS = "loads-weights"
# Calls that read tensors from storage.
WEIGHT_LOADERS = frozenset({
    "torch.load", "torch.hub.load_state_dict_from_url", "torch.utils.model_zoo.load_url", "safetensors.torch.load_file",
})
_WEIGHT_LOADING_METHODS = frozenset({"load_state_dict", "from_pretrained", "load_from_checkpoint"})
# Calls code the linter cannot see: a callable held in a variable or attribute (`self.transform(x)`).
OPAQUE_CALL = "call:opaque"
# ... except a callable held in one of the object's own attributes: `call:self.transform`, which a
# caller that knows what was stored there (a dataset built with fixed transforms) can tell apart.
HELD_ATTRIBUTE_CALL = "call:self."
SEEDED = {rng: f"seed:{rng}" for rng in RNGS}
DREW = {rng: f"rng:{rng}" for rng in RNGS}
_DRAWS = frozenset(DREW.values())


def env_set(name: str) -> str:
    """The effect of setting the environment variable `name`."""
    return f"env:{name}"


ENVIRON = "os.environ"
_ENV_SETTERS = {"os.environ.setdefault", "os.putenv", "os.environ.update"}
_WORKSPACE = env_set("CUBLAS_WORKSPACE_CONFIG")
# Besides seeding, this helper sets the backend flags and variables (facts.md §5).
_FULL_DETERMINISM_ENV = frozenset({
    CUDNN_DETERMINISTIC,
    *(env_set(name) for name in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING", "FLASH_ATTENTION_DETERMINISTIC")),
})
FULL_DETERMINISM_HELPERS = frozenset({
    "transformers.enable_full_determinism", "transformers.trainer_utils.enable_full_determinism",
})
# `Trainer(deterministic=True | "warn" | False, benchmark=...)`: `deterministic` is keyword-only.
LIGHTNING_TRAINERS = frozenset({
    "lightning.Trainer", "lightning.pytorch.Trainer", "lightning.pytorch.trainer.Trainer",
    "lightning.pytorch.trainer.trainer.Trainer", "pytorch_lightning.Trainer", "pytorch_lightning.trainer.Trainer",
    "pytorch_lightning.trainer.trainer.Trainer",
})
# `TrainingArguments(full_determinism=True)`: the Trainer then calls `enable_full_determinism`.
TRAINING_ARGUMENTS = frozenset({
    f"transformers.{module}{name}"
    for module in ("", "training_args.", "training_args_seq2seq.")
    for name in ("TrainingArguments", "Seq2SeqTrainingArguments")
})
# `set_seed(seed, ..., deterministic=True)` calls `torch.use_deterministic_algorithms(True)`; the
# position `deterministic` has. It sets no CUBLAS_WORKSPACE_CONFIG.
SET_SEED_DETERMINISTIC = {
    "accelerate.utils.set_seed": 2, "accelerate.utils.random.set_seed": 2,
    "transformers.set_seed": 1, "transformers.trainer_utils.set_seed": 1,
}


def deterministic_mode_effects(call: CallSite) -> frozenset[str]:
    """What a call that turns on deterministic mode does: `use_deterministic_algorithms(True[, warn_only])`
    and the framework switches that call it (facts.md §5)."""
    name = call.qualname or ""
    if name == "torch.use_deterministic_algorithms":
        mode = call.argument(0, "mode")
        if mode is not None and literal_bool(mode.value) is True:
            return _mode(call.argument(1, "warn_only"))
    elif name in FULL_DETERMINISM_HELPERS:
        return _FULL_DETERMINISM_ENV | _mode(call.argument(1, "warn_only"))
    elif name in LIGHTNING_TRAINERS:
        flag = call.keyword("deterministic")
        if flag is not None and (literal_bool(flag.value) is True or string_value(flag.value) == "warn"):
            return (_WARNING_MODE if string_value(flag.value) == "warn" else _RAISING_MODE) | {_WORKSPACE}
    elif name in TRAINING_ARGUMENTS:
        flag = call.keyword("full_determinism")
        if flag is not None and literal_bool(flag.value) is True:
            return _FULL_DETERMINISM_ENV | _RAISING_MODE
    elif name in SET_SEED_DETERMINISTIC:
        flag = call.argument(SET_SEED_DETERMINISTIC[name], "deterministic")
        if flag is not None and literal_bool(flag.value) is True:
            return _RAISING_MODE
    return frozenset()


def _mode(warn_only: cst.Arg | None) -> frozenset[str]:
    """Warn-only only when provably so; an unknown `warn_only` may raise."""
    return _WARNING_MODE if warn_only is not None and literal_bool(warn_only.value) is True else _RAISING_MODE


def deterministic_mode(effects: frozenset[str]) -> str | None:
    """How these effects turn deterministic mode on: DETERMINISTIC_RAISES when ops without a
    deterministic implementation raise, DETERMINISTIC_WARN_ONLY when every switch that turns it
    on says `warn_only=True`, None when it stays off."""
    if DETERMINISTIC_MODE not in effects:
        return None
    if DETERMINISTIC_WARN_ONLY in effects and DETERMINISTIC_RAISES not in effects:
        return DETERMINISTIC_WARN_ONLY
    return DETERMINISTIC_RAISES


def runs_only_with_options(site: CallSite | AssignSite, facts: FileFacts) -> bool:
    """The call or assignment sits under an `if` on a command-line option that is false with the
    parser's defaults (`if args.seed is not None: torch.manual_seed(args.seed)`, `--seed` defaulting
    to None): run as documented, it does not happen. What it would set (seeds, modes, flags) does
    not count; what it would draw still does, so that a finding is not lost."""
    return bool(site.guards) and off_by_default(site, facts) is not None


def call_effects(call: CallSite, facts: FileFacts) -> frozenset[str]:
    if runs_only_with_options(call, facts):
        return rng_call_effects(call) & _DRAWS
    effects = rng_call_effects(call) | deterministic_mode_effects(call)
    name = call.qualname
    # `self.fit(x)` applies a submodule named `fit` (NASNet's cells); a trainer is another object.
    if name in _GRADIENT_FUNCTIONS or (call.method in _GRADIENT_METHODS and not is_self_attribute(call.node.func)):
        effects |= {COMPUTES_GRADIENTS}
    if name in WEIGHT_LOADERS or call.method in _WEIGHT_LOADING_METHODS:
        effects |= {LOADS_WEIGHTS}
    if name in _ENV_SETTERS:
        first = call.argument(0, "key")
        key = string_value(first.value) if first else None
        if key:
            return effects | {env_set(key)}
        if name == "os.environ.update" and first is not None and isinstance(first.value, cst.Dict):
            return effects | frozenset(
                env_set(k) for e in first.value.elements
                if isinstance(e, cst.DictElement) and (k := string_value(e.key))
            )
    return effects


def rng_call_effects(call: CallSite) -> frozenset[str]:
    """``seed:<rng>`` for the RNGs the call seeds, ``rng:<rng>`` for the one it draws from."""
    seeded = frozenset(SEEDED[rng] for rng in seeded_rngs(call))
    consumed = consumed_rng(call)
    return seeded | {DREW[consumed]} if consumed else seeded


def assignment_effects(site: AssignSite, facts: FileFacts) -> frozenset[str]:
    target = site.target
    if isinstance(target, cst.Subscript) and facts.qualname(target.value, site.scope) == ENVIRON:
        elements = target.slice
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            key = string_value(elements[0].slice.value)
            if key:
                return frozenset({env_set(key)})
    if site.target_qualname == "torch.backends.cudnn.deterministic" and literal_bool(site.value) is True:
        return frozenset({CUDNN_DETERMINISTIC})
    return frozenset()
