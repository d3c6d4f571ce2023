"""How every stage runs as a command: params loaded and validated, torchrun's process group joined, bad
input reported in one line (exit 2) instead of a traceback (`--debug` shows it).

`stages/*.py` (what dvc.yaml calls) and the `mvt-fer` console command both go through `stage_command`.
"""

from __future__ import annotations

import ast
import importlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .errors import UserError
from .pipeline import DISTRIBUTED

if TYPE_CHECKING:
    from .params import Params

StageFn = Callable[["Params"], None]

PARAMS_OPTION = typer.Option(Path("params.yaml"), "--params", "-p", help="params file to read")
DEBUG_OPTION = typer.Option(False, "--debug", help="show the full traceback of an error")


def stage_doc(name: str) -> str | None:
    """The docstring of stage `name`'s function, read from its source: `--help` without importing torch."""
    tree = ast.parse((Path(__file__).parent / "pipeline" / f"{name}.py").read_text())
    return next(ast.get_docstring(node) for node in tree.body if getattr(node, "name", None) == name)


def stage_command(fn: StageFn | str) -> Callable[..., None]:
    """A Typer command that loads and validates params, runs `fn` (or the stage of that name, imported
    only when the command runs), and reports bad input in one line."""
    name = fn if isinstance(fn, str) else fn.__name__

    def stage() -> StageFn:
        return getattr(importlib.import_module(f"{__package__}.pipeline.{name}"), name) if isinstance(fn, str) else fn

    def command(params: Path = PARAMS_OPTION, debug: bool = DEBUG_OPTION) -> None:
        from .params import load_params

        shared = name in DISTRIBUTED
        if shared:  # torch only where a stage needs it: prepare's worker processes start small without it
            from .engine import distributed
        try:
            p = load_params(params)
            if shared:
                distributed.setup()
                stage()(p)
            elif int(os.environ.get("RANK", "0")) == 0:  # under torchrun, process 0 alone runs the others
                stage()(p)
        except UserError as err:
            if debug:
                raise
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        finally:
            if shared:
                distributed.teardown()

    command.__name__ = name
    command.__doc__ = stage_doc(name) if isinstance(fn, str) else fn.__doc__
    return command


def run_stage(fn: StageFn) -> None:
    """Run one stage as a stand-alone script (what dvc.yaml calls)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(stage_command(fn))
    app(prog_name=Path(sys.argv[0]).name)
