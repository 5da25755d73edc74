"""`clauselens corpus ...`: extract clauses, rebuild and verify the open corpus, check a user's data file."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import typer
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from clauselens.config import ConfigError, DataConfig
from clauselens.corpus.extract import ATTRIBUTION, extract_corpus
from clauselens.corpus.load import COLUMNS, load_pairs, read_pairs_file
from clauselens.corpus.rulebook import CORPUS_DIR, PAIRS_PATH, build_corpus
from clauselens.corpus.verify import verify_pairs
from clauselens.records import RulePair
from clauselens.store import atomic_write

app = typer.Typer(
    help="The clause -> rule corpus: extract clauses from regulation text, build the open UK "
    "corpus, verify its reference rules, and check your own CSV / JSONL / Parquet files.",
    no_args_is_help=True,
)
console = Console()

FileOption = Annotated[
    Path | None,
    typer.Option("--file", help="A pairs file (CSV / JSONL / Parquet); default: the shipped open corpus."),
]


def _fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _pairs(file: Path | None) -> list[RulePair]:
    try:
        return read_pairs_file(file or PAIRS_PATH)[0]
    except ConfigError as exc:
        _fail(str(exc))
        raise


def _counts(pairs: list[RulePair], title: str) -> Table:
    table = Table(title=title)
    for col in ("document", "quantitative", "qualitative", "train", "val", "test", "total"):
        table.add_column(col, justify="left" if col == "document" else "right")
    docs = sorted({p.clause.document for p in pairs})
    for doc in [*docs, "all"]:
        mine = [p for p in pairs if doc in ("all", p.clause.document)]
        kinds, splits = Counter(p.kind for p in mine), Counter(p.split for p in mine)
        table.add_row(
            doc,
            *(str(kinds[k]) for k in ("quantitative", "qualitative")),
            *(str(splits[s]) for s in ("train", "val", "test")),
            str(len(mine)),
        )
    return table


@app.command()
def extract(
    folder: Annotated[Path, typer.Option(help="Folder of Approved Document *.txt files.")] = CORPUS_DIR,
    out: Annotated[
        Path, typer.Option(help="Output folder for clauses.csv / clauses.parquet / skipped.json.")
    ] = Path("clauses"),
) -> None:
    """Extract numbered clauses from regulation text files; write the clause table and a report of what was
    skipped (page furniture, captions, table text, duplicates), with counts and examples."""
    ex = extract_corpus(folder)
    frame = pd.DataFrame([{**c.model_dump(), "source": ex.sources[c.clause_id]} for c in ex.clauses])
    with atomic_write(out / "clauses.csv") as fh:
        fh.write(f"# {ATTRIBUTION}\n")
        frame.to_csv(fh, index=False)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"attribution": ATTRIBUTION.encode()}
    )
    with atomic_write(out / "clauses.parquet", "wb") as fh:
        pq.write_table(table, fh)
    report = ex.report()
    with atomic_write(out / "skipped.json") as fh:
        json.dump(report, fh, indent=2)
    console.print(
        f"{report['clauses']} clauses from {len(report['clauses_by_document'])} documents -> {out}/"
    )
    skipped = Table(title="skipped")
    skipped.add_column("reason")
    skipped.add_column("count", justify="right")
    skipped.add_column("example")
    for reason, count in report["skipped"].items():
        skipped.add_row(reason, str(count), (report["examples"][reason] or [""])[0][:70])
    console.print(skipped)


@app.command()
def build(
    folder: Annotated[Path, typer.Option(help="Folder of Approved Document *.txt files.")] = CORPUS_DIR,
    out: Annotated[Path, typer.Option(help="Where to write the pairs JSONL.")] = PAIRS_PATH,
) -> None:
    """Rebuild the open corpus deterministically (extract, map constraints to rules, curate, split) and write
    it as JSONL with an OGL attribution header; prints counts and why clauses were rejected."""
    pairs, report = build_corpus(folder, out)
    console.print(_counts(pairs, f"{len(pairs)} pairs -> {out}"))
    rejected = Table(title=f"{report.considered} paragraphs considered; not made into pairs")
    rejected.add_column("reason")
    rejected.add_column("count", justify="right")
    for reason, count in report.rejected.most_common():
        rejected.add_row(reason, str(count))
    console.print(rejected)


@app.command()
def verify(
    file: FileOption = None,
    sample: Annotated[int | None, typer.Option(help="Verify only this many pairs (a seeded sample).")] = None,
    workers: Annotated[int, typer.Option(help="Sandboxed rule processes run at once.")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds per rule (all its fixtures).")] = 10.0,
) -> None:
    """Run every reference rule in the sandbox on its fixture buildings and check each verdict against the
    fixture's expect_compliant; prints counts by document and kind, and every failure. Exits 1 on any
    failure (a quantitative pair without inside/outside fixtures is a failure too)."""
    pairs = _pairs(file)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("verifying rules", total=len(pairs) if sample is None else sample)
        result = verify_pairs(
            pairs, sample=sample, workers=workers, timeout_s=timeout, on_done=lambda: progress.advance(task)
        )
    console.print(_counts(result.checked, f"{len(result.checked)} pairs verified"))
    console.print(
        f"fixtures run: {result.fixtures_run}; failures: {len(result.failures)}; "
        f"wall time {result.wall_s:.1f} s"
    )
    for clause_id, why in result.failures:
        console.print(f"[red]FAIL[/red] {clause_id}: {why}")
    if result.failures:
        raise typer.Exit(1)


@app.command()
def show(
    clause_id: Annotated[str, typer.Argument(help="A clause id such as K:1.12 or M-vol1:2.14d.")],
    file: FileOption = None,
) -> None:
    """Print one pair: clause, title, kind, split, reference rule and fixture buildings."""
    match = [p for p in _pairs(file) if p.clause.clause_id == clause_id]
    if not match:
        _fail(f"no clause {clause_id!r} in {file or PAIRS_PATH}")
    p = match[0]
    console.print(f"[bold]{p.clause.clause_id}[/bold] - {p.clause.title}  ({p.kind}, {p.split})")
    typer.echo(p.clause.text)
    typer.echo(p.rule)
    typer.echo(json.dumps(p.fixtures, indent=1))


@app.command("load")
def load_file(
    path: Annotated[Path, typer.Argument(help="A CSV / JSONL / Parquet file of clause -> rule pairs.")],
    col: Annotated[
        list[str] | None,
        typer.Option(help=f"Column mapping ours=theirs, repeatable; ours: {', '.join(COLUMNS)}."),
    ] = None,
    split: Annotated[str, typer.Option(help="stored | random | document")] = "stored",
    test_document: Annotated[
        list[str] | None, typer.Option(help="Document to hold out (split=document).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for the random split and the max_* order.")] = 0,
) -> None:
    """Check a user's pairs file the way a run would load it (with --col mappings such as --col text=clause
    --col rule=code) and print what was read; errors name the file and line."""
    columns: dict[str, str] = {}
    for item in col or []:
        ours, sep, theirs = item.partition("=")
        if not sep or not ours or not theirs:
            _fail(f"--col {item!r}: expected ours=theirs, e.g. --col text=clause")
        columns[ours] = theirs
    try:
        cfg = DataConfig(
            source=str(path.resolve()), columns=columns, split=split, test_documents=test_document or []
        )
        pairs = load_pairs(cfg, Path.cwd(), seed)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
        raise
    console.print(_counts(pairs, f"{len(pairs)} pairs read from {path}"))
    first = pairs[0]
    console.print(
        f"first pair: {first.clause.clause_id} ({first.kind}, {first.split}): {first.clause.text[:100]}",
        markup=False,
    )


if __name__ == "__main__":
    app()
