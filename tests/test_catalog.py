"""The op catalog: it loads, it is consistent, it agrees with the installed torch.

The docstring test reads `torch.use_deterministic_algorithms.__doc__` from the
installed torch and checks the catalog's view of that version against it. Where
the catalog deliberately disagrees with a docstring, the history row says so
(`docstring` / `docstring_differs`); the test reads those fields and keeps no list
of its own.
"""

from __future__ import annotations

import ast
import copy
import inspect
import re
from pathlib import Path

import pytest

from repro_lint.catalog import (
    TENSOR,
    UNKNOWN,
    CatalogError,
    build_catalog,
    canonical_name,
    format_ops_table,
    load_catalog,
)
from repro_lint.versions import parse_version

CATALOG = load_catalog()
DET = "deterministic-alternative"
RAISES = "raises"


def op(op_id):
    return CATALOG.entry(op_id)


def mode(op_id, version):
    row = op(op_id).behaviour(version)
    return None if row is None else row.under_det_mode


# ---------------------------------------------------------------------------
# Versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2.13", (2, 13)), ("2.13.0+cpu", (2, 13)), ("1.8", (1, 8)), ("2.14.1", (2, 14)),
     ("2.1.0a0+git1234", (2, 1)), ("2.5.0.dev20240101", (2, 5)), (" 1.13.1+cu117 ", (1, 13)), ("v2.0", (2, 0))],
)
def test_parse_version(text, expected):
    assert parse_version(text) == expected


@pytest.mark.parametrize("text", ["", "2", "junk", "2.x", "two.three", "2.13 beta", "2..13", None])
def test_parse_version_rejects_junk(text):
    with pytest.raises(ValueError):
        parse_version(text)


def test_versions_known():
    assert CATALOG.versions[0] == (1, 8)
    assert CATALOG.newest_version == (2, 15)
    assert (1, 9) in CATALOG.versions and (2, 10) in CATALOG.versions
    assert list(CATALOG.versions) == sorted(set(CATALOG.versions))


# ---------------------------------------------------------------------------
# Structure


def test_catalog_loads_and_is_cached():
    assert load_catalog() is CATALOG
    assert len(CATALOG.ops) >= 45


def test_ids_unique():
    ids = [entry.id for entry in CATALOG.ops]
    assert len(ids) == len(set(ids))


def test_history_rows_are_sane():
    for entry in CATALOG.ops:
        assert entry.history, entry.id
        previous = None
        for row in entry.history:
            assert row.since in CATALOG.versions, entry.id
            assert row.until is None or (row.until in CATALOG.versions and row.since <= row.until), entry.id
            if previous is not None:
                assert previous.until is not None and previous.until < row.since, entry.id
            previous = row
            assert row.source.strip(), entry.id
            if row.docstring != "absent" and row.docstring != row.under_det_mode:
                assert row.docstring_differs, entry.id
        assert entry.workaround, entry.id


def test_every_entry_has_sources_and_call_forms():
    for entry in CATALOG.ops:
        assert entry.functions or entry.methods or entry.modules or entry.syntax, entry.id
        for name in entry.functions + entry.modules:
            assert name.startswith("torch.") and canonical_name(name) == name, (entry.id, name)


def test_every_probe_compiles():
    for entry in CATALOG.ops:
        compile(entry.render_probe(), f"<probe {entry.id}>", "exec")
        for key, default in entry.probe_defaults.items():
            assert "{" + key + "}" not in entry.render_probe(), entry.id
            assert repr(default) in entry.render_probe(), entry.id


def test_render_probe_substitutes_user_arguments():
    rendered = op("interpolate_backward").render_probe(mode="trilinear", unrelated=1)
    assert "mode='trilinear'" in rendered and "{mode}" not in rendered
    compile(rendered, "<probe>", "exec")


def test_loader_rejects_bad_data():
    good = {
        "catalog": {"versions": ["1.8", "2.0"]},
        "op": [
            {"id": "cublas_workspace", "title": "t", "functions": ["torch.mm"], "device": "cuda",
             "phase": "forward", "workaround": "w", "probe": "out = 1",
             "history": [{"since": "1.8", "default": "nondeterministic", "under_det_mode": "raises",
                          "source": "s", "confidence": "doc"}]},
            {"id": "cudnn_rnn", "title": "t", "modules": ["torch.nn.LSTM"], "device": "cuda",
             "phase": "forward", "workaround": "w", "probe": "out = 1",
             "history": [{"since": "1.8", "default": "nondeterministic", "under_det_mode": "nondeterministic",
                          "source": "s", "confidence": "doc"}]},
        ],
    }
    build_catalog([("good.toml", good)])

    def broken(change):
        data = copy.deepcopy(good)
        change(data)
        with pytest.raises(CatalogError):
            build_catalog([("bad.toml", data)])

    broken(lambda d: d["op"][0]["history"][0].update(docstring="deterministic-alternative"))
    broken(lambda d: d["op"][0]["history"][0].update(since="1.7"))
    broken(lambda d: d["op"][0].update(typo_key=1))
    broken(lambda d: d["op"][0].update(device="gpu"))
    broken(lambda d: d["op"][0].update(device="metal"))
    accepted = copy.deepcopy(good)
    accepted["op"][0]["device"] = "mps"
    assert build_catalog([("mps.toml", accepted)]).entry("cublas_workspace").device == "mps"
    broken(lambda d: d["op"][1].update(id="cublas_workspace"))
    broken(lambda d: d["op"][0]["history"].append(dict(d["op"][0]["history"][0], since="2.0")))
    broken(lambda d: d["op"][0].update(functions=["torch.nn.modules.linear.Linear"]))
    broken(lambda d: d["op"][0].update(docstring_names=["torch.mv"]))


# ---------------------------------------------------------------------------
# Facts that move between versions


def test_behaviour_changes_across_versions():
    assert mode("cumsum_cuda", (2, 13)) == RAISES
    assert mode("cumsum_cuda", (2, 14)) == DET
    assert mode("cumsum_cuda", (1, 12)) == "nondeterministic"
    assert mode("index_add", (1, 8)) == RAISES
    assert mode("index_add", (2, 0)) == DET
    assert mode("kthvalue_cuda", (2, 0)) == RAISES
    assert op("kthvalue_cuda").behaviour((2, 13)) is None
    assert mode("max_pool3d_backward", (2, 6)) == RAISES
    assert mode("max_pool3d_backward", (2, 13)) == DET
    assert mode("replication_pad2d_backward", (2, 1)) == RAISES
    assert mode("replication_pad2d_backward", (2, 2)) == DET
    assert mode("scatter_add", (1, 12)) == RAISES
    assert mode("scatter_add", (1, 13)) == DET
    assert mode("scatter_src", (2, 0)) == "nondeterministic"
    assert mode("scatter_src", (2, 1)) == DET
    assert op("embedding_backward").behaviour((2, 0)) is None
    assert mode("embedding_backward", (2, 14)) == DET
    assert mode("reflection_pad2d_backward", (2, 13)) == RAISES
    assert mode("reflection_pad2d_backward", (2, 14)) == DET
    assert op("bincount_unweighted_cuda").behaviour((1, 13)).under_det_mode == RAISES
    assert op("bincount_unweighted_cuda").behaviour((2, 1)) is None
    assert op("scatter_reduce_amax_amin").behaviour((2, 1)) is None
    assert op("scatter_reduce_amax_amin").behaviour((1, 12)).default == "deterministic"
    assert mode("kthvalue_cuda", (2, 9)) == RAISES
    assert op("kthvalue_cuda").behaviour((2, 10)) is None
    assert mode("max_pool3d_backward", (2, 12)) == RAISES
    assert op("cumsum_cuda").behaviour((2, 15)).docstring == DET
    # fill_uninitialized_memory: a paragraph after the lists from the 2.9.1 docstring on
    assert op("uninitialized_memory").behaviour((2, 8)).docstring == DET
    assert op("uninitialized_memory").behaviour((2, 9)).docstring == "absent"
    assert op("uninitialized_memory").behaviour((2, 9)).under_det_mode == DET


def test_mps_entries():
    mps = {entry.id for entry in CATALOG.ops if entry.device == "mps"}
    assert mps == {
        "index_put_accumulate_mps", "scatter_reduce_mps", "scatter_reduce_amax_amin_mps",
        "index_reduce_prod_mean_mps", "kthvalue_mps", "embedding_backward_mps", "embedding_bag_backward_mps",
        "grid_sample_backward_mps", "max_pool_backward_mps", "avg_pool3d_backward_mps",
        "interpolate_backward_mps",
    }
    for op_id in mps:
        entry = op(op_id)
        assert entry.behaviour((2, 14)) is None, op_id  # the 2.15.0 docstring is the first to list MPS ops
        assert mode(op_id, (2, 15)) == RAISES, op_id
        assert entry.condition_text().startswith("MPS"), op_id
        assert "CUDA" not in entry.condition_text(), op_id
    assert op("embedding_backward_mps").condition_text() == "MPS backward"
    assert op("scatter_reduce_amax_amin_mps").behaviour((2, 15)).default == "deterministic"
    # CUDA scatter_reduce keeps its split in 2.15; the reworded docstring line is explained
    assert mode("scatter_reduce_prod", (2, 15)) == RAISES
    assert op("scatter_reduce_prod").behaviour((2, 15)).docstring_differs
    assert mode("scatter_reduce_sum_mean", (2, 15)) == DET
    assert op("scatter_reduce_amax_amin").behaviour((2, 15)) is None
    table = format_ops_table((2, 15))
    assert "kthvalue_mps" in table and "newer than" not in table
    assert "kthvalue_mps" not in format_ops_table((2, 14))


def test_mps_argument_conditions():
    x = UNKNOWN
    assert matched("index_put_accumulate_mps", "index_put_", [x, x], {"accumulate": True})
    assert not matched("index_put_accumulate_mps", "index_put_", [x, x])
    assert matched("scatter_reduce_mps", "scatter_reduce", [0, x, x, "sum"])
    assert not matched("scatter_reduce_mps", "scatter_reduce", [0, x, x, "amax"])
    assert matched("scatter_reduce_amax_amin_mps", "torch.scatter_reduce", [x, 0, x, x, "amin"])
    assert matched("index_reduce_prod_mean_mps", "index_reduce_", [0, x, x, "mean"])
    assert not matched("index_reduce_prod_mean_mps", "torch.index_reduce", [x, 0, x, x, "amax"])
    assert matched("embedding_bag_backward_mps", "torch.nn.EmbeddingBag", [10, 3])
    assert matched("interpolate_backward_mps", "torch.nn.functional.interpolate", [x], {"scale_factor": 2})
    assert not matched("interpolate_backward_mps", "torch.nn.functional.interpolate", [x], {"mode": "area"})
    assert matched("max_pool_backward_mps", "torch.nn.MaxPool2d", [2])


def test_versions_outside_the_catalog_clamp_sensibly():
    # Older than 1.8 is looked up as 1.8, newer than 2.15 as 2.15.
    assert mode("index_add", (1, 7)) == RAISES
    assert mode("cublas_workspace", (1, 5)) == RAISES
    assert mode("cumsum_cuda", (3, 0)) == DET
    assert mode("index_add", (2, 99)) == DET
    assert op("kthvalue_cuda").behaviour((3, 0)) is None


def test_cublas_workspace_required():
    for version in ((1, 8), (1, 13), (2, 9)):
        assert mode("cublas_workspace", version) == RAISES
    for version in ((2, 10), (2, 13)):
        assert mode("cublas_workspace", version) != RAISES
    assert op("cublas_workspace").env == "CUBLAS_WORKSPACE_CONFIG"
    assert op("cublas_workspace").lint == "program"


def test_rnn_workspace():
    rnn = op("cudnn_rnn")
    assert rnn.env == "CUBLAS_WORKSPACE_CONFIG" and rnn.lint == "program"
    assert set(rnn.modules) >= {"torch.nn.RNN", "torch.nn.LSTM", "torch.nn.GRU"}
    assert rnn.behaviour((1, 13)) is not None and rnn.behaviour((2, 13)) is not None


def test_cpu_facts():
    assert op("index_put_accumulate_cpu").device == "cpu"
    assert mode("index_put_accumulate_cpu", (2, 13)) == DET
    assert op("put_accumulate_cpu").device == "cpu"
    assert op("put_no_accumulate").device == "any" and mode("put_no_accumulate", (2, 13)) == RAISES
    assert op("max_unpool").device == "any" and mode("max_unpool", (2, 13)) == RAISES
    assert mode("put_accumulate_cuda", (2, 13)) == RAISES


def test_cudnn_entries():
    assert op("conv_cudnn").cudnn and op("conv_transpose_cudnn").cudnn
    assert "torch.nn.Conv2d" in op("conv_cudnn").modules
    assert not op("interpolate_backward").cudnn


# ---------------------------------------------------------------------------
# Lookups and argument conditions


def ids(entries):
    return {entry.id for entry in entries}


def test_lookups_and_aliases():
    assert ids(CATALOG.for_method("index_add_")) == {"index_add"}
    assert ids(CATALOG.for_function("torch.Tensor.index_add_")) == {"index_add"}
    assert ids(CATALOG.for_module("torch.nn.Conv2d")) == {"conv_cudnn"}
    assert ids(CATALOG.for_module("torch.nn.modules.conv.Conv2d")) == {"conv_cudnn"}
    assert ids(CATALOG.for_module("torch.nn.modules.pooling.AdaptiveAvgPool2d")) == {"adaptive_avg_pool_backward"}
    assert ids(CATALOG.for_function("torch._C._VariableFunctions.cumsum")) == {"cumsum_cuda"}
    assert ids(CATALOG.for_function("torch._tensor.Tensor.put_")) >= {"put_no_accumulate"}
    assert CATALOG.for_function("numpy.cumsum") == []
    assert ids(CATALOG.for_syntax("subscript-store")) == {"index_put_no_accumulate"}


def matched(op_id, callee, args=(), kwargs=None, **extra):
    return op(op_id).match_call(callee, args, kwargs or {}, **extra).matched


def test_argument_conditions():
    x = UNKNOWN
    # bincount: only with weights
    assert not matched("bincount_weights_cuda", "torch.bincount", [x])
    assert matched("bincount_weights_cuda", "torch.bincount", [x], {"weights": x})
    assert matched("bincount_weights_cuda", "bincount", [x])  # x.bincount(w)
    assert not matched("bincount_weights_cuda", "torch.bincount", [x], {"weights": None})
    assert matched("bincount_unweighted_cuda", "torch.bincount", [x])
    # interpolate: mode
    assert not matched("interpolate_backward", "torch.nn.functional.interpolate", [x], {"size": 3})
    assert not matched("interpolate_backward", "torch.nn.functional.interpolate", [x], {"mode": "nearest"})
    assert matched("interpolate_backward", "torch.nn.functional.interpolate", [x], {"mode": "bilinear"})
    assert matched("interpolate_backward", "torch.nn.functional.interpolate", [x, None, 2.0, "bicubic"])
    assert not matched("interpolate_backward", "torch.nn.functional.interpolate", [x],
                       {"mode": "bilinear", "antialias": True})
    assert matched("interpolate_antialias_backward", "torch.nn.functional.interpolate", [x],
                   {"mode": "bilinear", "antialias": True})
    assert matched("interpolate_backward", "torch.nn.Upsample", [], {"scale_factor": 2, "mode": "bilinear"})
    assert not matched("interpolate_backward", "torch.nn.Upsample", [None, 2])
    assert matched("interpolate_backward", "torch.nn.UpsamplingBilinear2d", [], {"scale_factor": 2})
    assert matched("adaptive_avg_pool_backward", "torch.nn.functional.interpolate", [x], {"mode": "area"})
    # scatter_reduce: reduce
    assert not matched("scatter_reduce_prod", "scatter_reduce", [0, x, x, "amax"])
    assert not matched("scatter_reduce_sum_mean", "scatter_reduce", [0, x, x], {"reduce": "amax"})
    assert matched("scatter_reduce_prod", "torch.scatter_reduce", [x, 0, x, x, "prod"])
    assert matched("scatter_reduce_sum_mean", "scatter_reduce_", [0, x, x, "mean"])
    # AdaptiveAvgPool2d(1) is global pooling: lowered to mean()
    assert not matched("adaptive_avg_pool_backward", "torch.nn.AdaptiveAvgPool2d", [1])
    assert not matched("adaptive_avg_pool_backward", "torch.nn.AdaptiveAvgPool2d", [(1, 1)])
    assert not matched("adaptive_avg_pool_backward", "torch.nn.functional.adaptive_avg_pool2d", [x],
                       {"output_size": [1, 1]})
    assert matched("adaptive_avg_pool_backward", "torch.nn.AdaptiveAvgPool2d", [(7, 7)])
    assert matched("adaptive_avg_pool_backward", "torch.nn.AdaptiveAvgPool2d", [x])
    # accumulate
    assert matched("index_put_accumulate_cpu", "index_put_", [x, x], {"accumulate": True})
    assert not matched("index_put_accumulate_cpu", "index_put_", [x, x])
    assert matched("index_put_no_accumulate", "index_put_", [x, x])
    assert matched("put_no_accumulate", "torch.put", [x, x, x])
    assert not matched("put_no_accumulate", "put_", [x, x, True])
    # scatter: src tensor vs scalar value, legacy reduce
    assert not matched("scatter_src", "scatter_", [1, x, 1.0])
    assert matched("scatter_src", "scatter_", [1, x, TENSOR])
    assert not matched("scatter_src", "scatter_", [1, x, TENSOR], {"reduce": "add"})
    assert matched("scatter_reduce_legacy", "scatter_", [1, x, TENSOR], {"reduce": "add"})
    assert not matched("scatter_reduce_legacy", "scatter_", [1, x, TENSOR])
    # median: only with dim
    assert not matched("median_indices_cuda", "median", [])
    assert matched("median_indices_cuda", "median", [1])
    assert matched("median_indices_cuda", "torch.median", [x], {"dim": -1})
    # EmbeddingBag: mode='max' only
    assert not matched("embedding_bag_max_backward", "torch.nn.EmbeddingBag", [10, 3])
    assert matched("embedding_bag_max_backward", "torch.nn.EmbeddingBag", [10, 3], {"mode": "max"})
    # F.pad: mode and padding rank
    assert not matched("reflection_pad2d_backward", "torch.nn.functional.pad", [x, (1, 1, 1, 1)])
    assert matched("reflection_pad2d_backward", "torch.nn.functional.pad", [x, (1, 1, 1, 1)], {"mode": "reflect"})
    assert not matched("reflection_pad_1d_3d_backward", "torch.nn.functional.pad", [x, (1, 1, 1, 1), "reflect"])
    assert matched("reflection_pad2d_backward", "torch.nn.ReflectionPad2d", [1])
    # cuDNN grid sampler path
    assert not matched("cudnn_grid_sampler_backward", "torch.nn.functional.grid_sample", [x, x])
    assert matched("cudnn_grid_sampler_backward", "torch.nn.functional.grid_sample", [x, x], {"align_corners": True})


def test_undecidable_arguments_are_reported():
    result = op("interpolate_backward").match_call("torch.nn.functional.interpolate", [UNKNOWN], {"mode": UNKNOWN})
    assert result.matched and not result.certain and result.undecided
    starred = op("bincount_weights_cuda").match_call("torch.bincount", [UNKNOWN], star_kwargs=True)
    assert starred.matched and not starred.certain
    # conditions a linter cannot see are stated, and some entries skip when unknown
    # Most cross_entropy calls are (N, C) classifiers: an unknown input is not reported.
    assert not op("nll_loss_2d").match_call("torch.nn.functional.cross_entropy", [UNKNOWN, UNKNOWN]).matched
    assert "input has >= 3 dims" in op("nll_loss_2d").condition_text()
    assert not op("bmm_sparse_dense").match_call("torch.bmm", [UNKNOWN, UNKNOWN]).matched
    assert not op("resize_quantized").match_call("resize_", [(10,)]).matched


def test_shared_method_names():
    shared = CATALOG.shared_method_names
    assert {"cumsum", "median", "put"} <= shared
    assert "index_add_" not in shared and "scatter_add_" not in shared
    assert CATALOG.is_shared_method("cumsum")
    catalog_methods = {name for entry in CATALOG.ops for name in entry.methods}
    assert shared - {"__getitem__"} <= catalog_methods | {"scatter", "gather"}


def test_format_ops_table():
    table_113 = format_ops_table((1, 13))
    table_213 = format_ops_table((2, 13))
    assert "torch 1.13" in table_113 and "torch 2.13" in table_213
    for column in ("ID", "CALL FORMS", "CONDITION", "DEFAULT", "DET MODE", "WORKAROUND"):
        assert column in table_213
    assert "kthvalue_cuda" in table_113 and "kthvalue_cuda" not in table_213
    cumsum_213 = next(line for line in table_213.splitlines() if line.startswith("cumsum_cuda"))
    cumsum_214 = next(line for line in format_ops_table((2, 14)).splitlines() if line.startswith("cumsum_cuda"))
    assert "raises" in cumsum_213 and "det-alt" in cumsum_214
    assert "newer than" in format_ops_table((3, 1))


# ---------------------------------------------------------------------------
# The installed torch's docstring

_ROLE = re.compile(r":(?:class|func|meth|attr):`~?([^`]+)`")


_NAME_SEPARATOR = re.compile(r"\s*,?\s*(?:and\s+|or\s+)?")


def _item_names(text: str) -> tuple[list[str], str]:
    """The op names an item starts with (2.15.0 names three pooling layers in one item), and the rest."""
    match = _ROLE.search(text)
    assert match, text
    names, end = [match.group(1)], match.end()
    for following in _ROLE.finditer(text, end):
        if not _NAME_SEPARATOR.fullmatch(text[end:following.start()]):
            break
        names.append(following.group(1))
        end = following.end()
    return names, text[end:].strip()


def parse_docstring_lists(doc: str) -> dict[str, list[tuple[str, str]]]:
    """The two lists of `use_deterministic_algorithms.__doc__` as (op name, condition) pairs.

    An item that names several ops gives one pair per op, all with the item's condition.
    """
    lists: dict[str, list[tuple[str, str]]] = {DET: [], RAISES: []}
    current = None
    started = False
    item: list[str] | None = None

    def flush():
        nonlocal item
        if item is not None and current is not None:
            text = " ".join(part.strip() for part in item)
            names, condition = _item_names(text)
            lists[current].extend((name, condition) for name in names)
        item = None

    for line in inspect.cleandoc(doc).splitlines():
        if "normally-nondeterministic operations will act" in line:
            flush()
            current, started = DET, False
            continue
        if "normally-nondeterministic operations will throw" in line:
            flush()
            current, started = RAISES, False
            continue
        if current is None:
            continue
        stripped = line.strip()
        if stripped.startswith("* "):
            flush()
            item = [stripped[2:]]
            started = True
        elif started and stripped and not line.startswith(" "):
            flush()
            current = None
        elif item is not None and stripped:
            item.append(stripped)
    flush()
    return lists


def test_docstring_parser_on_reference_text():
    doc = '''Sets whether.

    The following normally-nondeterministic operations will act
    deterministically when ``mode=True``:

        * :class:`torch.nn.Conv1d` when called on CUDA tensor
        * :func:`torch.Tensor.index_put` with ``accumulate=True`` when called on a CPU
          tensor

    The following normally-nondeterministic operations will throw a
    :class:`RuntimeError` when ``mode=True``:

        * :func:`torch.nn.functional.interpolate` when attempting to differentiate a CUDA tensor
          and one of the following modes is used:

          - ``linear``

        * :func:`torch.cumsum` when called on a CUDA tensor
        * :func:`torch.nn.MaxPool2d`, :func:`torch.nn.MaxPool3d`, and :func:`torch.nn.AvgPool3d`
          when attempting to differentiate an MPS tensor

    In addition, several operations fill uninitialized memory.
    '''
    lists = parse_docstring_lists(doc)
    assert lists[DET] == [("torch.nn.Conv1d", "when called on CUDA tensor"),
                          ("torch.Tensor.index_put", "with ``accumulate=True`` when called on a CPU tensor")]
    assert [name for name, _ in lists[RAISES]] == [
        "torch.nn.functional.interpolate", "torch.cumsum",
        "torch.nn.MaxPool2d", "torch.nn.MaxPool3d", "torch.nn.AvgPool3d",
    ]
    assert lists[RAISES][-1] == ("torch.nn.AvgPool3d", "when attempting to differentiate an MPS tensor")
    assert "``linear``" in lists[RAISES][0][1]


_DEVICE_WORDS = {"cuda": "CUDA", "cpu": "CPU", "mps": "MPS"}


def _devices_named(condition: str) -> set[str]:
    return {name for name, word in _DEVICE_WORDS.items() if re.search(rf"\b{word}\b", condition)}


def _device_ok(condition: str, device: str) -> bool:
    """An item naming devices ("on a CUDA tensor", "on CUDA or MPS tensor") fits entries for one of
    them or for any device; an item naming none fits every entry."""
    named = _devices_named(condition)
    return not named or device == "any" or device in named


def _literal_values(literal: str) -> list:
    """``reduce='sum'`` -> ['sum']. The 2.15.0 docstring writes two alternatives as
    ``reduce='prod'\\'mean'``; a backslash or a bar between quoted values separates them."""
    try:
        return [ast.literal_eval(literal)]
    except (ValueError, SyntaxError):
        return [ast.literal_eval(part) for part in re.split(r"\\|\|", literal)]


def _arguments_ok(condition: str, entry) -> bool:
    for name, literal in re.findall(r"``(\w+)=([^`]+)``", condition):
        conds = [c for c in entry.arg_conditions if c.arg == name]
        if not conds:
            return False
        for value in _literal_values(literal):
            for cond in conds:
                if cond.test == "in" and value not in cond.values:
                    return False
                if cond.test == "not_in" and value in cond.values:
                    return False
    return True


def test_catalog_matches_installed_docstring():
    torch = pytest.importorskip("torch")
    check_docstring(torch.use_deterministic_algorithms.__doc__, parse_version(torch.__version__))


# The researched docstring texts of other releases, when this checkout sits next to them.
_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "pytorch-determinism" / "sources"


@pytest.mark.parametrize("release", ["2.9.1", "2.10.0", "2.11.0", "2.12.0", "2.13.0", "2.14.1", "2.15.0"])
def test_catalog_matches_reference_docstrings(release):
    path = _REFERENCE / f"use_det_doc_{release}.txt"
    if not path.is_file():
        pytest.skip(f"no reference docstring at {path}")
    check_docstring(path.read_text(encoding="utf-8"), parse_version(release))


def check_docstring(doc: str, version) -> None:
    lists = parse_docstring_lists(doc)
    assert len(lists[DET]) >= 10 and len(lists[RAISES]) >= 10, lists

    # Every op the docstring names is in the catalog, with the same behaviour for
    # this version (what the catalog says the docstring lists, `row.docstring`,
    # which differs from the catalog's own view only where a row explains why).
    documented = set()
    for listed_as, items in lists.items():
        for name, condition in items:
            documented.add((name, listed_as))
            candidates = [
                (entry, row) for entry in CATALOG.ops
                if name in entry.docstring_names and (row := entry.behaviour(version)) is not None
            ]
            assert candidates, f"{name} ({listed_as}: {condition}) is not in the catalog for {version}"
            fitting = [
                entry for entry, row in candidates
                if row.docstring == listed_as
                and _device_ok(condition, entry.device)
                and _arguments_ok(condition, entry)
            ]
            assert fitting, (
                f"{name} {condition!r}: the docstring lists it as {listed_as}; the catalog says "
                + ", ".join(f"{e.id}={r.docstring}/{e.device}" for e, r in candidates)
            )
            # An item naming several devices ("on CUDA or MPS tensor") needs an entry for each.
            for device in _devices_named(condition):
                assert any(entry.device in (device, "any") for entry in fitting), (
                    f"{name} {condition!r}: the docstring lists it as {listed_as} on {device}; "
                    f"the fitting entries are {[entry.id for entry in fitting]}"
                )

    # And nothing the catalog claims is in the docstring is missing from it.
    for entry in CATALOG.ops:
        row = entry.behaviour(version)
        if row is None or row.docstring == "absent":
            continue
        for name in entry.docstring_names:
            assert (name, row.docstring) in documented, (
                f"{entry.id}: the catalog says the {version} docstring lists {name} as {row.docstring}"
            )

    # Deliberate deviations for this version are explained in the entry.
    for entry in CATALOG.ops:
        row = entry.behaviour(version)
        if row is not None and row.docstring != "absent" and row.docstring != row.under_det_mode:
            assert row.docstring_differs, entry.id


def test_known_docstring_deviations_are_recorded():
    # Places where the reference found the docstring wrong or too broad.
    row = op("reflection_pad2d_backward").behaviour((2, 14))
    assert row.docstring == RAISES and row.under_det_mode == DET and row.docstring_differs
    assert "output_size=1" in op("adaptive_avg_pool_backward").docstring_differs
    assert "3 or more dims" in op("nll_loss_2d").docstring_differs
    assert "floating" in op("histc_cuda").docstring_differs
    assert op("replication_pad_1d_3d_backward").behaviour((2, 6)).docstring_differs
    for undocumented in ("index_reduce_cuda", "scatter_reduce_legacy", "interpolate_antialias_backward",
                         "cudnn_grid_sampler_backward", "nanmedian_indices_cuda", "sdpa_fused_backward",
                         "adaptive_max_pool3d_backward"):
        entry = op(undocumented)
        assert entry.undocumented or entry.docstring_differs, undocumented


# ---------------------------------------------------------------------------
# Probes run on the CPU


def _namespace(torch, device="cpu", dtype=None):
    dtype = dtype or torch.float32
    generator = torch.Generator().manual_seed(0)

    def R(*shape):
        return torch.randn(*shape, generator=generator, dtype=dtype).to(device)

    def I(high, *shape):  # noqa: E743 - the probe contract's name
        return torch.randint(high, shape, generator=generator).to(device)

    return {"torch": torch, "F": torch.nn.functional, "nn": torch.nn, "device": device, "dtype": dtype,
            "R": R, "I": I}


def _run_probe(torch, entry, **values):
    namespace = _namespace(torch)
    exec(compile(entry.render_probe(**values), f"<probe {entry.id}>", "exec"), namespace)
    out = namespace["out"]
    tensors = out if isinstance(out, tuple) else (out,)
    assert tensors and all(isinstance(t, torch.Tensor) for t in tensors), entry.id
    return out


def _cpu_runnable(entry):
    return not ({"cuda", "distributed"} & set(entry.probe_requires))


def test_probes_run_on_cpu():
    torch = pytest.importorskip("torch")
    skipped = [entry.id for entry in CATALOG.ops if not _cpu_runnable(entry)]
    assert skipped == ["nccl_nvls"], skipped  # the only probe that needs more than a CPU
    for entry in CATALOG.ops:
        if _cpu_runnable(entry):
            _run_probe(torch, entry)
    for value in ("linear", "bilinear", "bicubic", "trilinear"):
        _run_probe(torch, op("interpolate_backward"), mode=value)
    for value in ("sum", "mean"):
        _run_probe(torch, op("scatter_reduce_sum_mean"), reduce=value)
    _run_probe(torch, op("scatter_reduce_legacy"), reduce="multiply")
    for value in ("sum", "prod", "mean"):
        _run_probe(torch, op("scatter_reduce_mps"), reduce=value)
    _run_probe(torch, op("scatter_reduce_amax_amin_mps"), reduce="amin")
    for value in ("prod", "mean"):
        _run_probe(torch, op("index_reduce_prod_mean_mps"), reduce=value)
    for value in ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"):
        _run_probe(torch, op("interpolate_backward_mps"), mode=value)


def test_cpu_behaviour_under_deterministic_mode():
    """On the CPU, entries for `cpu`/`any` raise exactly where the catalog says so."""
    torch = pytest.importorskip("torch")
    version = parse_version(torch.__version__)
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        for entry in CATALOG.ops:
            row = entry.behaviour(version)
            if entry.device not in ("cpu", "any") or row is None or not _cpu_runnable(entry):
                continue
            if row.under_det_mode == RAISES:
                with pytest.raises(RuntimeError, match="deterministic"):
                    _run_probe(torch, entry)
            else:
                _run_probe(torch, entry)
    finally:
        torch.use_deterministic_algorithms(previous)
