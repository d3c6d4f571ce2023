"""Presets: the paper's settings per dataset (Sec. 4.2 and its ablation's choices), the CPU run, and the
pieces they are built from, as params overrides in YAML files (configs/).

`mvt-fer preset NAME --root DIR` prints them as `dvc exp run` flags, checked against the schema:

    dvc exp run -n rafdb-paper $(mvt-fer preset rafdb --root /data/RAF-DB/basic)
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from .errors import UserError
from .params import Params, parse_params, read_yaml

# Every preset and configuration piece is a YAML file of params overrides in this one folder. A file may
# `extends: [other, ...]` (applied first, in order); files named `_*` are pieces (the paper's shared
# settings, the two ways to read G, `--smoke`, the ablation's light config, the tests' tiny one), the others
# are the presets `mvt-fer preset` offers.
CONFIGS = Path(__file__).parent / "configs"


def merge(base: dict, over: dict) -> dict:
    """`base` with the nested mapping `over` laid on top (mappings merge, other values replace)."""
    out = dict(base)
    for key, value in over.items():
        out[key] = merge(base.get(key) or {}, value) if isinstance(value, dict) else value
    return out


def source(name: str) -> Path:
    """configs/NAME.yaml, or NAME itself when it is a .yaml file (a user's own preset)."""
    return Path(name) if name.endswith((".yaml", ".yml")) else CONFIGS / f"{name}.yaml"


def load(name: str) -> dict:
    """The nested overrides of preset NAME, its `extends` (names in configs/) applied first."""
    path = source(name)
    if not path.is_file():
        raise UserError(f"no preset {name!r} (have {', '.join(names())}, or give a .yaml file)")
    raw = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping of params keys")
    out: dict = {}
    for parent in raw.pop("extends", []):
        out = merge(out, load(parent))
    return merge(out, raw)


def flatten(nested: dict, prefix: str = "") -> dict:
    """{'a': {'b': 1}} -> {'a.b': 1}: the keys `dvc exp run -S` takes."""
    out = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out |= flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def names() -> list[str]:
    """The presets (configs/*.yaml but the `_` pieces)."""
    return sorted(p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("_"))


def overrides(name: str) -> dict:
    """configs/NAME.yaml as dotted overrides ({'mvt.lr': 9e-05, ...})."""
    return flatten(load(name))


PRESETS = {name: overrides(name) for name in names()}
SMOKE = overrides("_smoke")


def set_dotted(raw: dict, flags: dict) -> dict:
    """A copy of the params dict `raw` with `flags` ({'a.b.c': value}) applied."""
    out = copy.deepcopy(raw)
    for key, value in flags.items():
        node = out
        *path, last = key.split(".")
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def preset(name: str, raw: dict, smoke: bool = False, **extra) -> tuple[dict, Params]:
    """The overrides of preset `name` (shrunk by SMOKE with `smoke`; plus `extra`, e.g. prepare.root) and
    the params they give on top of `raw`, validated (a bad preset fails here, not three stages later)."""
    flags = overrides(name) | (SMOKE if smoke else {}) | {k: v for k, v in extra.items() if v is not None}
    return flags, parse_params(set_dotted(raw, flags), source=f"preset {name} ({source(name)})")


def yaml_value(value) -> str:
    """A value as YAML text that YAML 1.1 and 1.2 readers both read back unchanged (JSON, with a '.' in
    every float's mantissa: PyYAML reads 9e-05 as a string, 9.0e-05 as a float)."""
    text = json.dumps(value, separators=(",", ":"))  # no spaces: a flag is one shell word, [1,2] not [1, 2]
    if isinstance(value, float) and "e" in text and "." not in text:
        text = text.replace("e", ".0e", 1)
    return text


def as_flags(flags: dict) -> list[str]:
    """`-S key=value` arguments for `dvc exp run`."""
    return [arg for key, value in flags.items() for arg in ("-S", f"{key}={yaml_value(value)}")]
