"""The console entry point `mvt-fer`: the five stages (see stage.py), the paper presets and the ablation.

Every command imports what it needs when it runs: `mvt-fer --help` and argument errors never load torch.
"""

from __future__ import annotations

from pathlib import Path

import typer

from .errors import UserError
from .pipeline import STAGES
from .stage import PARAMS_OPTION, stage_command

app = typer.Typer(
    name="mvt-fer",
    help="Mask Vision Transformer for facial expression recognition: the pipeline's stages.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
for _name in STAGES:
    app.command(_name.replace("_", "-"))(stage_command(_name))


def _fail(err: UserError) -> None:
    """Bad input: one line, exit status 2, no traceback (as the stages do)."""
    typer.echo(f"error: {err}", err=True)
    raise typer.Exit(2) from None


ablation_app = typer.Typer(
    help="The paper's ablation (Tables 1-3) at CPU scale, as DVC experiments.", no_args_is_help=True
)
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
        _fail(err)


@ablation_app.command("report")
def ablation_report() -> None:
    """Tables (mean ± std over seeds) and test-accuracy curves from results/ablation/runs.jsonl."""
    from . import ablation

    try:
        tables = ablation.report()
    except UserError as err:
        _fail(err)
    for name, table in tables.items():
        typer.echo(f"{name}\n{table.to_string(index=False)}\n")


@app.command("preset")
def preset_command(
    name: str = typer.Argument(
        ...,
        help="rafdb | ferplus | affectnet7 | affectnet8 (the paper's MGN as written), NAME-sampled (the "
        "project's variant), ferplus-cpu, synthetic-decoys; or your own YAML file of overrides (it may "
        "`extends: [rafdb]`)",
    ),
    root: str | None = typer.Option(None, help="the dataset's raw folder (prepare.root)"),
    subset_lists: str | None = typer.Option(None, help="folder of the RAN occlusion/pose lists"),
    smoke: bool = typer.Option(
        False,
        "--smoke",
        help="one epoch of every stage (relabeling on in it): try the "
        "preset on your data in minutes before the real run; its figures mean nothing",
    ),
    params: Path = PARAMS_OPTION,
) -> None:
    """Print the paper's settings for a dataset as `dvc exp run` flags, checked against the schema:
    dvc exp run -n rafdb-paper $(mvt-fer preset rafdb --root /data/RAF-DB/basic)"""
    from . import presets
    from .params import read_yaml

    try:
        raw = read_yaml(params) or {}
        overrides, _ = presets.preset(name, raw, smoke, **{"prepare.root": root, "prepare.subset_lists": subset_lists})
    except UserError as err:
        _fail(err)
    typer.echo(" ".join(presets.as_flags(overrides)))


@app.command("predict")
def predict_command(
    inputs: list[str] = typer.Argument(..., help="image files, folders (searched recursively) or glob patterns"),
    *,
    out: Path = typer.Option(Path("predictions.csv"), help="where to write one row per face (.csv or .json)"),
    detect: bool = typer.Option(
        True, "--detect/--no-detect", help="find faces with OpenCV's Haar cascade, or take each image as one face"
    ),
    backend: str = typer.Option("torch", help="torch (the DVC outputs) or onnx (a model from `mvt-fer export`)"),
    mvt: Path = typer.Option(Path("models/mvt.pt"), help="trained classifier (train_mvt's output)"),
    mgn: Path = typer.Option(
        Path("models/mgn.pt"), help="trained mask generator, used when the classifier was trained on masked images"
    ),
    onnx: Path = typer.Option(Path("models/mvt.onnx"), help="exported model for --backend onnx"),
    overlay_dir: Path | None = typer.Option(None, help="also draw a PNG per image: boxes, labels, erased patches"),
    batch_size: int = typer.Option(64, min=1, help="faces per forward pass (face crops are held a batch at a time)"),
    margin: float = typer.Option(0.1, min=0.0, help="grow each detected box by this share of its side"),
    min_face: int = typer.Option(24, min=8, help="smallest face side the detector reports, pixels"),
    device: str | None = typer.Option(
        None,
        help='--backend torch runs on this device: "cpu", "cuda", "cuda:1" (default: cuda if available, else '
        "cpu); ONNX Runtime always runs on the CPU",
    ),
) -> None:
    """Predict the expression of every face in the given images. An image that cannot be decoded gets a
    warning and a row with `error` set; the others are all written, and the exit status is then 1."""
    from .predict import gather_inputs, predict_files, write_predictions
    from .predictor import OnnxBackend, TorchBackend, dataset_warning, torch_device

    try:
        if backend not in ("torch", "onnx"):
            raise UserError(f"--backend: {backend!r} is neither torch nor onnx")
        if backend == "onnx" and device not in (None, "cpu"):
            typer.echo(f"note: --device {device} is ignored: --backend onnx runs on the CPU", err=True)
        model = OnnxBackend(onnx) if backend == "onnx" else TorchBackend(mvt, mgn, torch_device(device))
        if warning := dataset_warning(model.dataset, onnx if backend == "onnx" else mvt):
            typer.echo(warning, err=True)
        table = predict_files(
            gather_inputs(inputs),
            model,
            detect=detect,
            batch_size=batch_size,
            margin=margin,
            min_face=min_face,
            overlay_dir=overlay_dir,
        )
        write_predictions(table, out)
    except UserError as err:
        _fail(err)
    failed = int((table["error"] != "").sum())
    faceless = int(((table["face"] < 0) & (table["error"] == "")).sum())
    typer.echo(
        f"predict: {int((table['face'] >= 0).sum())} face(s) in {table['file'].nunique()} image(s) -> {out}"
        + (f"; no face found in {faceless} image(s)" if faceless else "")
        + (f"; {failed} image(s) could not be decoded (see the error column)" if failed else "")
    )
    if failed:
        raise typer.Exit(1)


@app.command("export")
def export_command(
    out: Path = typer.Option(Path("models/mvt.onnx"), help="the ONNX file to write"),
    mvt: Path = typer.Option(Path("models/mvt.pt"), help="trained classifier"),
    mgn: Path = typer.Option(
        Path("models/mgn.pt"),
        help="trained mask generator (put in front of the classifier when it was trained on masked images)",
    ),
    check: Path = typer.Option(
        Path("data/prepared"),
        help="prepared store whose test images check the parity (random images where it is absent)",
    ),
) -> None:
    """Export the masked classifier (G + classifier, or the classifier alone) to ONNX and check it against
    PyTorch: the largest absolute difference in probabilities is printed, and above 1e-4 it fails."""
    import numpy as np

    from .data.store import PreparedStore
    from .predictor import UNKNOWN_DATASET, dataset_warning, export_onnx, load_predictor

    try:
        predictor, meta = load_predictor(mvt, mgn)
        if warning := dataset_warning(meta.get("dataset"), mvt):
            typer.echo(warning, err=True)
        size = meta["image_size"]
        if (check / "meta.json").is_file() and PreparedStore(check).image_size == size:
            images = np.asarray(PreparedStore(check).images(PreparedStore(check).splits[-1])[:64])
        else:
            images = np.random.default_rng(0).integers(0, 256, (16, size, size, 3), dtype=np.uint8)
        diff = export_onnx(predictor, meta["classes"], size, out, images, meta.get("dataset") or UNKNOWN_DATASET)
    except UserError as err:
        _fail(err)
    typer.echo(
        f"export: {out} ({'G + classifier' if predictor.generator is not None else 'classifier'}, "
        f"{size} px); max |ONNX - PyTorch| = {diff:.2e} over {len(images)} images"
    )
