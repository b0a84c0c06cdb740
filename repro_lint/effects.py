"""What a call or an assignment does to the process's reproducibility state.

The project pass gathers these effects per function and follows calls across
files, so that "the program seeds torch" holds when a helper in another module
does it. Effects are short strings:

- ``seed:torch``, ``seed:random``, ``seed:numpy``: that global RNG was seeded with a
  chosen value (a seed from entropy, such as ``random.seed()``, does not count);
- ``rng:torch``, ``rng:random``, ``rng:numpy``: that global RNG was drawn from;
- ``deterministic-mode``: ``torch.use_deterministic_algorithms(True)``;
- ``cudnn-deterministic``: ``torch.backends.cudnn.deterministic = True``;
- ``env:<NAME>``: the environment variable NAME was set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from repro_lint.facts import literal_bool, string_value
from repro_lint.rng import RNGS, consumed_rng, seeded_rngs

if TYPE_CHECKING:
    from repro_lint.facts import AssignSite, CallSite, FileFacts

DETERMINISTIC_MODE = "deterministic-mode"
CUDNN_DETERMINISTIC = "cudnn-deterministic"
SEEDED = {rng: f"seed:{rng}" for rng in RNGS}
DREW = {rng: f"rng:{rng}" for rng in RNGS}


def env_set(name: str) -> str:
    """The effect of setting the environment variable `name`."""
    return f"env:{name}"


ENVIRON = "os.environ"
_ENV_SETTERS = {"os.environ.setdefault", "os.putenv", "os.environ.update"}
# Besides seeding, this helper sets the backend flags and variables (facts.md §5).
_FULL_DETERMINISM = frozenset({
    DETERMINISTIC_MODE, CUDNN_DETERMINISTIC,
    *(env_set(name) for name in ("CUBLAS_WORKSPACE_CONFIG", "CUDA_LAUNCH_BLOCKING", "FLASH_ATTENTION_DETERMINISTIC")),
})
_HELPERS_SETTING_FLAGS = {
    "transformers.enable_full_determinism": _FULL_DETERMINISM,
    "transformers.trainer_utils.enable_full_determinism": _FULL_DETERMINISM,
}


def call_effects(call: CallSite, facts: FileFacts) -> frozenset[str]:
    rng_effects = rng_call_effects(call)
    if rng_effects:
        return rng_effects | _HELPERS_SETTING_FLAGS.get(call.qualname or "", frozenset())
    name = call.qualname
    if name is None:
        return frozenset()
    if name in _ENV_SETTERS:
        first = call.argument(0, "key")
        key = string_value(first.value) if first else None
        if key:
            return frozenset({env_set(key)})
        if name == "os.environ.update" and first is not None and isinstance(first.value, cst.Dict):
            return frozenset(
                env_set(k) for e in first.value.elements
                if isinstance(e, cst.DictElement) and (k := string_value(e.key))
            )
        return frozenset()
    if name == "torch.use_deterministic_algorithms":
        mode = call.argument(0, "mode")
        if mode is not None and literal_bool(mode.value) is True:
            return frozenset({DETERMINISTIC_MODE})
    return frozenset()


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
