import subprocess
import sys

import pytest
import yaml

from conftest import ROOT, merge
from mvt_fer.errors import UserError
from mvt_fer.params import Params, load_params, parse_params
from mvt_fer.presets import flatten


def test_project_params_validate():
    p = load_params(ROOT / "params.yaml")
    assert isinstance(p, Params)
    assert 0 <= p.mask_ratio < 1


@pytest.mark.parametrize(
    "override, key",
    [
        ({"mvt": {"epoch": 3}}, "mvt.epoch: unknown key"),
        ({"mask_ratio_": 0.2}, "mask_ratio_: unknown key"),
        ({"mvt": {"epochs": "3"}}, "mvt.epochs:"),
        ({"mvt": {"epochs": 0}}, "mvt.epochs:"),
        ({"mask_ratio": 1.5}, "mask_ratio:"),
        ({"prepare": {"noise_rate": -0.1}}, "prepare.noise_rate:"),
        ({"prepare": {"synthetic": {"occlusion_rate": 2}}}, "prepare.synthetic.occlusion_rate:"),
        ({"dataset": "imagenet"}, "dataset:"),
        ({"model": {"img_size": 64}}, "model.img_size:"),
        ({"model": {"stem": "resnet"}}, "model.stem:"),
        ({"model": {"stem": "conv", "pretrained": "timm"}}, "model.stem: conv has no pretrained weights"),
        ({"mvt": {"targets": "soft"}}, "mvt.targets:"),
    ],
)
def test_bad_params_name_the_key(base_params, override, key):
    with pytest.raises(UserError) as err:
        parse_params(merge(base_params, override))
    message = str(err.value)
    assert key in message
    assert "\n" not in message


def test_int_accepted_for_float(base_params):
    assert parse_params(merge(base_params, {"mvt": {"lr": 1}})).mvt.lr == 1.0


def test_invalid_yaml_names_the_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("seed: 0\nmvt:\n  epochs: [1\n")
    with pytest.raises(UserError, match=r"params.yaml: line \d+"):
        load_params(path)


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="no such params file"):
        load_params(tmp_path / "nope.yaml")


def test_stage_reports_bad_params_in_one_line(tmp_path, base_params):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(merge(base_params, {"mvt": {"epochs": -1}})))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "stages" / "prepare.py"), "--params", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [lines[0]] and lines[0].startswith("error: ") and "mvt.epochs" in lines[0]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing written


def test_floats_as_dvc_writes_them_are_floats(tmp_path, base_params):
    """`dvc exp run -S mvt.lr=1e-5` writes `lr: 1e-05` (ruamel); YAML 1.1 would read that as a string."""
    text = (ROOT / "params.yaml").read_text().replace("  lr: 0.001\n", "  lr: 1e-05\n", 1)
    assert "lr: 1e-05" in text
    (tmp_path / "params.yaml").write_text(text)
    assert load_params(tmp_path / "params.yaml").mvt.lr == 1e-5


def test_the_schema_defaults_are_params_yaml(base_params):
    """One source of truth for the demo: params.py's defaults equal params.yaml, which sets every key."""
    assert flatten(base_params).keys() == flatten(Params().model_dump()).keys()
    assert parse_params(base_params) == Params()
