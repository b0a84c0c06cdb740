"""What a call or an assignment does to the process's reproducibility state.

The project pass gathers these effects per function and follows calls across
files, so that "the program seeds torch" holds when a helper in another module
does it. Effects are short strings:

- ``seed:torch``, ``seed:random``, ``seed:numpy``: that global RNG was seeded;
- ``deterministic-mode``: ``torch.use_deterministic_algorithms(True)``;
- ``cudnn-deterministic``: ``torch.backends.cudnn.deterministic = True``;
- ``env:<NAME>``: the environment variable NAME was set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import libcst as cst

from repro_lint.facts import literal_bool, string_value

if TYPE_CHECKING:
    from repro_lint.facts import AssignSite, CallSite, FileFacts

ENVIRON = "os.environ"
_ENV_SETTERS = {"os.environ.setdefault", "os.putenv", "os.environ.update"}


def call_effects(call: CallSite, facts: FileFacts) -> frozenset[str]:
    name = call.qualname
    if name is None:
        return frozenset()
    if name in _ENV_SETTERS:
        first = call.argument(0, "key")
        key = string_value(first.value) if first else None
        if key:
            return frozenset({f"env:{key}"})
        if name == "os.environ.update" and first is not None and isinstance(first.value, cst.Dict):
            return frozenset(
                f"env:{k}" for e in first.value.elements
                if isinstance(e, cst.DictElement) and (k := string_value(e.key))
            )
        return frozenset()
    if name == "torch.use_deterministic_algorithms":
        mode = call.argument(0, "mode")
        if mode is not None and literal_bool(mode.value) is True:
            return frozenset({"deterministic-mode"})
    return frozenset()


def assignment_effects(site: AssignSite, facts: FileFacts) -> frozenset[str]:
    target = site.target
    if isinstance(target, cst.Subscript) and facts.qualname(target.value, site.scope) == ENVIRON:
        elements = target.slice
        if len(elements) == 1 and isinstance(elements[0].slice, cst.Index):
            key = string_value(elements[0].slice.value)
            if key:
                return frozenset({f"env:{key}"})
    if site.target_qualname == "torch.backends.cudnn.deterministic" and literal_bool(site.value) is True:
        return frozenset({"cudnn-deterministic"})
    return frozenset()
