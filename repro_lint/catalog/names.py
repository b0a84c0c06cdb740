"""The public spelling of a torch name, whichever module path the code imported it by."""

from __future__ import annotations

# Where torch defines a public name under a private or submodule path, map the
# defining path back to the public one, so that `from torch.nn.modules.conv import
# Conv2d` and `torch.nn.Conv2d` meet the same catalog entry.
_ALIAS_PREFIXES: tuple[tuple[str, str], ...] = (
    ("torch._C._VariableFunctions.", "torch."),
    ("torch._C._TensorBase.", "torch.Tensor."),
    ("torch._C.TensorBase.", "torch.Tensor."),
    ("torch._tensor.Tensor.", "torch.Tensor."),
    ("torch.functional.", "torch."),
    ("torch.nn.modules.", "torch.nn."),
)


def canonical_name(qualname: str) -> str:
    """Map an alias path of a torch name to the public spelling the catalog uses."""
    for prefix, public in _ALIAS_PREFIXES:
        if qualname.startswith(prefix):
            rest = qualname[len(prefix):]
            if public == "torch.nn.":
                # torch.nn.modules.conv.Conv2d -> torch.nn.Conv2d
                rest = rest.rsplit(".", 1)[-1]
            return public + rest
    return qualname
