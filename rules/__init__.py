"""The rules: one class per module in this package, found by `all_rules()`.

Adding a rule means adding a module here (and its fixtures); nothing else
needs to be registered.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from repro_lint.rule import Rule


@cache
def all_rules() -> tuple[type[Rule], ...]:
    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Rule) and value is not Rule and "code" in vars(value):
                value.validate_definition()
                if value.code in found and found[value.code] is not value:
                    raise ValueError(f"rule code {value.code} is defined twice")
                found[value.code] = value
    return tuple(found[code] for code in sorted(found))
