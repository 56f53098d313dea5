"""HubSpot sync benchmark: a sandbox portal in its own process, the installed `crm-connect sync`.

    python benchmarks/hubspot_sync.py [--records 100000] [--small 25000] [--runs 1]
                                      [--tier free] [--no-limits] [--json FILE]

For each size, a fresh sandbox portal (``python -m crm_connect_hubspot.sandbox --json``, the
tier's published limits enforced) and a fresh DuckDB file; ``crm-connect sync`` runs as a child
process and is timed from its start to its exit.  Reported per run: wall time, records per
second against the ceiling the published limits allow (see ``hubspot_ceiling.py``), requests by
endpoint and 429s by policy (the sandbox's own count), the sync's CPU seconds and peak resident
memory (the kernel's ``ru_maxrss`` of the reaped child: the largest of the sync and its page
validation workers), its resident set sampled early and late in the run and the sampled peak of
the sync and its workers together, and the seconds of each stream.  Two sizes show whether
memory grows with the portal.  The sync must store every record of the portal, or the script
fails.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import os
import platform
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import psutil
from crm_connect_hubspot.objects import OBJECT_SPECS
from crm_connect_hubspot.sandbox.limits import TIERS
from hubspot_ceiling import ceiling, objects_from_counts

CLI = str(Path(sys.executable).parent / "crm-connect")
CONNECTION = "bench"
PORTAL_TABLES = ("accounts", "contacts", "deals", "activities", "tickets", "survey_responses")
"""Canonical tables holding one row per portal object (leads repeat the contacts)."""
SANDBOX_START_SECONDS = 600.0


class BenchmarkError(Exception):
    """A run that cannot be measured: its reason, for the user."""


def start_sandbox(records: int, seed: int, tier: str, limits: bool, log: Path
                  ) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """The sandbox's own process; its first line of output is its details (URL, token)."""
    command = [sys.executable, "-m", "crm_connect_hubspot.sandbox", "--records", str(records),
               "--seed", str(seed), "--tier", tier, "--json"]
    if not limits:
        command.append("--no-limits")
    with log.open("wb") as errors:  # a file: a full pipe would stall the sandbox
        sandbox = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, text=True)
    assert sandbox.stdout is not None
    ready, _, _ = select.select([sandbox.stdout], [], [], SANDBOX_START_SECONDS)
    line = sandbox.stdout.readline() if ready else ""
    if not line:
        stop_sandbox(sandbox)
        raise BenchmarkError("the sandbox did not start: "
                             + log.read_text(encoding="utf-8", errors="replace")[-2000:])
    return sandbox, json.loads(line)


def stop_sandbox(sandbox: subprocess.Popen[str]) -> dict[str, Any]:
    """SIGTERM; the sandbox then prints its requests by endpoint and 429s by policy."""
    if sandbox.poll() is None:
        sandbox.send_signal(signal.SIGTERM)
    try:
        out, _ = sandbox.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        sandbox.kill()
        out, _ = sandbox.communicate()
    for line in reversed(out.splitlines()):
        with contextlib.suppress(ValueError):
            report = json.loads(line)
            if isinstance(report, dict) and "served" in report:
                return report
    return {}


def write_project(folder: Path, base_url: str) -> None:
    """The sandbox recipe's connection (its custom properties mapped, its currencies rated);
    the token goes through the environment, never into the file."""
    (folder / "crm-connect.toml").write_text(
        '[reporting]\ncurrency = "USD"\nrates = { EUR = 1.08, GBP = 1.27 }\n\n'
        f'[connections.{CONNECTION}]\nconnector = "hubspot"\nbase_url = "{base_url}"\n'
        'deal_types = { renewal = "renewal" }\n'
        'mapping.accounts = { churned_at = "churn_date", segment = "customer_segment" }\n'
        'mapping.tickets = { handle_time_seconds = "handle_time_minutes*60" }\n',
        encoding="utf-8")


class RssSampler(threading.Thread):
    """The sync's resident set every half second: its own, and its process tree's (the sync
    and the workers that validate its pages), to show their course over the run."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, float]] = []  # (own MB, tree MB)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.5):
            try:
                own = self.process.memory_info().rss
                tree = own
                for child in self.process.children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        tree += child.memory_info().rss
            except psutil.Error:
                return
            self.samples.append((own / 2**20, tree / 2**20))

    def at(self, share: float) -> float | None:
        """The sync's own resident set (MB) sampled at ``share`` of the run."""
        if not self.samples:
            return None
        return self.samples[min(len(self.samples) - 1, int(share * len(self.samples)))][0]

    @property
    def tree_peak(self) -> float | None:
        return max((tree for _, tree in self.samples), default=None)


def run_sync(folder: Path, token: str) -> dict[str, Any]:
    env = {**os.environ, f"CRM_CONNECT_{CONNECTION.upper()}_ACCESS_TOKEN": token,
           "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    log = folder / "sync.log"
    with log.open("wb") as errors:
        started = time.perf_counter()
        child = subprocess.Popen([CLI, "sync", CONNECTION], cwd=folder, env=env,
                                 stdout=subprocess.DEVNULL, stderr=errors)
        sampler = RssSampler(child.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        except BaseException:  # interrupted: leave no sync running
            child.kill()
            child.wait()
            raise
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        sampler.done.set()
        sampler.join()
    if child.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise BenchmarkError(f"crm-connect sync exited {child.returncode}:\n{tail}")
    return {"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime,
            "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux reports KiB
            "rss_early_mb": sampler.at(0.1), "rss_late_mb": sampler.at(0.9),
            "tree_rss_mb": sampler.tree_peak}


def stored(folder: Path) -> tuple[int, dict[str, Any]]:
    """Rows of the portal's objects in the store, and the run's counts per stream."""
    with duckdb.connect(str(folder / "crm.duckdb"), read_only=True) as db:
        rows = 0
        for table in PORTAL_TABLES:
            (count,) = db.execute(f'SELECT count(*) FROM "{table}" WHERE source = ?',
                                  [CONNECTION]).fetchone() or (0,)
            rows += int(count)
        (counts,) = db.execute("SELECT counts FROM sync_runs ORDER BY run_id DESC LIMIT 1"
                               ).fetchone() or ("{}",)
    streams = {key.split("/", 1)[1]: value for key, value in json.loads(counts).items()}
    return rows, streams


def run_once(records: int, args: argparse.Namespace, workdir: Path, n: int) -> dict[str, Any]:
    folder = workdir / f"portal-{records}-{n}"
    folder.mkdir(parents=True)
    started = time.perf_counter()
    sandbox, details = start_sandbox(records, args.seed, args.tier, not args.no_limits,
                                     folder / "sandbox.log")
    generated = time.perf_counter() - started
    try:
        write_project(folder, details["base_url"])
        result = run_sync(folder, details["access_token"])
    finally:
        report = stop_sandbox(sandbox)
    rows, streams = stored(folder)
    if rows != details["records"]:
        raise BenchmarkError(f"the store holds {rows:,} of the portal's "
                             f"{details['records']:,} records")
    specs = {spec.stream: (spec.object_type, spec.associations) for spec in OBJECT_SPECS}
    limit = TIERS[args.tier].per_ten_seconds
    bound = ceiling(objects_from_counts(streams, specs), limit)
    served: dict[str, int] = report.get("served", {})
    result.update(
        records=details["records"], generate_seconds=generated, served=served,
        refused=report.get("refused", {}), requests=sum(served.values()),
        streams={name: value.get("seconds") for name, value in streams.items()},
        ceiling_rate=bound.list_rate, ceiling_seconds=bound.list_seconds,
        ceiling_requests=bound.general_requests, both_rate=bound.both_rate,
        both_seconds=bound.both_seconds, per_ten_seconds=limit)
    result["rate"] = result["records"] / result["seconds"]
    result["share_of_ceiling"] = result["rate"] / bound.list_rate
    # How close to the limit the sync ran its own requests (the burst of the first window
    # goes at once): 1.0 means every second of the run was a request slot used.
    result["pacing"] = (max(0, result["requests"] - limit) / (limit / 10.0)) / result["seconds"]
    return result


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (its other figures stay consistent with it)."""
    ordered = sorted(runs, key=lambda run: float(run["seconds"]))
    chosen = dict(ordered[len(ordered) // 2])
    chosen["runs"] = len(runs)
    chosen["seconds_all"] = [round(float(run["seconds"]), 1) for run in runs]
    chosen["peak_rss_all"] = [round(float(run["peak_rss_mb"])) for run in runs]
    chosen["peak_rss_median"] = statistics.median(float(run["peak_rss_mb"]) for run in runs)
    return chosen


def report_lines(results: list[dict[str, Any]], args: argparse.Namespace) -> list[str]:
    limits = "enforced" if not args.no_limits else "reported, not enforced"
    lines = [
        f"Measured {dt.date.today().isoformat()} on {platform.machine()}, {os.cpu_count()} "
        f"cores, Python {platform.python_version()}, tier {args.tier} "
        f"({results[0]['per_ten_seconds']} requests / 10 s, limits {limits}), "
        f"{results[0]['runs']} run(s) per size (median wall time).",
        "",
        "| portal records | wall time | records/s | ceiling (list plan) | share | "
        "requests | 429s | sync CPU | peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        refused = sum(r["refused"].values())
        if math.isinf(r["ceiling_rate"]):  # every request fits the first window's burst
            bound, share = "no wait", "-"
        else:
            bound = f"{r['ceiling_rate']:,.0f} ({r['ceiling_seconds']:.0f} s)"
            share = f"{100 * r['share_of_ceiling']:.0f} %"
        lines.append(
            f"| {r['records']:,} | {r['seconds']:.1f} s | {r['rate']:,.0f} | {bound} | "
            f"{share} | {r['requests']:,} | {refused} | "
            f"{r['cpu_seconds']:.1f} s | {r['peak_rss_mb']:.0f} MB |")
    lines.append("")
    for r in results:
        served = ", ".join(f"{name} {count:,}" for name, count in sorted(r["served"].items()))
        slow = sorted(r["streams"].items(), key=lambda item: -(item[1] or 0))
        streams = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slow if seconds)
        early, late = r["rss_early_mb"], r["rss_late_mb"]
        course = (f"; RSS {early:.0f} MB at 10 % of the run, {late:.0f} MB at 90 %"
                  if early is not None and late is not None else "")
        if r.get("tree_rss_mb") is not None:
            course += f", sync and its workers together at most {r['tree_rss_mb']:.0f} MB"
        lines += [
            f"- {r['records']:,} records: requests by endpoint: {served}; 429s by policy: "
            f"{r['refused'] or 'none'}. Minimal list plan {r['ceiling_requests']:,} general "
            f"requests; both budgets would allow {r['both_rate']:,.0f} records/s "
            f"({r['both_seconds']:.0f} s). Requests paced at {100 * r['pacing']:.0f} % of the "
            f"limit. Portal generated in {r['generate_seconds']:.0f} s{course}. "
            f"Runs: {r['seconds_all']} s, peak RSS {r['peak_rss_all']} MB. Streams: {streams}."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000,
                        help="records of the large portal (default 100,000)")
    parser.add_argument("--small", type=int, default=25_000,
                        help="records of the small portal, to see memory against size "
                        "(default 25,000; 0 skips it)")
    parser.add_argument("--runs", type=int, default=1, help="runs per size (median reported)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--tier", choices=sorted(TIERS), default="free")
    parser.add_argument("--no-limits", action="store_true",
                        help="the sandbox reports its limits but never answers 429")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    sizes = [size for size in (args.small, args.records) if size > 0]
    workdir = Path(tempfile.mkdtemp(prefix="crm-hubspot-bench-"))
    try:
        results = []
        for records in sizes:
            runs = []
            for n in range(args.runs):
                runs.append(run_once(records, args, workdir, n))
                print(f"{records:,} records, run {n + 1}: {runs[-1]['seconds']:.1f} s",
                      file=sys.stderr, flush=True)
            results.append(median_of(runs))
    except BenchmarkError as error:
        print(f"Benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print("\n".join(report_lines(results, args)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
