#!/usr/bin/env python3
"""Benchmark the metric engine on a synthetic org generated straight into DuckDB.

    python benchmarks/kpis.py                 # full size: 200k accounts, 1M deals, 3M activities
    python benchmarks/kpis.py --scale 0.01    # a quick run

Times (the median and the best of ``--repeat`` runs), for 12 monthly periods: the whole
catalogue (total, and ``--by source``), then five representative KPIs (win rate, sales cycle
length, churn rate, NPS, first response time) three ways: through the engine, as one
hand-written DuckDB query, and in pandas.  Each phase runs in a fresh process (reading the
generated DuckDB file), so the peak RSS printed for it is that phase's own.  Prints a
Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

FULL = {"accounts": 200_000, "deals": 1_000_000, "activities": 3_000_000, "tickets": 300_000,
        "survey_responses": 100_000, "leads": 1_000_000, "users": 1_500, "campaigns": 600,
        "contracts": 60_000, "spend": 6_000}
AS_OF = dt.datetime(2026, 7, 1)
FIVE = ["win_rate", "sales_cycle_length", "customer_churn_rate", "net_promoter_score",
        "first_response_time"]
# Pseudo-random but deterministic: a hash of the row number and a salt.
START = "TIMESTAMP '2024-01-01'"
SPAN = 912 * 86400  # seconds from 2024-01-01 to 2026-07-01


def r(salt: int, modulo: int) -> str:
    return f"CAST(hash(i * 31 + {salt}) % {modulo} AS BIGINT)"


def moment(salt: int) -> str:
    return f"({START} + to_seconds(CAST({r(salt, SPAN)} AS BIGINT)))"


def source() -> str:
    return "(['sf_prod', 'hs_marketing', 'finance'])[1 + i % 3]"


def pick(prefix: str, count: int, salt: int) -> str:
    """An id of the same source: row j belongs to source j % 3."""
    groups = max(count // 3, 1)
    return f"'{prefix}' || CAST(({r(salt, groups)}) * 3 + i % 3 AS VARCHAR)"


def generate(con: Any, counts: dict[str, int]) -> None:
    n = counts
    statements = {
        "accounts": f"""
SELECT {source()} AS source, 'A' || i AS id, {moment(1)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, 'Account ' || i AS name,
  (['Software','Retail','Finance','Health','Industry'])[1 + {r(2, 5)}] AS industry,
  (['smb','mid_market','enterprise'])[1 + {r(3, 3)}] AS segment,
  {pick('U', n['users'], 4)} AS owner_id, {pick('U', n['users'], 5)} AS created_by_id,
  CASE WHEN {r(6, 10)} < 5 THEN {moment(1)} + to_seconds(CAST({r(7, 60 * 86400)} AS BIGINT))
  END AS customer_since,
  CASE WHEN {r(8, 10)} = 0 THEN {moment(1)} + to_seconds(CAST({r(9, 400 * 86400)} AS BIGINT))
       + INTERVAL 60 DAY END AS churned_at,
  (['web','referral','event','paid_search','partner'])[1 + {r(10, 5)}] AS acquisition_channel
FROM range({n['accounts']}) t(i)""",
        "deals": f"""
SELECT *, CASE WHEN is_closed THEN created_at + to_seconds(CAST(hash(i) % (120 * 86400)
  AS BIGINT)) END AS closed_at FROM (
SELECT i, {source()} AS source, 'D' || i AS id, {moment(11)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, {pick('A', n['accounts'], 12)} AS account_id,
  {pick('U', n['users'], 13)} AS owner_id, 'default' AS pipeline,
  CAST(1000 + {r(14, 50000)} AS DECIMAL(38, 9)) AS amount,
  CASE WHEN {r(15, 10)} = 0 THEN 'EUR' ELSE 'USD' END AS currency,
  (['new_business','new_business','upsell','renewal'])[1 + {r(16, 4)}] AS deal_type,
  (['web','referral','event','paid_search','partner'])[1 + {r(17, 5)}] AS lead_source,
  CASE WHEN {r(18, 4)} = 0 THEN {pick('C', n['campaigns'], 19)} END AS campaign_id,
  {r(20, 5)} <> 0 AS is_closed, {r(20, 5)} IN (1, 2) AS is_won
FROM range({n['deals']}) t(i))""",
        "leads": f"""
SELECT {source()} AS source, 'L' || i AS id, {moment(21)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, (['web','referral','event','paid_search','partner'])[1 + {r(22, 5)}]
  AS lead_source, (['marketing','marketing','sales','partner'])[1 + {r(23, 4)}] AS origin,
  {pick('U', n['users'], 24)} AS owner_id,
  CASE WHEN {r(25, 4)} = 0 THEN {moment(21)} + INTERVAL 10 DAY END AS converted_at,
  CASE WHEN {r(25, 4)} = 0 THEN {pick('A', n['accounts'], 26)} END AS converted_account_id
FROM range({n['leads']}) t(i)""",
        "activities": f"""
SELECT {source()} AS source, 'ACT' || i AS id, {moment(27)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, (['call','email','email','meeting','task','social'])[1 + i % 6] AS kind,
  CASE WHEN i % 3 = 0 THEN 'inbound' ELSE 'outbound' END AS direction,
  {pick('U', n['users'], 28)} AS owner_id,
  CASE WHEN i % 2 = 1 THEN {pick('L', n['leads'], 29)} END AS lead_id,
  {moment(27)} AS occurred_at, i % 4 <> 0 AS completed,
  CASE WHEN i % 4 <> 0 THEN {moment(27)} + INTERVAL 1 DAY END AS completed_at,
  CASE WHEN i % 6 IN (1, 2) THEN {r(30, 5)} < 3 END AS opened,
  CASE WHEN i % 6 IN (1, 2) THEN {r(30, 5)} = 0 END AS clicked
FROM range({n['activities']}) t(i)""",
        "tickets": f"""
SELECT {source()} AS source, 'T' || i AS id, {moment(31)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, {pick('U', n['users'], 32)} AS owner_id,
  (['email','phone','chat'])[1 + {r(33, 3)}] AS channel,
  {moment(31)} + to_seconds(CAST({r(34, 86400)} AS BIGINT)) AS first_response_at,
  CASE WHEN i % 6 <> 0 THEN {moment(31)} + to_seconds(CAST({r(35, 5 * 86400)} AS BIGINT))
  END AS resolved_at, CAST(1 + i % 4 AS BIGINT) AS interactions_count,
  CAST(120 + {r(36, 3600)} AS BIGINT) AS handle_time_seconds
FROM range({n['tickets']}) t(i)""",
        "survey_responses": f"""
SELECT {source()} AS source, 'S' || i AS id, {moment(37)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, (['nps','csat','ces'])[1 + i % 3] AS survey_type,
  CAST(CASE i % 3 WHEN 0 THEN {r(38, 11)} WHEN 1 THEN 1 + {r(38, 5)} ELSE 1 + {r(38, 7)} END
       AS DOUBLE) AS score,
  CAST(CASE i % 3 WHEN 0 THEN 0 ELSE 1 END AS DOUBLE) AS scale_min,
  CAST(CASE i % 3 WHEN 0 THEN 10 WHEN 1 THEN 5 ELSE 7 END AS DOUBLE) AS scale_max,
  {moment(37)} AS responded_at
FROM range({n['survey_responses']}) t(i)""",
        "users": f"""
SELECT {source()} AS source, 'U' || i AS id, TIMESTAMP '2024-01-01' AS created_at,
  FALSE AS is_deleted, '{{}}' AS extra, i % 7 <> 0 AS is_active,
  CASE WHEN i % 5 <> 0 THEN TIMESTAMP '2026-06-01' + to_seconds(CAST({r(39, 30 * 86400)}
  AS BIGINT)) END AS last_login_at
FROM range({n['users']}) t(i)""",
        "campaigns": f"""
SELECT {source()} AS source, 'C' || i AS id, {moment(40)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, {moment(40)} AS started_at,
  CAST(2000 + {r(41, 20000)} AS DECIMAL(38, 9)) AS actual_cost, 'USD' AS currency
FROM range({n['campaigns']}) t(i)""",
        "contracts": f"""
SELECT {source()} AS source, 'K' || i AS id, {moment(42)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, CAST({moment(42)} AS DATE) AS start_date,
  CAST({moment(42)} AS DATE) + CAST(([180, 365, 730])[1 + {r(43, 3)}] AS INTEGER) AS end_date,
  CAST(5000 + {r(44, 95000)} AS DECIMAL(38, 9)) AS total_value, 'USD' AS currency,
  i % 3 = 0 AS renewed,
  CASE WHEN i % 5 = 0 AND i >= 3 THEN 'K' || (i - 3) END AS renewal_of_id
FROM range({n['contracts']}) t(i)""",
        "spend": f"""
SELECT {source()} AS source, 'SP' || i AS id, {moment(45)} AS created_at, FALSE AS is_deleted,
  '{{}}' AS extra, CAST({moment(45)} AS DATE) AS date,
  (['acquisition','acquisition','retention','support'])[1 + i % 4] AS category,
  (['web','referral','event','paid_search','partner'])[1 + {r(46, 5)}] AS channel,
  CAST(500 + {r(47, 8000)} AS DECIMAL(38, 9)) AS amount, 'USD' AS currency
FROM range({n['spend']}) t(i)""",
    }
    for table, select in statements.items():
        columns = [row[0] for row in con.execute(f"DESCRIBE {select}").fetchall() if row[0] != "i"]
        names = ", ".join(columns)
        con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM ({select})")


HAND_SQL = """
WITH months AS (
  SELECT CAST(m AS TIMESTAMP) AS ms, CAST(m + INTERVAL 1 MONTH AS TIMESTAMP) AS me
  FROM range(TIMESTAMP '{first}', TIMESTAMP '{stop}', INTERVAL 1 MONTH) t(m)
),
d AS (SELECT * FROM deals WHERE NOT is_deleted),
won AS (SELECT date_trunc('month', closed_at) AS m,
               count(*) FILTER (WHERE is_won) AS won, count(*) AS closed,
               avg(CASE WHEN is_won THEN epoch(closed_at) - epoch(created_at) END) / 86400
                 AS cycle
        FROM d WHERE (is_won OR is_closed) AND closed_at >= TIMESTAMP '{first}'
          AND closed_at < TIMESTAMP '{stop}' GROUP BY 1),
firstwon AS (SELECT source, account_id, min(closed_at) AS fw FROM d WHERE is_won
             GROUP BY 1, 2),
acc AS (SELECT coalesce(a.customer_since, f.fw) AS cs, a.churned_at
        FROM accounts a LEFT JOIN firstwon f ON f.source = a.source AND f.account_id = a.id
        WHERE NOT a.is_deleted),
churn AS (SELECT ms AS m, count(*) AS s,
                 count(*) FILTER (WHERE churned_at >= ms AND churned_at < me) AS churned
          FROM months JOIN acc ON acc.cs <= ms AND (acc.churned_at IS NULL OR acc.churned_at > ms)
          GROUP BY 1),
nps AS (SELECT date_trunc('month', responded_at) AS m,
               100.0 * (count(*) FILTER (WHERE score >= 9) - count(*) FILTER (WHERE score <= 6))
               / count(*) AS nps
        FROM survey_responses WHERE NOT is_deleted AND survey_type = 'nps'
          AND responded_at >= TIMESTAMP '{first}' AND responded_at < TIMESTAMP '{stop}'
        GROUP BY 1),
frt AS (SELECT date_trunc('month', created_at) AS m,
               avg(epoch(first_response_at) - epoch(created_at)) / 3600 AS frt
        FROM tickets WHERE NOT is_deleted AND first_response_at IS NOT NULL
          AND created_at >= TIMESTAMP '{first}' AND created_at < TIMESTAMP '{stop}'
        GROUP BY 1)
SELECT months.ms, 100.0 * won.won / won.closed, won.cycle, 100.0 * churn.churned / churn.s,
       nps.nps, frt.frt
FROM months LEFT JOIN won ON won.m = months.ms LEFT JOIN churn ON churn.m = months.ms
LEFT JOIN nps ON nps.m = months.ms LEFT JOIN frt ON frt.m = months.ms ORDER BY 1
"""


def pandas_five(con: Any, first: dt.datetime, stop: dt.datetime) -> Any:
    import pandas as pd

    deals = con.execute("SELECT source, account_id, created_at, closed_at, is_won, is_closed "
                        "FROM deals WHERE NOT is_deleted").df()
    accounts = con.execute("SELECT source, id, customer_since, churned_at FROM accounts "
                           "WHERE NOT is_deleted").df()
    surveys = con.execute("SELECT survey_type, score, responded_at FROM survey_responses "
                          "WHERE NOT is_deleted").df()
    tickets = con.execute("SELECT created_at, first_response_at FROM tickets "
                          "WHERE NOT is_deleted").df()
    months = pd.date_range(first, stop, freq="MS", inclusive="left")
    closed = deals[(deals.is_won | deals.is_closed) & deals.closed_at.notna()].copy()
    closed["m"] = closed.closed_at.dt.to_period("M").dt.to_timestamp()
    closed["days"] = (closed.closed_at - closed.created_at).dt.total_seconds() / 86400
    grouped = closed.groupby("m")
    win = grouped.is_won.sum() / grouped.size() * 100
    cycle = closed[closed.is_won].groupby("m").days.mean()
    first_won = deals[deals.is_won].groupby(["source", "account_id"]).closed_at.min()
    accounts = accounts.merge(first_won.rename("fw").reset_index(), how="left",
                              left_on=["source", "id"], right_on=["source", "account_id"])
    since = accounts.customer_since.fillna(accounts.fw)
    churn = {}
    for start in months:
        end = start + pd.offsets.MonthBegin(1)
        in_s = (since <= start) & (accounts.churned_at.isna() | (accounts.churned_at > start))
        lost = in_s & (accounts.churned_at >= start) & (accounts.churned_at < end)
        churn[start] = 100 * lost.sum() / in_s.sum() if in_s.sum() else None
    nps_rows = surveys[surveys.survey_type == "nps"].copy()
    nps_rows["m"] = nps_rows.responded_at.dt.to_period("M").dt.to_timestamp()
    nps_rows["net"] = (nps_rows.score >= 9).astype(int) - (nps_rows.score <= 6).astype(int)
    nps = nps_rows.groupby("m").net.mean() * 100
    answered = tickets[tickets.first_response_at.notna()].copy()
    answered["m"] = answered.created_at.dt.to_period("M").dt.to_timestamp()
    answered["hours"] = (answered.first_response_at - answered.created_at).dt.total_seconds() / 3600
    frt = answered.groupby("m").hours.mean()
    return pd.DataFrame({"win_rate": win, "sales_cycle_length": cycle,
                         "customer_churn_rate": pd.Series(churn), "nps": nps,
                         "first_response_time": frt}).reindex(months)


def peak_mb() -> float:
    """This process's peak RSS.  VmHWM (Linux) belongs to the running program only;
    ru_maxrss would also count the parent's RSS at the fork that started this process."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


PHASES = {
    "catalogue": "whole catalogue, 12 months",
    "catalogue_by_source": "whole catalogue, 12 months, --by source",
    "five_engine": "5 KPIs, engine",
    "five_hand": "5 KPIs, hand-written DuckDB SQL",
    "five_pandas": "5 KPIs, pandas (incl. loading from DuckDB)",
}


def run_phase(phase: str, path: Path, repeat: int, memory_limit: str | None) -> dict[str, Any]:
    """Run one phase ``repeat`` times in this process; its best time, this process's peak
    RSS, and the values the engine/hand phases computed (for the agreement check)."""
    from crm_connect.metrics import compute_kpis
    from crm_connect.store import DuckDBStore

    store = DuckDBStore.open(f"duckdb:///{path}", base_dir=path.parent, read_only=True,
                             memory_limit=memory_limit)
    opened = peak_mb()
    con = store.con
    common: dict[str, Any] = dict(grain="month", as_of=AS_OF, end="2026-06-30", periods=12,
                                  rates={"EUR": 1.08})
    first = dt.datetime(2025, 7, 1)
    functions: dict[str, Callable[[], Any]] = {
        "catalogue": lambda: compute_kpis(store, **common),
        "catalogue_by_source": lambda: compute_kpis(store, by=["source"], **common),
        "five_engine": lambda: compute_kpis(store, metrics=FIVE, **common),
        "five_hand": lambda: con.execute(HAND_SQL.format(first=first, stop=AS_OF)).fetchall(),
        "five_pandas": lambda: pandas_five(con, first, AS_OF),
    }
    times, cpu = [], []
    value = None
    for _ in range(repeat):
        value = None  # free the previous run's result before the next one
        started, used = time.perf_counter(), time.process_time()
        value = functions[phase]()
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)  # every thread's: robust to a loaded machine
    result: dict[str, Any] = {"seconds": min(times), "median": statistics.median(times),
                              "cpu_median": statistics.median(cpu),
                              "peak_mb": peak_mb(), "opened_mb": opened}
    if phase.startswith("catalogue"):
        result["rows"] = len(value)
    elif phase == "five_engine":
        result["values"] = [[r.metric, r.period_start.isoformat(), r.value]
                            for r in value if not r.dimensions]
    elif phase == "five_hand":
        result["values"] = [[month.date().isoformat(), *values] for month, *values in value]
    store.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", help="DuckDB file to (re)use (default: a temporary one)")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--memory-limit", help="DuckDB memory_limit for the store, e.g. 512MB "
                        "(what [store] memory_limit sets; default: DuckDB's own)")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:  # a child process: one phase, the result as JSON on stdout
        print(json.dumps(run_phase(args.phase, Path(args.db), args.repeat, args.memory_limit)))
        return 0

    from crm_connect.store import DuckDBStore

    counts = {k: max(3, int(v * args.scale)) for k, v in FULL.items()}
    with tempfile.TemporaryDirectory() as tmp:
        path = (Path(args.db) if args.db else Path(tmp) / "bench.duckdb").resolve()
        if not path.exists():
            store = DuckDBStore.open(f"duckdb:///{path}", base_dir=Path(tmp))
            started = time.perf_counter()
            generate(store.con, counts)
            store.con.execute("CHECKPOINT")
            store.close()
            print(f"generated {sum(counts.values()):,} rows in "
                  f"{time.perf_counter() - started:.1f} s (peak RSS {peak_mb():.0f} MB)",
                  file=sys.stderr)
        # Each phase runs in a fresh process, so its peak RSS is its own: the engine's is
        # not inflated by the generator or by pandas, and vice versa.
        results: dict[str, dict[str, Any]] = {}
        for phase, label in PHASES.items():
            if phase == "five_pandas" and args.skip_pandas:
                continue
            command = [sys.executable, __file__, "--phase", phase, "--db", str(path),
                       "--repeat", str(args.repeat)]
            if args.memory_limit:
                command += ["--memory-limit", args.memory_limit]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
            results[phase] = json.loads(done.stdout)
            print(f"{label}: {results[phase]['median']:.3f} s median, "
                  f"{results[phase]['seconds']:.3f} s best, "
                  f"{results[phase].get('cpu_median', 0):.3f} s CPU (peak RSS "
                  f"{results[phase]['peak_mb']:.0f} MB)", file=sys.stderr, flush=True)
    engine = {(metric, day): value for metric, day, value in results["five_engine"]["values"]}
    for day, *values in results["five_hand"]["values"]:
        for key, value in zip(FIVE, values, strict=True):
            mine = engine[(key, day)]
            assert value is None or abs((mine or 0) - value) < 1e-6, (key, day, mine, value)
    ratio = results["five_engine"]["seconds"] / results["five_hand"]["seconds"]
    median_ratio = results["five_engine"]["median"] / results["five_hand"]["median"]
    cpu_ratio = results["five_engine"]["cpu_median"] / results["five_hand"]["cpu_median"]
    print(f"\n{sum(counts.values()):,} rows, {results['catalogue_by_source']['rows']:,} KPI "
          f"rows with --by source; engine and hand-written SQL agree on every value; "
          f"engine / hand-written SQL = {ratio:.2f}x (best), {median_ratio:.2f}x (median), "
          f"{cpu_ratio:.2f}x (CPU seconds, median); load average "
          f"{os.getloadavg()[0]:.1f}"
          + (f"; DuckDB memory_limit {args.memory_limit}" if args.memory_limit else "") + "\n")
    print(f"| run | seconds (median of {args.repeat}) | best | CPU seconds (median) | "
          "peak RSS of the phase's process (MB) |")
    print("|---|---:|---:|---:|---:|")
    for phase, result in results.items():
        print(f"| {PHASES[phase]} | {result['median']:.3f} | {result['seconds']:.3f} | "
              f"{result['cpu_median']:.3f} | {result['peak_mb']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
