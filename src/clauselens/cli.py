"""The `clauselens` command: one command per stage, plus `run` for the whole study.

Every stage command takes the same experiment config and works on the same output folder; each does only
what is missing, so commands can be repeated, interrupted and resumed.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from clauselens.config import ConfigError, ExperimentConfig, load_config

app = typer.Typer(
    help="clauselens: fine-tune code-compliance LLMs with FFT, LoRA and QLoRA at several sizes, score the "
    "rules they write, and attribute their output to the words of each clause.\n\n"
    "Start with: clauselens run examples/quickstart.toml",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
console = Console(stderr=True)
EXIT_BAD_CONFIG = 2  # the config or its data cannot be used; nothing was run
EXIT_FAILED_CELLS = 3  # the run finished, but some cells failed (listed at the end)

ConfigArg = Annotated[Path, typer.Argument(help="Experiment config (TOML), e.g. examples/quickstart.toml.")]
OutOpt = Annotated[Path | None, typer.Option("--output-dir", "-o", help="Override the config's output_dir.")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set", help="Override a config value: --set attribution.method=shapley (value parsed as TOML)."
    ),
]
AllowOpt = Annotated[
    bool,
    typer.Option("--allow-config-change", help="Resume an output folder although its config hash differs."),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Log debug detail.")]
DebugOpt = Annotated[
    bool, typer.Option("--debug", help="On an error, show its full traceback instead of one line.")
]
# errors a user causes (a bad config value, a missing file, a stage run out of order): one line, exit 2
USER_ERRORS = (ConfigError, ValueError, FileNotFoundError)


def _parse_set(items: list[str] | None) -> dict[str, object]:
    import tomllib

    out: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set generation.max_new_tokens=64")
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def _config(path: Path, output_dir: Path | None, sets: list[str] | None) -> ExperimentConfig:
    overrides = _parse_set(sets)
    if output_dir is not None:
        overrides["output_dir"] = str(output_dir)
    return load_config(path, overrides)


def _user_error(exc: Exception) -> typer.Exit:
    """Print `error: <message>` on one line; the exit (code 2) to raise."""
    message = " ".join(str(exc).split()) or type(exc).__name__
    console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_CONFIG)


def _setup_logging(verbose: bool) -> None:
    from clauselens.quiet import VERBOSE_ENV, quiet_third_party

    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # worker processes inherit it
    quiet_third_party()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=console, show_path=False)],
        force=True,
    )
    for noisy in ("httpx", "urllib3", "filelock", "ray"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # weight-loading bars of transformers would bury the study's own progress
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def _run(
    config: Path,
    stages: tuple[str, ...] | None,
    output_dir: Path | None,
    sets: list[str] | None,
    allow: bool,
    verbose: bool,
    debug: bool = False,
) -> None:
    from clauselens.run import STAGES, run_stages

    _setup_logging(verbose)
    try:
        cfg = _config(config, output_dir, sets)
        outcome = run_stages(cfg, STAGES if stages is None else stages, allow_config_change=allow)
    except USER_ERRORS as exc:
        if debug:
            raise
        raise _user_error(exc) from None
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]: finished work is saved; run the same command again to resume.")
        raise typer.Exit(130) from None
    if outcome.report is not None:
        colour = "bold yellow" if outcome.failed else "bold green"
        console.print(f"[{colour}]report:[/] {outcome.report}")
        print(outcome.report)
    if outcome.failed:
        console.print(f"[bold red]{len(outcome.failed)} cell(s) failed[/]:",
                      highlight=False)
        for cell_id, error in outcome.failed.items():
            first = error.strip().splitlines()[0] if error.strip() else "no error recorded"
            console.print(f"  {cell_id}: {first}", highlight=False, soft_wrap=True, markup=False)
        console.print("`clauselens status` shows each traceback; run the same command again to retrain "
                      "the failed cells (finished work is kept).", highlight=False)
        raise typer.Exit(EXIT_FAILED_CELLS)


def _stage_command(name: str, stages: tuple[str, ...] | None, doc: str) -> None:
    """Register `clauselens <name>`: the study's `stages` (None: all of them) on a config."""

    def command(
        config: ConfigArg,
        output_dir: OutOpt = None,
        set_: SetOpt = None,
        allow_config_change: AllowOpt = False,
        verbose: VerboseOpt = False,
        debug: DebugOpt = False,
    ) -> None:
        _run(config, stages, output_dir, set_, allow_config_change, verbose, debug)

    command.__doc__ = doc
    app.command(name=name)(command)


_stage_command(
    "run",
    None,
    """Run the whole study: corpus, models, train, generate, score, attribute, analyse, compare, report.

Resumes an interrupted run in the same output folder without redoing finished cells or clauses.
Prints the path of the HTML report at the end.""",
)
_stage_command(
    "train",
    ("corpus", "models", "train"),
    """Fine-tune every (model, strategy, seed) cell: FFT, LoRA, QLoRA.

Builtin ladder models are pretrained (and cached) first. Finished cells are skipped; a killed cell
resumes from its last checkpoint.""",
)
_stage_command(
    "generate",
    ("corpus", "generate"),
    """Generate a rule for every test clause with every trained cell.

Greedy by default (generation.do_sample for seeded sampling); raw and cleaned outputs go to the store.""",
)
_stage_command(
    "score",
    ("corpus", "score"),
    """Score generated rules against the references (similarity, edit
distances, syntax, sandboxed execution verdicts) with bootstrap CIs; the plateau tests are the
analyse stage's.""",
)
_stage_command(
    "attribute",
    ("corpus", "attribute"),
    """Perturbation attribution of every test clause for every cell.

Unit, perturbation, method and target come from the [attribution] section; done clauses are skipped.""",
)
_stage_command(
    "analyse",
    ("analyse",),
    """Token categories, focus metrics and the statistical tests between
strategies and sizes (every test stored with its plain-language sentence).""",
)
_stage_command(
    "compare",
    ("compare",),
    """Comparisons across cells on a few clauses: adapter deltas against the base
model, the quantisation split of QLoRA, category ablation with a random control, robustness of the
explanations, and whether attribution predicts a correct verdict.""",
)
_stage_command("report", ("report",), "Write the self-contained HTML report, figures and CSV/Parquet tables.")


@app.command()
def status(config: ConfigArg, output_dir: OutOpt = None, set_: SetOpt = None) -> None:
    """Show what a run has done so far: cells and their status, rows per table."""
    from clauselens.run import open_store

    try:
        cfg = _config(config, output_dir, set_)
    except ConfigError as exc:
        raise _user_error(exc) from None
    if not (Path(cfg.output_dir) / "store.duckdb").exists():
        console.print(f"{cfg.output_dir}: nothing run yet")
        return
    with open_store(cfg) as store:
        table = Table("table", "rows")
        for name in sorted(store.tables()):  # rows per table: what the run has done so far
            table.add_row(name, str(len(store.read(name))))
        Console().print(table)
        cells = store.read("cells")
        if not cells.empty:
            Console().print(cells[["cell_id", "status", "error"]].to_string(index=False))


@app.command()
def doctor(
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any sandbox layer is missing.")
    ] = False,
) -> None:
    """List the layers that isolate model-written rules on this machine, active or missing."""
    from clauselens.rules.isolation import HOW_TO_ADD, layers

    table = Table("rule sandbox layer", "status")
    for name, active in layers().items():
        table.add_row(name, "active" if active else f"[red]missing[/] ({HOW_TO_ADD.get(name, '')})")
    Console().print(table)
    if strict and not all(layers().values()):
        raise typer.Exit(1)


@app.command("config")
def show_config(config: ConfigArg, set_: SetOpt = None) -> None:
    """Validate a config and print it with every default filled in (as JSON)."""
    try:
        cfg = _config(config, None, set_)
    except ConfigError as exc:
        raise _user_error(exc) from None
    print(json.dumps(cfg.model_dump(mode="json"), indent=2))


def _mount_corpus() -> None:
    try:
        from clauselens.corpus.cli import app as corpus_app
    except ImportError:  # pragma: no cover - the corpus CLI is part of the package
        return
    app.add_typer(
        corpus_app, name="corpus", help="Extract, build, verify and inspect the clause -> rule corpus."
    )


_mount_corpus()
