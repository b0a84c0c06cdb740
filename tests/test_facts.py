"""Name resolution and program detection in FileFacts."""

from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from repro_lint.facts import FileFacts
from repro_lint.identity import ModuleIdentity, module_identity
from repro_lint.project import ProjectFacts, summarize


def facts_for(source: str, module_name: str = "pkg.mod", is_package: bool = False) -> FileFacts:
    return FileFacts(cst.parse_module(textwrap.dedent(source)), ModuleIdentity(module_name, is_package))


def call_names(source: str, **kwargs) -> list[str | None]:
    return [c.qualname for c in facts_for(source, **kwargs).calls]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("import torch as T\nT.manual_seed(0)", "torch.manual_seed"),
        ("import torch.backends.cudnn as cudnn\ncudnn.flags()", "torch.backends.cudnn.flags"),
        ("from torch.backends import cudnn\ncudnn.flags()", "torch.backends.cudnn.flags"),
        ("from torch.utils.data import DataLoader as DL\nDL(x)", "torch.utils.data.DataLoader"),
        ("import torch.utils.data as tud\ntud.DataLoader(x)", "torch.utils.data.DataLoader"),
        ("import torch.backends.cudnn\ntorch.backends.cudnn.flags()", "torch.backends.cudnn.flags"),
        ("import numpy as np\nnp.random.seed(0)", "numpy.random.seed"),
        ("from numpy import random as npr\nnpr.rand()", "numpy.random.rand"),
        ("setattr(a, 'b', 1)", "builtins.setattr"),
        ("undefined_name()", None),
    ],
)
def test_import_forms_resolve(source: str, expected: str | None) -> None:
    assert call_names(source)[-1] == expected


def test_parameters_and_locals_shadow_modules() -> None:
    source = """
    import torch
    import random
    import torch.backends.cudnn

    def f(torch):
        torch.manual_seed(0)

    def g():
        random = make()
        random.seed(0)

    def h():
        torch.backends.cudnn.flags()
    """
    # The parameter `torch` shadows even `import torch.backends.cudnn` (libcst's provider gets this wrong).
    assert call_names(source) == [None, None, None, "torch.backends.cudnn.flags"]


def test_global_declaration_and_class_scope() -> None:
    source = """
    import random

    class Config:
        random = 3
        def method(self):
            return random.random()

    def rebinding():
        global random
        random.seed(1)
    """
    assert call_names(source) == ["random.random", "random.seed"]


def test_comprehension_and_lambda_scopes() -> None:
    source = """
    import torch
    xs = [torch.rand(1) for torch in range(3)]
    f = lambda np: np.random.rand()
    ys = [torch.rand(2) for _ in range(3)]
    """
    assert call_names(source) == [None, "builtins.range", None, "torch.rand", "builtins.range"]


def test_relative_imports_resolve_against_the_module() -> None:
    source = "from .seeding import set_seed\nfrom ..common import helpers\nset_seed(0)\nhelpers.run()"
    assert call_names(source, module_name="proj.utils.train")[-2:] == [
        "proj.utils.seeding.set_seed",
        "proj.common.helpers.run",
    ]
    assert call_names("from . import seeding\nseeding.go()", module_name="proj.utils", is_package=True) == [
        "proj.utils.seeding.go"
    ]


def test_definitions_resolve_to_module_paths() -> None:
    source = """
    def set_seed():
        pass

    class Net:
        pass

    set_seed()
    Net()
    """
    assert call_names(source) == ["pkg.mod.set_seed", "pkg.mod.Net"]


def test_tuple_assignments_pair_targets_and_values() -> None:
    facts = facts_for("import torch\nlr, torch.backends.cudnn.benchmark = 0.1, True\n")
    pairs = [(a.target_qualname, cst.Module([]).code_for_node(a.value)) for a in facts.assignments]
    assert pairs == [(None, "0.1"), ("torch.backends.cudnn.benchmark", "True")]


@pytest.mark.parametrize(
    "source, is_program",
    [
        ("import torch\n\ndef f():\n    return torch.rand(1)\n", False),
        ("import torch\nX = 3\n__all__ = ['f']\n@decorator\ndef f(): ...\nT = TypeVar('T')\n", False),
        ("import torch\nif __name__ == '__main__':\n    f()\n", True),
        ("import torch\nmodel = torch.nn.Linear(2, 2)\n", True),
        ("import torch\nprint('hello')\n", True),
    ],
)
def test_program_detection(source: str, is_program: bool) -> None:
    assert facts_for(source).is_program is is_program


def test_expression_for_reuses_aliases() -> None:
    facts = facts_for("import torch as T\nimport numpy as np\nfrom torch.utils import data\n")
    assert facts.expression_for("torch.manual_seed") == "T.manual_seed"
    assert facts.expression_for("numpy.random.seed") == "np.random.seed"
    assert facts.expression_for("torch.utils.data.DataLoader") == "data.DataLoader"
    assert facts.expression_for("random.seed") is None


def test_only_a_top_level_main_guard_is_the_entry_block() -> None:
    nested = facts_for("import torch\nwith torch.no_grad():\n    if __name__ == '__main__':\n        f()\n")
    assert nested.main_block is None
    top = facts_for("import torch\nif __name__ == '__main__':\n    f()\n")
    assert top.main_block is top.module.body[1]


def test_a_module_is_known_by_its_path_from_the_root_and_by_the_names_it_is_imported_by(tmp_path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "__init__.py").write_text("")
    (tmp_path / "src" / "pkg" / "core.py").write_text("")
    (tmp_path / "src" / "utils.py").write_text("")
    (tmp_path / "train.py").write_text("")
    identities = {relative: module_identity(tmp_path / relative, tmp_path)
                  for relative in ("src/utils.py", "src/pkg/__init__.py", "src/pkg/core.py", "train.py")}
    assert {relative: (i.name, i.is_package, i.other_names) for relative, i in identities.items()} == {
        "src/utils.py": ("src.utils", False, ("utils",)),
        "src/pkg/__init__.py": ("src.pkg", True, ("pkg",)),
        "src/pkg/core.py": ("src.pkg.core", False, ("pkg.core",)),
        "train.py": ("train", False, ()),
    }
    # What `src/utils.py` imports as `pkg` or `utils` is its own folder's.
    assert identities["src/utils.py"].absolute_import("pkg.core") == "src.pkg.core"
    assert identities["src/utils.py"].absolute_import("torch.nn") == "torch.nn"
    assert identities["train.py"].absolute_import("utils") == "utils"


def test_a_scripts_import_of_a_module_beside_it_means_that_module(tmp_path) -> None:
    for name in ("gan", "vae"):
        (tmp_path / "implementations" / name).mkdir(parents=True)
        (tmp_path / "implementations" / name / "models.py").write_text("")
    script = tmp_path / "implementations" / "gan" / "gan.py"
    source = "import models\nfrom models import Generator\nimport models.blocks as blocks\n"
    script.write_text(source)
    facts = FileFacts(cst.parse_module(source), module_identity(script, tmp_path))
    assert facts.module_name == "implementations.gan.gan"
    assert [site.modules for site in facts.imports] == [
        ("implementations.gan.models",), ("implementations.gan.models",), ("implementations.gan.models.blocks",)
    ]
    scope = facts.module_scope
    assert facts.resolve_name("models", scope) == "implementations.gan.models"
    assert facts.resolve_name("Generator", scope) == "implementations.gan.models.Generator"
    assert facts.resolve_name("blocks", scope) == "implementations.gan.models.blocks"


def test_a_module_named_like_its_namespace_folder_does_not_shadow_the_folder(tmp_path) -> None:
    # `util/util.py` is imported as `util` only by its own folder's scripts; elsewhere `util` is the
    # folder, so `util.dataset.Samples` must not become `util.util.dataset.Samples` (and so on).
    (tmp_path / "util").mkdir()
    sources = {"util/util.py": "def helper():\n    pass\n", "util/dataset.py": "class Samples:\n    pass\n"}
    summaries = []
    for relative, source in sources.items():
        (tmp_path / relative).write_text(source)
        summaries.append(summarize(FileFacts(cst.parse_module(source), module_identity(tmp_path / relative, tmp_path))))
    project = ProjectFacts(summaries)
    assert project.canonical("util.dataset.Samples.__iter__") == "util.dataset.Samples.__iter__"
    assert project.canonical("util.util.helper") == "util.util.helper"
