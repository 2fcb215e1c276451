"""Benchmark of the MRR build: import, engine, CLI, hand-written SQL and pandas.

    python benchmarks/bench_mrr.py [--customers 100000] [--months 36] [--repeat 3]

The script generates the demo history once (seed 42, ending 2025-06-30) and
then times each step `--repeat` times, round-robin:

- import: `Workspace.load(tables)` into a fresh DuckDB file;
- engine movements: `ws.movements()` with no axis;
- engine mrr by plan: `ws.mrr(by="plan")`;
- CLI: the process
  `revaxis --db FILE mrr --by plan --to 2025-06 --format csv > /dev/null`;
- hand SQL: mrr_by_plan.sql, the same bridge written by hand in DuckDB SQL;
- pandas events: pandas_mrr.mrr_by_plan, the same bridge in pandas over
  change events;
- pandas panel: pandas_mrr.mrr_by_plan_panel, the bridge as analysts usually
  write it in pandas, from a dense customer x plan x month panel of month-end
  MRR and `groupby().shift()`.

Every run is a child process of its own, so its peak RSS (ru_maxrss from
wait4) is its own. A step's time is measured inside the child around the call
alone, except for the CLI, whose time is the whole process. The engine, hand
SQL and pandas all report as of END. The CLI is called without `--as-of`, so
it reports as of today, and gets `--to` END's month instead. END is the last day of a
month, so the CLI's months are the same, and the checks compare its output
too. The month-end panel samples MRR once a month, so the checks compare only
its MRR and customer counts at each month's start and end. A table compares
its movements with the engine's. The script prints the medians, ratios, checks
and that table and adds them to the MRR section of benchmarks/RESULTS.md. It
exits with status 1 when a check fails.

`--profile` runs `ws.mrr(by="plan")` once more and prints the time of each
`.cache()` and `.execute()` that the engine calls, with its caller.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
RESULTS = HERE / "RESULTS.md"
SQL_FILE = HERE / "mrr_by_plan.sql"

SEED = 42
# The last day of a month, so that the CLI's months match the as-of reports.
END = dt.date(2025, 6, 30)
END_MONTH = END.strftime("%Y-%m")
CURRENCY = "USD"

ENGINE_MOVEMENTS = "engine movements"
ENGINE_MRR = "engine mrr by plan"
CLI = "CLI mrr --by plan"
HAND_SQL = "hand SQL"
PANDAS = "pandas events"
PANDAS_PANEL = "pandas panel"
IMPORT = "import"
BASELINE = "python + imports"
GENERATE = "generate"

AMOUNTS = [
    "mrr_start",
    "new",
    "expansion",
    "contraction",
    "churn",
    "reactivation",
    "transfer_in",
    "transfer_out",
    "fx",
    "mrr_end",
]
COUNTS = [
    "customers_start",
    "customers_end",
    "new_customers",
    "churned_customers",
    "reactivated_customers",
]
# Columns that a month-end sample gives exactly; the others are movements.
MONTH_END = ["mrr_start", "mrr_end", "customers_start", "customers_end"]


# Child process: one method, timed -------------------------------------------


def rss_mib() -> float:
    """Resident set size of this process now, in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Stopwatch:
    """Wall time and CPU time (all threads of this process) of a `with` block."""

    def __enter__(self) -> Stopwatch:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._wall
        self.cpu_seconds = time.process_time() - self._cpu


def generate(watch: Stopwatch, tables_file: Path, size: tuple[int, int]) -> dict:
    """Generate the demo history and pickle it for the import runs; return the
    number of rows of each table."""
    from revaxis.demo import generate_demo

    customers, months = size
    with watch:
        tables = generate_demo(customers=customers, months=months, seed=SEED, end=END)
    with tables_file.open("wb") as handle:
        pickle.dump(tables, handle, protocol=pickle.HIGHEST_PROTOCOL)
    return {name: len(frame) for name, frame in tables.items()}


def time_import(watch: Stopwatch, db: Path, tables_file: Path) -> None:
    import revaxis

    with tables_file.open("rb") as handle:
        tables = pickle.load(handle)
    for path in (db, db.with_name(db.name + ".wal")):
        path.unlink(missing_ok=True)
    with revaxis.Workspace(db) as ws, watch:
        ws.load(tables)


def time_engine_movements(watch: Stopwatch, db: Path) -> pd.DataFrame:
    import revaxis

    with revaxis.Workspace(db) as ws, watch:
        return ws.movements(as_of=END)


def time_engine_mrr(watch: Stopwatch, db: Path) -> pd.DataFrame:
    import revaxis

    with revaxis.Workspace(db) as ws, watch:
        return ws.mrr(by="plan", as_of=END)


def time_hand_sql(watch: Stopwatch, db: Path) -> pd.DataFrame:
    import duckdb

    sql = SQL_FILE.read_text()
    with duckdb.connect(str(db), read_only=True) as con, watch:
        return con.execute(sql, {"as_of": END, "currency": CURRENCY}).df()


def time_pandas(watch: Stopwatch, db: Path) -> pd.DataFrame:
    """Time reading the tables into pandas and computing the bridge there from
    change events."""
    import pandas_mrr

    with watch:
        tables = pandas_mrr.read_tables(str(db))
        return pandas_mrr.mrr_by_plan(tables, CURRENCY, END)


def time_pandas_panel(watch: Stopwatch, db: Path) -> pd.DataFrame:
    """Time reading the tables into pandas and computing the bridge there from a
    dense month-end panel."""
    import pandas_mrr

    with watch:
        tables = pandas_mrr.read_tables(str(db))
        return pandas_mrr.mrr_by_plan_panel(tables, CURRENCY, END)


def time_baseline(watch: Stopwatch) -> None:
    """Import what the other runs import, to show their common RSS floor."""
    with watch:
        import duckdb  # noqa: F401
        import ibis  # noqa: F401

        import revaxis  # noqa: F401


def run_child(args: argparse.Namespace) -> None:
    """Run one method in this process and print its times and RSS as JSON."""
    db = Path(args.db)
    tables_file = Path(args.tables)
    watch = Stopwatch()
    rss_start = rss_mib()
    methods: dict[str, Callable[[], object]] = {
        GENERATE: lambda: generate(watch, tables_file, (args.customers, args.months)),
        IMPORT: lambda: time_import(watch, db, tables_file),
        ENGINE_MOVEMENTS: lambda: time_engine_movements(watch, db),
        ENGINE_MRR: lambda: time_engine_mrr(watch, db),
        HAND_SQL: lambda: time_hand_sql(watch, db),
        PANDAS: lambda: time_pandas(watch, db),
        PANDAS_PANEL: lambda: time_pandas_panel(watch, db),
        BASELINE: lambda: time_baseline(watch),
    }
    result = methods[args.child]()
    if isinstance(result, pd.DataFrame) and args.output:
        result.to_pickle(args.output)
    report = {
        "seconds": watch.seconds,
        "cpu_seconds": watch.cpu_seconds,
        "rss_start_mib": rss_start,
        "rows": result if isinstance(result, dict) else None,
    }
    print(json.dumps(report))


def run_profile(db: Path) -> None:
    """Print the time of each .cache() and .execute() of ws.mrr(by="plan")."""
    import ibis.expr.types as ir

    import revaxis

    calls: list[tuple[str, float, str]] = []

    def caller() -> str:
        for frame in reversed(traceback.extract_stack()[:-1]):
            if "/revaxis/" in frame.filename and frame.name != "_cache":
                return f"{Path(frame.filename).name}:{frame.lineno} {frame.line}"
        return "?"

    def timed(kind: str, method: Callable) -> Callable:
        def wrapper(self, *args, **kwargs):
            start = time.perf_counter()
            result = method(self, *args, **kwargs)
            calls.append((kind, time.perf_counter() - start, caller()))
            return result

        return wrapper

    ir.Table.cache = timed("cache", ir.Table.cache)
    ir.Expr.execute = timed("execute", ir.Expr.execute)
    with revaxis.Workspace(db) as ws:
        start = time.perf_counter()
        ws.mrr(by="plan", as_of=END)
        total = time.perf_counter() - start
    print(f"ws.mrr(by='plan'): {total:.2f} s, of which in DuckDB:")
    for kind, seconds, where in calls:
        if seconds >= 0.01:
            print(f"  {seconds:6.2f} s  {kind:7}  {where}")


# Parent: spawn, measure, check, report -----------------------------------------


@dataclass
class Run:
    """One run of a step: the step's own wall and CPU time (the whole process for
    the CLI), the whole process's wall time and its peak RSS."""

    seconds: float
    cpu_seconds: float
    process_seconds: float
    peak_rss_mib: float
    rss_start_mib: float | None = None


@dataclass
class Step:
    name: str
    runs: list[Run] = field(default_factory=list)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)


@dataclass
class ChildResult:
    """A finished child process: wall time, CPU time (user + system), peak RSS
    and stdout text (empty when stdout went to /dev/null)."""

    wall: float
    cpu: float
    peak_rss_mib: float
    stdout: str


def spawn(argv: list[str], stdout_path: str) -> ChildResult:
    """Run `argv` with stdout to `stdout_path` and measure it with wait4.

    The parent keeps no generated tables in memory, because the child's
    ru_maxrss starts from the parent's RSS when the child is forked.
    Raises RuntimeError with the child's stderr when it fails."""
    with (
        open(stdout_path, "w") as stdout,
        open(WORK / "child-stderr.txt", "w+") as stderr,
    ):
        start = time.perf_counter()
        child = subprocess.Popen(argv, stdout=stdout, stderr=stderr, cwd=REPO)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = stderr.read()
    if child.returncode != 0:
        raise RuntimeError(
            f"{shlex.join(argv)} failed with exit code {child.returncode}:\n{errors}"
        )
    text = "" if stdout_path == os.devnull else Path(stdout_path).read_text()
    # ru_maxrss is in KiB on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return ChildResult(wall, cpu, usage.ru_maxrss / 1024, text)


def result_file(name: str) -> Path:
    """Return the file where the child of step `name` pickles its output."""
    return WORK / f"result-{name.replace(' ', '_')}.pkl"


def run_python_child(
    name: str, db: Path, tables_file: Path, size: tuple[int, int]
) -> tuple[ChildResult, dict]:
    """Run one method of this script in a child process; return the process
    measures and the JSON report the child prints."""
    output = result_file(name)
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        name,
        "--db",
        str(db),
        "--tables",
        str(tables_file),
        "--output",
        str(output),
        "--customers",
        str(size[0]),
        "--months",
        str(size[1]),
    ]
    child = spawn(argv, str(WORK / "child-stdout.txt"))
    return child, json.loads(child.stdout.strip().splitlines()[-1])


def run_python_step(
    name: str, db: Path, tables_file: Path, size: tuple[int, int]
) -> Run:
    child, report = run_python_child(name, db, tables_file, size)
    return Run(
        report["seconds"],
        report["cpu_seconds"],
        child.wall,
        child.peak_rss_mib,
        report["rss_start_mib"],
    )


def cli_argv(db: Path) -> list[str]:
    revaxis_bin = shutil.which("revaxis", path=str(Path(sys.executable).parent))
    if revaxis_bin is None:
        raise RuntimeError(
            f"revaxis command not found next to {sys.executable}: install the "
            "package into this environment (pip install -e .)."
        )
    options = ["--by", "plan", "--to", END_MONTH, "--format", "csv"]
    return [revaxis_bin, "--db", str(db), "mrr", *options]


def run_cli_step(db: Path) -> Run:
    child = spawn(cli_argv(db), os.devnull)
    return Run(child.wall, child.cpu, child.wall, child.peak_rss_mib)


# Checks ------------------------------------------------------------------------


def engine_cents(frame: pd.DataFrame) -> pd.DataFrame:
    """Convert the engine's amounts (currency units) to integer cents, like the
    baselines."""
    frame = frame.copy()
    for column in AMOUNTS:
        frame[column] = (frame[column] * 100).round().astype("int64")
    return frame


def merge_bridges(engine: pd.DataFrame, other: pd.DataFrame) -> pd.DataFrame:
    """Join two bridges on period and plan, columns suffixed `_engine` and
    `_other`. A row missing on one side counts as all zeros."""
    merged = engine.merge(
        other, on=["period", "plan"], how="outer", suffixes=("_engine", "_other")
    )
    for column in AMOUNTS + COUNTS:
        for suffix in ("_engine", "_other"):
            merged[column + suffix] = merged[column + suffix].fillna(0).astype("int64")
    return merged


def compare_bridges(
    expected: pd.DataFrame,
    actual: pd.DataFrame,
    columns: Sequence[str] = (*AMOUNTS, *COUNTS),
) -> list[str]:
    """List the differences in `columns` between two bridges by period and
    plan, or [] when every value agrees. A row missing on one side counts as
    all zeros."""
    merged = merge_bridges(expected, actual)
    differences = []
    for column in columns:
        left = merged[f"{column}_engine"]
        right = merged[f"{column}_other"]
        for index in merged.index[left != right]:
            differences.append(
                f"{merged.at[index, 'period']} {merged.at[index, 'plan']}: "
                f"{column} engine {left[index]}, other {right[index]}"
            )
    return differences


def compare_movement_totals(movements: pd.DataFrame, bridge: pd.DataFrame) -> list[str]:
    """List the differences between the monthly totals of ws.movements() (no
    axis) and the sum over plans of ws.mrr(by="plan"). Transfers cancel out
    over plans, so expansion - contraction is compared as one figure."""
    moves = movements.assign(
        period=pd.to_datetime(movements["date"]).dt.strftime("%Y-%m")
    )
    moves = engine_cents(moves.assign(mrr_start=0.0, mrr_end=0.0))
    totals = {
        "no axis": moves.groupby("period")[AMOUNTS].sum(),
        "by plan": bridge.groupby("period")[AMOUNTS].sum(),
    }
    differences = []
    for period in totals["by plan"].index:
        if period not in totals["no axis"].index:
            continue
        row = {key: table.loc[period] for key, table in totals.items()}
        figures = {
            name: {key: int(value[name]) for key, value in row.items()}
            for name in ("new", "churn", "reactivation", "fx")
        }
        figures["expansion - contraction"] = {
            key: int(value["expansion"] - value["contraction"])
            for key, value in row.items()
        }
        for name, values in figures.items():
            if values["no axis"] != values["by plan"]:
                differences.append(f"{period} {name}: {values}")
    return differences


def panel_movement_lines(engine: pd.DataFrame, panel: pd.DataFrame) -> list[str]:
    """Tabulate each movement and customer count of the month-end panel against
    the engine's: totals over all months and plans, in currency units for the
    amounts, and the number of month-and-plan rows that differ."""
    merged = merge_bridges(engine, panel)
    lines = [
        "| column | engine | pandas panel | panel - engine | months x plans "
        "that differ |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for column in [*AMOUNTS, *COUNTS]:
        if column in MONTH_END:
            continue
        left = merged[f"{column}_engine"]
        right = merged[f"{column}_other"]
        totals = [int(left.sum()), int(right.sum())]
        totals.append(totals[1] - totals[0])
        if column in AMOUNTS:
            formatted = [f"{value / 100:,.2f}" for value in totals]
        else:
            formatted = [f"{value:,}" for value in totals]
        lines.append(
            f"| {column} | {' | '.join(formatted)} | {int((left != right).sum()):,} "
            f"of {len(merged):,} |"
        )
    return lines


def check_results(db: Path) -> dict[str, list[str]]:
    """Compare every method's output with the engine's bridge by plan: all
    columns, except only the month-end columns for the month-end panel."""
    engine = engine_cents(pd.read_pickle(result_file(ENGINE_MRR)))
    cli_csv = WORK / "cli-mrr-by-plan.csv"
    spawn(cli_argv(db), str(cli_csv))
    cli = engine_cents(pd.read_csv(cli_csv, dtype={"period": str}))
    return {
        f"{HAND_SQL} = engine": compare_bridges(
            engine, pd.read_pickle(result_file(HAND_SQL))
        ),
        f"{PANDAS} = engine": compare_bridges(
            engine, pd.read_pickle(result_file(PANDAS))
        ),
        f"{PANDAS_PANEL} = engine in {', '.join(MONTH_END)}": compare_bridges(
            engine, pd.read_pickle(result_file(PANDAS_PANEL)), MONTH_END
        ),
        f"{CLI} = engine": compare_bridges(engine, cli),
        "movements() monthly totals = sum of mrr(by=plan)": compare_movement_totals(
            pd.read_pickle(result_file(ENGINE_MOVEMENTS)), engine
        ),
    }


# Report ------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return f"{model}, {os.cpu_count()} cores, {total_kib / 2**20:.1f} GiB RAM"


def versions() -> str:
    import duckdb
    import ibis

    return (
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"Ibis {ibis.__version__}, pandas {pd.__version__}"
    )


def source_state() -> str:
    """Describe the commit measured and whether src/ had uncommitted changes."""
    git = ["git", "--no-optional-locks", "-C", str(REPO)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "revaxis source: unknown (not a git checkout)"
    suffix = " with uncommitted changes in src/" if changed else ""
    return f"revaxis commit {commit}{suffix}"


@dataclass
class Setting:
    """Data and machine load of one benchmark run."""

    rows: dict[str, int]
    generate_seconds: float
    load_before: float
    load_after: float


def step_table(steps: list[Step]) -> list[str]:
    lines = [
        "| step | median (s) | min (s) | max (s) | CPU (s) | process (s) "
        "| peak RSS (MiB) | RSS at step start (MiB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for step in steps:
        seconds = [run.seconds for run in step.runs]
        starts = [run.rss_start_mib for run in step.runs if run.rss_start_mib]
        start_rss = f"{statistics.median(starts):.0f}" if starts else "-"
        lines.append(
            f"| {step.name} | {step.median('seconds'):.2f} | {min(seconds):.2f} "
            f"| {max(seconds):.2f} | {step.median('cpu_seconds'):.2f} "
            f"| {step.median('process_seconds'):.2f} "
            f"| {step.median('peak_rss_mib'):.0f} | {start_rss} |"
        )
    return lines


def target_lines(by_name: dict[str, Step]) -> list[str]:
    def ratio(numerator: str, denominator: str, attribute: str) -> float:
        return by_name[numerator].median(attribute) / by_name[denominator].median(
            attribute
        )

    def verdict(met: bool) -> str:
        return "met" if met else "MISSED"

    engine_sql = ratio(ENGINE_MRR, HAND_SQL, "seconds")
    cli = by_name[CLI].median("seconds")
    with_import = cli + by_name[IMPORT].median("seconds")
    lines = [
        f"- engine / hand SQL: {engine_sql:.2f}x "
        f"(target at most 1.5x: {verdict(engine_sql <= 1.5)}); in CPU time "
        f"{ratio(ENGINE_MRR, HAND_SQL, 'cpu_seconds'):.2f}x",
    ]
    for name in (PANDAS, PANDAS_PANEL):
        pandas_engine = ratio(name, ENGINE_MRR, "seconds")
        lines.append(
            f"- {name} / engine: {pandas_engine:.2f}x "
            f"(target at least 10x: {verdict(pandas_engine >= 10)}); in CPU time "
            f"{ratio(name, ENGINE_MRR, 'cpu_seconds'):.2f}x"
        )
    lines.append(
        f"- full build, the `revaxis mrr --by plan` process: {cli:.1f} s "
        f"(target under 20 s: {verdict(cli < 20)}); with the import before it: "
        f"{with_import:.1f} s ({verdict(with_import < 20)})"
    )
    return lines


def check_lines(checks: dict[str, list[str]], max_listed: int = 5) -> list[str]:
    lines = []
    for name, differences in checks.items():
        if not differences:
            lines.append(f"- {name}: agree")
            continue
        lines.append(f"- {name}: {len(differences)} differences, first ones:")
        lines.extend(f"  - {text}" for text in differences[:max_listed])
    return lines


def report(
    args: argparse.Namespace,
    steps: list[Step],
    checks: dict[str, list[str]],
    panel_lines: list[str],
    setting: Setting,
) -> str:
    by_name = {step.name: step for step in steps}
    options = ["--customers", str(args.customers), "--months", str(args.months)]
    options += ["--repeat", str(args.repeat)]
    command = "python benchmarks/bench_mrr.py " + shlex.join(options)
    rows = setting.rows
    lines = [
        f"### {dt.date.today().isoformat()}: {args.customers:,} customers x "
        f"{args.months} months",
        "",
        f"- command: `{command}`",
        f"- machine: {machine()}; load average {setting.load_before:.1f} at the "
        f"start, {setting.load_after:.1f} at the end",
        f"- versions: {versions()}; {source_state()}",
        f"- data: seed {SEED}, end {END}, {rows['invoice_lines']:,} invoice lines, "
        f"{rows['subscriptions']:,} subscriptions, generated in "
        f"{setting.generate_seconds:.2f} s; reports as of {END} in {CURRENCY}",
        f"- median of {args.repeat} run(s) per step, each run in its own process",
        "",
        *step_table(steps),
        "",
        *target_lines(by_name),
        "",
        "Checks:",
        "",
        *check_lines(checks),
        "",
        f"Movements of the {PANDAS_PANEL} (month-end samples) against the engine "
        "(daily changes), summed over all months and plans:",
        "",
        *panel_lines,
        "",
    ]
    return "\n".join(lines)


def append_results(text: str) -> None:
    """Insert `text` at the end of the MRR section of RESULTS.md, before the next
    `## ` heading (other benchmarks add sections of their own), or at the end
    of the file when that section is missing."""
    heading = "## MRR build"
    if not RESULTS.exists():
        RESULTS.write_text(f"# Benchmark results\n\n{heading}\n")
    lines = RESULTS.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    start = starts[0] if starts else len(lines)
    following = [i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")]
    end = following[0] if following else len(lines)
    parts = ["\n".join(lines[:end]).rstrip("\n"), text.rstrip("\n")]
    if end < len(lines):
        parts.append("\n".join(lines[end:]))
    RESULTS.write_text("\n\n".join(parts) + "\n")


def run_benchmark(args: argparse.Namespace) -> int:
    WORK.mkdir(exist_ok=True)
    size = (args.customers, args.months)
    tables_file = WORK / f"demo-{args.customers}x{args.months}.pkl"
    db = WORK / f"bench-{args.customers}x{args.months}.duckdb"
    load_before = os.getloadavg()[0]
    print(f"Generating {args.customers:,} customers x {args.months} months...")
    _, generated = run_python_child(GENERATE, db, tables_file, size)

    steps = {
        name: Step(name)
        for name in (
            BASELINE,
            IMPORT,
            ENGINE_MOVEMENTS,
            ENGINE_MRR,
            CLI,
            HAND_SQL,
            PANDAS,
            PANDAS_PANEL,
        )
    }
    for repeat in range(args.repeat):
        for name, step in steps.items():
            print(f"run {repeat + 1}/{args.repeat}: {name}", flush=True)
            if name == CLI:
                step.runs.append(run_cli_step(db))
            else:
                step.runs.append(run_python_step(name, db, tables_file, size))
            print(f"  {step.runs[-1].seconds:.2f} s", flush=True)

    setting = Setting(
        generated["rows"], generated["seconds"], load_before, os.getloadavg()[0]
    )
    checks = check_results(db)
    panel_lines = panel_movement_lines(
        engine_cents(pd.read_pickle(result_file(ENGINE_MRR))),
        pd.read_pickle(result_file(PANDAS_PANEL)),
    )
    text = report(args, list(steps.values()), checks, panel_lines, setting)
    print()
    print(text)
    if not args.no_record:
        append_results(text)
        print(f"Added to the MRR section of {RESULTS}")
    if args.profile:
        run_profile(db)
    return 1 if any(checks.values()) else 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time the MRR build (import, engine, CLI) against hand-written "
        "DuckDB SQL and two pandas versions on the generated demo history."
    )
    parser.add_argument(
        "--customers", type=int, default=100_000, help="customers to generate"
    )

    parser.add_argument(
        "--months", type=int, default=36, help="months of history to generate"
    )

    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each step; medians are shown"
    )

    parser.add_argument(
        "--profile",
        action="store_true",
        help="also time each query of ws.mrr(by='plan') once",
    )
    parser.add_argument(
        "--no-record",
        action="store_true",
        help=f"print the figures without adding them to {RESULTS.name}",
    )

    # Internal: the parent runs each method in a child with these options.
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--tables", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)

    args = parser.parse_args(argv)
    if args.repeat < 1 or args.customers < 1 or args.months < 1:
        parser.error("--customers, --months and --repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        sys.path.insert(0, str(HERE))
        run_child(args)
        return 0
    return run_benchmark(args)


if __name__ == "__main__":
    sys.exit(main())
