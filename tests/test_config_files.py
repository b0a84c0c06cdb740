"""Option defaults read from the YAML config file a parser names by default."""

from __future__ import annotations

import textwrap

from repro_lint.argparse_defaults import UNKNOWN
from repro_lint.config_files import config_file_options


def test_a_config_files_leaf_keys_are_option_defaults(tmp_path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "base.yaml").write_text(textwrap.dedent("""\
        DATA:
          data_root: dataset/ade20k  # where the images are
          classes: 150
        TRAIN:
          arch: psp
          base_lr: 0.01
          sync_bn: True
          manual_seed:
          weight: 'initmodel/resnet50.pth'
          train_gpu: [0, 1, 2, 3]
          evaluate: false
        TEST:
          classes: 150
          arch: psa
    """))
    options = config_file_options(["config/base.yaml", 8, "resnet"], tmp_path)
    assert options == {
        "data_root": "dataset/ade20k", "classes": 150, "arch": UNKNOWN, "base_lr": 0.01, "sync_bn": True,
        "manual_seed": None, "weight": "initmodel/resnet50.pth", "train_gpu": UNKNOWN, "evaluate": False,
    }


def test_missing_unreadable_or_huge_config_files_give_nothing(tmp_path) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe arch: psp")
    (tmp_path / "huge.yml").write_text("arch: psp\n" * 200_000)
    (tmp_path / "folder.yaml").mkdir()
    assert config_file_options(["missing.yaml", "binary.yaml", "huge.yml", "folder.yaml"], tmp_path) == {}
