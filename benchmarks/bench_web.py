"""Benchmark of the web app and REST API: response times of the main pages and
routes on a generated history, served by `revaxis serve` in its own process.

    python benchmarks/bench_web.py [--customers 10000] [--months 36] [--repeat 5]

The script generates the demo history (seed 42, ending 2025-06-30) into a fresh
workspace under benchmarks/work/, adds a user with an API token and starts
`revaxis serve` on a free port of 127.0.0.1. Each request is sent once to warm
up, then `--repeat` times in a row, round-robin over the requests. A request
that does not return 200 stops the benchmark. The script prints the median,
minimum and maximum wall time of each request as seen by the client (httpx),
and the server's peak RSS (VmHWM) after the runs, and appends them to
benchmarks/RESULTS.md under the heading "Web app and API".
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Web app and API: `benchmarks/bench_web.py`"
SECTION_TEXT = f"""{SECTION}

The script generates the demo history (seed 42, ending 2025-06-30), serves it
with `revaxis serve` in its own process and times each request from a client
on the same machine, authenticated by an API token: one warm-up request, then
`--repeat` timed ones per request, round-robin. The report day is 2025-06-30.
"""
END = dt.date(2025, 6, 30)
AS_OF = "as_of=2025-06-30"
EMAIL = "bench@example.com"
PASSWORD = "benchmark password"

REQUESTS = [
    ("API mrr", f"/api/v1/mrr?{AS_OF}"),
    ("API mrr by plan", f"/api/v1/mrr?by=plan&{AS_OF}"),
    (
        "API mrr by plan, country, quarter",
        f"/api/v1/mrr?by=plan,country&interval=quarter&{AS_OF}",
    ),
    ("API kpis", f"/api/v1/kpis?{AS_OF}"),
    ("API cohorts", f"/api/v1/cohorts?{AS_OF}"),
    ("API customers (page of 50)", f"/api/v1/customers?limit=50&{AS_OF}"),
    ("API drill mrr 2025-06", f"/api/v1/drill?kpi=mrr&period=2025-06&{AS_OF}"),
    ("page overview", f"/overview?{AS_OF}"),
    ("page segments results by plan", f"/segments/results?kpi=mrr&axis=plan&{AS_OF}"),
    ("page cohorts", f"/cohorts?{AS_OF}"),
    ("page customers", f"/customers?{AS_OF}"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(db: Path, customers: int, months: int) -> tuple[str, str]:
    """Write the history and a user into `db`; return the token and a customer id."""
    import revaxis
    from revaxis.demo import generate_demo

    db.unlink(missing_ok=True)
    tables = generate_demo(customers=customers, months=months, seed=42, end=END)
    with revaxis.Workspace(db) as ws:
        ws.load(tables, source="bench", format="demo")
        ws.users.add(EMAIL, PASSWORD, "viewer")
        token = ws.users.create_token(EMAIL, "bench")
    return token, str(tables["customers"]["customer_id"].iloc[0])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(args: argparse.Namespace) -> str:
    WORK.mkdir(exist_ok=True)
    db = WORK / "web.duckdb"
    token, customer = prepare(db, args.customers, args.months)
    requests = [
        *REQUESTS,
        ("API customer detail", f"/api/v1/customers/{customer}?{AS_OF}"),
    ]
    port = free_port()
    revaxis_command = str(Path(sys.executable).parent / "revaxis")
    server = subprocess.Popen(
        [revaxis_command, "--db", str(db), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    times: dict[str, list[float]] = {name: [] for name, _ in requests}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/api/v1/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise RuntimeError("revaxis serve did not start") from None
                    time.sleep(0.2)
            for round_number in range(args.repeat + 1):
                for name, path in requests:
                    start = time.perf_counter()
                    response = client.get(path)
                    elapsed = time.perf_counter() - start
                    if response.status_code != 200:
                        raise RuntimeError(
                            f"{path} returned {response.status_code}: "
                            f"{response.text[:300]}"
                        )
                    if round_number > 0:
                        times[name].append(elapsed)
        rss = peak_rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=20)

    lines = [
        f"### {dt.date.today()}: {args.customers:,} customers x {args.months} months",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.repeat} timed runs per request. "
        f"Server peak RSS: {rss:,.0f} MiB.",
        "",
        "| request | median | min | max |",
        "| --- | --- | --- | --- |",
    ]
    for name, _ in requests:
        values = times[name]
        lines.append(
            f"| {name} | {statistics.median(values):.3f} s | {min(values):.3f} s "
            f"| {max(values):.3f} s |"
        )
    return "\n".join(lines) + "\n"


def append_results(text: str) -> None:
    """Add `text` at the end of this benchmark's section of RESULTS.md, creating
    the section at the end of the page when it is absent."""
    content = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = content.find(SECTION)
    if start < 0:
        content = content.rstrip("\n") + f"\n\n{SECTION_TEXT}"
        start = content.find(SECTION)
    following = content.find("\n## ", start + len(SECTION))
    end = len(content) if following < 0 else following + 1
    before = content[:end].rstrip("\n")
    RESULTS.write_text(f"{before}\n\n{text}\n{content[end:]}".rstrip("\n") + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs (default 5)")
    parser.add_argument(
        "--no-append",
        action="store_true",
        help=f"print the figures without appending them to {RESULTS.name}",
    )
    args = parser.parse_args(argv)
    text = run(args)
    print(text)
    if not args.no_append:
        append_results(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
