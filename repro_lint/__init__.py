"""repro-lint: find and fix what makes PyTorch training runs non-reproducible."""

from pathlib import Path

__version__ = "0.1.0"

# Installed, the rules are the subpackage `repro_lint/rules/`; in a source checkout they are
# `rules/` beside this package. Searching the checkout here means that an editable install of
# another checkout (whose import hook maps `repro_lint.rules` to its own `rules/`) never
# supplies this checkout's rules.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "rules" / "__init__.py").is_file() and (_checkout / "pyproject.toml").is_file():
    __path__.append(str(_checkout))
