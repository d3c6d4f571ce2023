"""How every stage runs as a command: params loaded and validated, torchrun's process group joined, bad
input reported in one line (exit 2) instead of a traceback (`--debug` shows it).

`stages/*.py` (what dvc.yaml calls) and the `mvt-fer` console command both go through `stage_command`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import typer

from . import pipeline
from .engine import distributed
from .errors import UserError
from .params import Params, load_params

StageFn = Callable[[Params], None]

PARAMS_OPTION = typer.Option(Path("params.yaml"), "--params", "-p", help="params file to read")
DEBUG_OPTION = typer.Option(False, "--debug", help="show the full traceback of an error")


def stage_command(fn: StageFn) -> Callable[..., None]:
    """A Typer command that loads and validates params, runs `fn`, and reports bad input in one line."""

    def command(params: Path = PARAMS_OPTION, debug: bool = DEBUG_OPTION) -> None:
        try:
            p = load_params(params)
            distributed.setup()
            if distributed.is_main() or fn.__name__ in pipeline.DISTRIBUTED:
                fn(p)
        except UserError as err:
            if debug:
                raise
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        finally:
            distributed.teardown()

    command.__name__ = fn.__name__
    command.__doc__ = fn.__doc__
    return command


def run_stage(fn: StageFn) -> None:
    """Run one stage as a stand-alone script (what dvc.yaml calls)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(stage_command(fn))
    app(prog_name=Path(sys.argv[0]).name)
