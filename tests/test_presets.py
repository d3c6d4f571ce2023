"""The paper presets validate against the schema and round-trip through `dvc exp run -S` flags."""

from __future__ import annotations

import shlex

import pytest
import yaml
from ruamel.yaml import YAML
from typer.testing import CliRunner

from mvt_fer import presets
from mvt_fer.cli import app

PAPER_PRESETS = ["affectnet7", "affectnet8", "ferplus", "rafdb"]


def test_presets_are_the_paper_four_their_sampled_variants_the_cpu_run_and_the_decoy_set():
    expected = PAPER_PRESETS + [f"{name}-sampled" for name in PAPER_PRESETS] + ["ferplus-cpu", "synthetic-decoys"]
    assert sorted(presets.PRESETS) == sorted(expected)


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_every_paper_preset_is_valid_params(name, base_params):
    overrides, p = presets.preset(name, base_params, **{"prepare.root": "/data/x"})
    assert p.dataset == name and p.model.pretrained == "timm" and p.prepare.image_size == 224
    assert p.model.timm_kwargs() == {} and p.mgn.depth == 6 and p.mvt.batch_size == 32
    # DeiT-S's patch projection (its ImageNet weights) and the paper's augmentation, whatever the demo uses
    assert p.model.stem == "patch" and p.mvt.augment.random_erasing > 0 and p.mvt.lr_gamma == 0.93


def test_ferplus_cpu_does_not_depend_on_earlier_experiments(base_params):
    """`dvc exp run -S` keeps what an earlier experiment set: the preset must override all of it."""
    clean = presets.preset("ferplus-cpu", base_params, **{"prepare.root": "x"})[1]
    earlier = presets.set_dotted(
        base_params,
        presets.PRESETS["rafdb"]
        | {"mvt.use_masks": False, "prepare.noise_rate": 0.3, "relabel.enabled": False, "mgn.epochs": 9},
    )
    assert presets.preset("ferplus-cpu", earlier, **{"prepare.root": "x"})[1] == clean
    assert (clean.dataset, clean.prepare.image_size, clean.model.pretrained, clean.mask_ratio) == (
        "ferplus",
        48,
        "none",
        0.2,
    )
    assert (clean.relabel.enabled, clean.relabel.fn, clean.mvt.use_masks) == (True, "quadratic", True)


def test_per_dataset_choices_of_the_paper(base_params):
    ferplus = presets.preset("ferplus", base_params, **{"prepare.root": "x"})[1]
    rafdb = presets.preset("rafdb", base_params, **{"prepare.root": "x"})[1]
    affectnet = presets.preset("affectnet7", base_params, **{"prepare.root": "x"})[1]
    assert (ferplus.mask_ratio, ferplus.relabel.fn, ferplus.mvt.lr) == (0.2, "quadratic", 9e-5)
    assert (rafdb.mask_ratio, rafdb.relabel.fn, rafdb.relabel.enabled) == (0.15, "sigmoid", True)
    assert (affectnet.mvt.lr, affectnet.mvt.sampler, affectnet.relabel.enabled) == (1e-5, "balanced", False)


def test_flags_read_back_as_the_same_values(base_params):
    result = CliRunner().invoke(app, ["preset", "ferplus", "--root", "/data/fer plus"])
    assert result.exit_code == 0, result.output
    words = shlex.split(result.output)  # as a shell would pass them to dvc
    pairs = dict(w.split("=", 1) for w in words if w != "-S")
    expected = presets.PRESETS["ferplus"] | {"prepare.root": "/data/fer plus"}
    assert {k: yaml.safe_load(v) for k, v in pairs.items()} == expected  # YAML 1.1 (PyYAML)
    assert {k: YAML(typ="safe", pure=True).load(v) for k, v in pairs.items()} == expected  # YAML 1.2 (DVC)


def test_unknown_preset_and_missing_root_are_one_line_errors(base_params):
    result = CliRunner().invoke(app, ["preset", "imagenet"])
    assert result.exit_code == 2 and "no preset 'imagenet'" in result.output
    result = CliRunner().invoke(app, ["preset", "rafdb"])
    assert result.exit_code == 2 and "prepare.root" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_smoke_flags_shrink_every_schedule_to_one_epoch(name, base_params):
    result = CliRunner().invoke(app, ["preset", name, "--root", "/data/x", "--smoke"])
    assert result.exit_code == 0, result.output
    words = shlex.split(result.output)
    pairs = {k: YAML(typ="safe", pure=True).load(v) for k, v in (w.split("=", 1) for w in words if w != "-S")}
    p = presets.preset(name, base_params, True, **{"prepare.root": "/data/x"})[1]
    assert pairs == presets.PRESETS[name] | presets.SMOKE | {"prepare.root": "/data/x"}
    assert (p.mgn.d_warmup_epochs, p.mgn.epochs, p.mvt.epochs) == (1, 1, 1)
    assert (
        p.relabel.start_epoch == 1
        and p.relabel.min_train_acc is None
        and p.model == presets.preset(name, base_params, **{"prepare.root": "/data/x"})[1].model
    )  # the model itself is the preset's


@pytest.mark.parametrize("name", ["rafdb", "ferplus", "affectnet7", "affectnet8"])
def test_paper_presets_run_the_mgn_as_written_and_the_variant_has_its_own_name(name, base_params):
    written = presets.preset(name, base_params, **{"prepare.root": "x"})[1]
    sampled = presets.preset(f"{name}-sampled", base_params, **{"prepare.root": "x"})[1]
    # As written: D sees the soft Mp, G learns through D, the classifier gets x * up(1 - Mp) (no top-k).
    assert (written.mgn.view, written.mgn.estimator) == ("show", "soft")
    assert (sampled.mgn.view, sampled.mgn.estimator) == ("show", "sampled")
    # Nothing else differs between the two.
    differ = {
        k
        for k in presets.PRESETS[name].keys() | presets.PRESETS[f"{name}-sampled"].keys()
        if presets.PRESETS[name].get(k) != presets.PRESETS[f"{name}-sampled"].get(k)
    }
    assert differ == {"mgn.estimator", "mgn.samples"}
    assert written.relabel.min_train_acc == 0.9


@pytest.mark.parametrize("path", sorted(presets.CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_config_file_is_valid_params_on_top_of_params_yaml(path, base_params):
    """Presets and pieces alike (the ablation's light config, the tests' tiny one, --smoke) validate against
    params.py: a key or type the schema does not know fails here, naming the file."""
    flags = presets.overrides(path.stem)
    assert flags and "extends" not in flags
    presets.parse_params(presets.set_dotted(base_params, flags | {"prepare.root": "x"}), source=path.name)


def test_extends_applies_the_parents_first_in_order(tmp_path, monkeypatch):
    (tmp_path / "_a.yaml").write_text("mvt:\n  lr: 0.1\n  epochs: 3\n")
    (tmp_path / "_b.yaml").write_text("mvt:\n  lr: 0.2\n")
    (tmp_path / "c.yaml").write_text("extends: [_a, _b]\nmvt:\n  epochs: 5\nseed: 1\n")
    monkeypatch.setattr(presets, "CONFIGS", tmp_path)
    assert presets.overrides("c") == {"mvt.lr": 0.2, "mvt.epochs": 5, "seed": 1}
    assert presets.names() == ["c"]


def test_a_bad_key_in_a_config_file_is_a_one_line_error_naming_it(tmp_path, monkeypatch, base_params):
    (tmp_path / "mine.yaml").write_text("mvt:\n  epoch: 3\n")
    (tmp_path / "orphan.yaml").write_text("extends: [nowhere]\n")
    monkeypatch.setattr(presets, "CONFIGS", tmp_path)
    with pytest.raises(presets.UserError, match=r"mine.yaml\): mvt.epoch: unknown key"):
        presets.preset("mine", base_params)
    with pytest.raises(presets.UserError, match="no preset 'nowhere'"):
        presets.overrides("orphan")


def test_a_users_own_yaml_file_extends_a_preset(tmp_path, base_params):
    mine = tmp_path / "mine.yaml"
    mine.write_text("extends: [rafdb]\nmvt:\n  lr: 3.0e-5\n")
    result = CliRunner().invoke(app, ["preset", str(mine), "--root", "/data/raf"])
    assert result.exit_code == 0, result.output
    pairs = dict(w.split("=", 1) for w in shlex.split(result.output) if w != "-S")
    assert {k: yaml.safe_load(v) for k, v in pairs.items()} == presets.PRESETS["rafdb"] | {
        "mvt.lr": 3e-5,
        "prepare.root": "/data/raf",
    }
