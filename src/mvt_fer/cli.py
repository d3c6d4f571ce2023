"""The console entry point `mvt-fer`: the five stages (see stage.py), the paper presets and the ablation."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import pipeline
from .errors import UserError
from .stage import PARAMS_OPTION, stage_command

app = typer.Typer(
    name="mvt-fer",
    help="Mask Vision Transformer for facial expression recognition: the pipeline's stages.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for _fn in (pipeline.prepare, pipeline.train_mgn, pipeline.masks, pipeline.train_mvt, pipeline.evaluate):
    app.command(_fn.__name__.replace("_", "-"))(stage_command(_fn))

ablation_app = typer.Typer(help="The paper's ablation (Tables 1-3) at CPU scale, as DVC experiments.",
                           no_args_is_help=True)
app.add_typer(ablation_app, name="ablation")


@ablation_app.command("run")
def ablation_run(
    seeds: int = typer.Option(3, min=1, help="seeds 0..N-1; each seed is a whole pipeline (data, MGN, classifier)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the dvc exp run commands, run nothing"),
) -> None:
    """Run the ablation grid with `dvc exp run`, one experiment at a time, resuming where it stopped."""
    from . import ablation

    points = ablation.grid(range(seeds))
    if dry_run:
        for point in points:
            typer.echo(" ".join(ablation.exp_command(point)))
        return
    try:
        ablation.run(points)
        ablation.report()
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None


@ablation_app.command("report")
def ablation_report() -> None:
    """Tables (mean ± std over seeds) and test-accuracy curves from results/ablation/runs.jsonl."""
    from . import ablation

    try:
        tables = ablation.report()
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    for name, table in tables.items():
        typer.echo(f"{name}\n{table.to_string(index=False)}\n")


@app.command("preset")
def preset_command(
    name: str = typer.Argument(..., help="rafdb | ferplus | affectnet7 | affectnet8"),
    root: Optional[str] = typer.Option(None, help="the dataset's raw folder (prepare.root)"),
    subset_lists: Optional[str] = typer.Option(None, help="folder of the RAN occlusion/pose lists"),
    params: Path = PARAMS_OPTION,
) -> None:
    """Print the paper's settings for a dataset as `dvc exp run` flags, checked against the schema:
    dvc exp run -n rafdb-paper $(mvt-fer preset rafdb --root /data/RAF-DB/basic)"""
    from . import presets
    from .params import read_yaml

    if name not in presets.PRESETS:
        typer.echo(f"error: no preset {name!r} (have {', '.join(presets.PRESETS)})", err=True)
        raise typer.Exit(2)
    try:
        raw = read_yaml(params) or {}
        overrides, _ = presets.preset(name, raw, **{"prepare.root": root, "prepare.subset_lists": subset_lists})
    except UserError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2) from None
    typer.echo(" ".join(presets.as_flags(overrides)))
