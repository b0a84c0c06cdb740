"""A file's identity in the project: its module name, the other names it is imported by,
and how its own absolute imports resolve."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModuleIdentity:
    """Who a file is to the project: the name it is known by, and how its absolute imports resolve.

    The name is the file's dotted path from the project root, so that two script folders'
    `models.py` stay two modules. A script's own folder comes first on `sys.path`: an import
    of a module that sits in that folder (`siblings`) means that module, under its full name.
    """

    name: str = ""
    is_package: bool = False
    other_names: tuple[str, ...] = ()  # shorter names it is imported by: `utils` for `src/utils.py`
    import_folder: str = ""  # the dotted path of the folder `siblings` are in, from the project root
    siblings: frozenset[str] = frozenset()

    def absolute_import(self, dotted: str) -> str:
        """The project name of what `import <dotted>` in this file imports."""
        if self.siblings and dotted.partition(".")[0] in self.siblings:
            return f"{self.import_folder}.{dotted}"
        return dotted


def module_identity(path: Path, root: Path) -> ModuleIdentity:
    """`path`'s identity in a project rooted at `root`.

    Walks up while the folder is a package (has `__init__.py`); the folders above, up to the
    root, are namespace packages.
    """
    path = path.resolve()
    root = root.resolve()
    is_package = path.name == "__init__.py"
    parts = [] if is_package else [path.stem]
    folder = path.parent
    while (folder / "__init__.py").is_file() and folder.parent != folder:
        parts.append(folder.name)
        folder = folder.parent
    own_name = ".".join(reversed(parts))
    if folder == root or root not in folder.parents:  # on the root, or outside the project
        return ModuleIdentity(own_name, is_package)
    import_folder = folder.relative_to(root).parts
    # Each folder between the root and the import folder gives one more (namespace package) name.
    shorter = tuple(".".join((*import_folder[i:], own_name)) for i in range(1, len(import_folder)))
    # A file that imports its own name (`lightning.py` importing `lightning`) means the library.
    siblings = _importable_names(folder) - {parts[-1]}
    return ModuleIdentity(".".join((*import_folder, own_name)), is_package, (own_name, *reversed(shorter)),
                          ".".join(import_folder), siblings)


@functools.lru_cache(maxsize=1024)
def _importable_names(folder: Path) -> frozenset[str]:
    """The modules and regular packages directly in `folder`."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return frozenset()
    return frozenset(
        entry.stem if entry.suffix == ".py" else entry.name
        for entry in entries
        if (entry.suffix == ".py" and entry.is_file()) or (entry / "__init__.py").is_file()
    )
