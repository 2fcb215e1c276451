"""Benchmark of imports: `Workspace.load` of the demo history and `revaxis import`
of the same history written as a canonical CSV folder.

    python benchmarks/bench_import.py [--customers 100000] [--months 36] [--repeat 3]

The script generates the demo history once (seed 42, ending 2025-06-30),
pickles it and writes it with `revaxis.demo.write_demo_csv`. It then times each
step `--repeat` times, round-robin:

- load: `ws.load(tables)` into a fresh DuckDB file;
- load again: the same `ws.load(tables)` into a copy of a file that already
  contains the history, which must report 0 changed rows in every table;
- import csv: the process `revaxis --db FILE import FOLDER` into a fresh file;
- import csv again: the same process into a copy of a file that the import
  already filled, which must report 0 new or changed rows.

Every run is a child process of its own under `/usr/bin/time -v`, which gives
its peak RSS and its CPU time (user + system). A load's time is measured inside
the child around the call alone. An import's time is the whole process, since
that is what a user waits for. The script checks that the load and the import
store the same rows, prints the medians and appends them to
benchmarks/RESULTS.md under the heading "Import". It exits with status 1 when
a check fails.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Import: `benchmarks/bench_import.py`"
SECTION_TEXT = f"""{SECTION}

The script generates the demo history (`revaxis.demo.generate_demo`, seed 42,
ending 2025-06-30) and writes it as a canonical CSV folder
(`revaxis.demo.write_demo_csv`). It times `ws.load(tables)` into a fresh file,
the same load into a file that already contains the history (0 rows change),
and the process `revaxis --db FILE import FOLDER` into a fresh file and again
into a filled one. Each run is a process of its own under `/usr/bin/time -v`.
"median" and "CPU" (user + system time of all threads) are those of the call
alone for a load and of the whole process for an import. "process" is the wall
time of the whole process and "peak RSS" its maximum resident set size.
"""

SEED = 42
END = dt.date(2025, 6, 30)

LOAD = "load"
LOAD_AGAIN = "load again"
IMPORT = "import csv"
IMPORT_AGAIN = "import csv again"
STEPS = (LOAD, LOAD_AGAIN, IMPORT, IMPORT_AGAIN)


# Child processes ------------------------------------------------------------


def child_generate(tables_file: Path, folder: Path, customers: int, months: int):
    """Generate the history, pickle it and write it as a CSV folder."""
    from revaxis.demo import generate_demo, write_demo_csv

    tables = generate_demo(customers=customers, months=months, seed=SEED, end=END)
    with tables_file.open("wb") as handle:
        pickle.dump(tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
    shutil.rmtree(folder, ignore_errors=True)
    write_demo_csv(tables, folder)
    return {name: len(frame) for name, frame in tables.items()}


def child_load(tables_file: Path, db: Path) -> dict[str, object]:
    """Time `ws.load` of the pickled history into `db`."""
    import revaxis

    with tables_file.open("rb") as handle:
        tables = pickle.load(handle)
    with revaxis.Workspace(db) as ws:
        wall, cpu = time.perf_counter(), time.process_time()
        report = ws.load(tables, source="bench", format="demo")
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"seconds": wall, "cpu_seconds": cpu, "rows_changed": report.rows_changed}


def run_child(args: argparse.Namespace) -> None:
    if args.child == "generate":
        result = child_generate(
            Path(args.tables), Path(args.folder), args.customers, args.months
        )
    else:
        result = child_load(Path(args.tables), Path(args.db))
    print(json.dumps(result))


# Parent ---------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    cpu_seconds: float
    process_seconds: float
    peak_rss_mib: float


@dataclass
class Step:
    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


def _timed(command: list[str]) -> tuple[str, dict[str, float]]:
    """Run `command` under /usr/bin/time -v; return its stdout and the figures
    of time's report (wall, CPU seconds, peak RSS in MiB)."""
    done = subprocess.run(
        ["/usr/bin/time", "-v", *command],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed with status {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )

    def number(label: str) -> str:
        match = re.search(rf"{re.escape(label)}: (\S+)", done.stderr)
        if match is None:
            raise RuntimeError(f"/usr/bin/time printed no {label!r}")
        return match.group(1)

    clock = [float(part) for part in number("(h:mm:ss or m:ss)").split(":")]
    wall = sum(part * 60**power for power, part in enumerate(reversed(clock)))
    figures = {
        "process_seconds": wall,
        "cpu_seconds": float(number("User time (seconds)"))
        + float(number("System time (seconds)")),
        "peak_rss_mib": int(number("Maximum resident set size (kbytes)")) / 1024,
    }
    return done.stdout, figures


def _fresh(db: Path, copy_of: Path | None = None) -> Path:
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    if copy_of is not None:
        shutil.copyfile(copy_of, db)
    return db


def _load_run(tables: Path, db: Path, problems: list[str], again: bool) -> Run:
    command = [sys.executable, __file__, "--child", "load"]
    stdout, figures = _timed([*command, "--tables", str(tables), "--db", str(db)])
    result = json.loads(stdout.strip().splitlines()[-1])
    if again and any(result["rows_changed"].values()):
        problems.append(f"load again changed rows: {result['rows_changed']}")
    return Run(result["seconds"], result["cpu_seconds"], **_without_cpu(figures))


def _without_cpu(figures: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in figures.items() if k != "cpu_seconds"}


def _import_run(folder: Path, db: Path, problems: list[str], again: bool) -> Run:
    revaxis = Path(sys.executable).with_name("revaxis")
    stdout, figures = _timed([str(revaxis), "--db", str(db), "import", str(folder)])
    if again and "(0 new or changed)" not in stdout:
        problems.append(f"import again changed rows: {stdout.strip()}")
    return Run(
        figures["process_seconds"],
        figures["cpu_seconds"],
        figures["process_seconds"],
        figures["peak_rss_mib"],
    )


def table_fingerprints(db: Path) -> dict[str, tuple[object, ...]]:
    """Row count and an order-independent hash of every canonical table."""
    import duckdb

    from revaxis._schema import TABLES

    with duckdb.connect(str(db), read_only=True) as con:
        return {
            name: con.execute(
                f'SELECT count(*), bit_xor(hash(t)) FROM "{name}" t'
            ).fetchone()
            for name in TABLES
        }


def machine_line() -> str:
    cpu = platform.processor() or platform.machine()
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {memory:.1f} GiB RAM"


def versions_line() -> str:
    import duckdb
    import pandas
    import pyarrow

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], capture_output=True, text=True
    ).stdout.strip()
    state = " with uncommitted changes in src/" if dirty else ""
    return (
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"pandas {pandas.__version__}, pyarrow {pyarrow.__version__}; "
        f"revaxis commit {commit}{state}"
    )


def run_benchmark(args: argparse.Namespace) -> int:
    WORK.mkdir(exist_ok=True)
    size = f"{args.customers}x{args.months}"
    tables = WORK / f"import-{size}.pkl"
    folder = WORK / f"import-{size}-csv"
    load_start = os.getloadavg()[0]

    print(f"generating {size} ...", flush=True)
    command = [sys.executable, __file__, "--child", "generate"]
    command += ["--tables", str(tables), "--folder", str(folder)]
    command += ["--customers", str(args.customers), "--months", str(args.months)]
    stdout, _ = _timed(command)
    rows = json.loads(stdout.strip().splitlines()[-1])

    steps = {name: Step(name) for name in STEPS}
    problems: list[str] = []
    loaded, imported = WORK / f"import-{size}-loaded.duckdb", None
    for repeat in range(args.repeat):
        db = _fresh(WORK / f"import-{size}-run.duckdb")
        steps[LOAD].runs.append(_load_run(tables, db, problems, again=False))
        if repeat == 0:
            shutil.copyfile(db, _fresh(loaded))
        db = _fresh(db, copy_of=loaded)
        steps[LOAD_AGAIN].runs.append(_load_run(tables, db, problems, again=True))

        db = _fresh(db)
        steps[IMPORT].runs.append(_import_run(folder, db, problems, again=False))
        if repeat == 0:
            imported = _fresh(WORK / f"import-{size}-imported.duckdb", copy_of=db)
        db = _fresh(db, copy_of=imported)
        steps[IMPORT_AGAIN].runs.append(_import_run(folder, db, problems, again=True))
        print(f"round {repeat + 1} of {args.repeat} done", flush=True)
    _fresh(db)

    assert imported is not None
    by_load, by_import = table_fingerprints(loaded), table_fingerprints(imported)
    differing = [name for name in by_load if by_load[name] != by_import[name]]
    if differing:
        problems.append(f"load and import store other rows in {differing}")

    text = report_text(args, rows, steps, problems, load_start)
    print(text)
    if not args.no_append:
        append_results(text)
        print(f"Appended to {RESULTS}")
    return 1 if problems else 0


def report_text(
    args: argparse.Namespace,
    rows: dict[str, int],
    steps: dict[str, Step],
    problems: list[str],
    load_start: float,
) -> str:
    today = dt.date.today().isoformat()
    total = sum(rows.values())
    lines = [
        f"### {today}: {args.customers:,} customers x {args.months} months",
        "",
        "- command: `python benchmarks/bench_import.py "
        f"--customers {args.customers} --months {args.months} "
        f"--repeat {args.repeat}`",
        f"- machine: {machine_line()}; load average {load_start:.1f} at the "
        f"start, {os.getloadavg()[0]:.1f} at the end",
        f"- versions: {versions_line()}",
        f"- data: seed {SEED}, end {END}, {rows['invoice_lines']:,} invoice "
        f"lines, {total:,} rows in all tables",
        f"- median of {args.repeat} run(s) per step, each run in its own process",
        *([f"- note: {args.note}"] if args.note else []),
        "",
        "| step | median (s) | min (s) | max (s) | CPU (s) | process (s) "
        "| peak RSS (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for step in steps.values():
        seconds = [run.seconds for run in step.runs]
        lines.append(
            f"| {step.name} | {step.median('seconds'):.2f} | {min(seconds):.2f} "
            f"| {max(seconds):.2f} | {step.median('cpu_seconds'):.2f} "
            f"| {step.median('process_seconds'):.2f} "
            f"| {step.median('peak_rss_mib'):.0f} |"
        )
    lines += ["", "Checks:", ""]
    lines += [f"- FAILED: {problem}" for problem in problems] or [
        "- load again and import again change 0 rows: yes",
        "- load and import store the same rows in every table: yes",
    ]
    return "\n".join(lines) + "\n"


def append_results(text: str) -> None:
    """Add `text` at the end of the Import section, creating the section after
    the page title when it is absent."""
    content = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = content.find(SECTION)
    if start < 0:
        title_end = content.find("\n") + 1
        content = f"{content[:title_end]}\n{SECTION_TEXT}\n{content[title_end:]}"
        start = content.find(SECTION)
    following = content.find("\n## ", start + len(SECTION))
    end = len(content) if following < 0 else following + 1
    before = content[:end].rstrip("\n")
    RESULTS.write_text(f"{before}\n\n{text}\n{content[end:]}".rstrip("\n") + "\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each step (default 3)"
    )
    parser.add_argument(
        "--no-append",
        action="store_true",
        help=f"print the figures without appending them to {RESULTS.name}",
    )
    parser.add_argument(
        "--note", help="a line added to the results, such as the code version measured"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--tables", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return 0
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
