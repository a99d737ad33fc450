#!/usr/bin/env python3
"""load_report.py RESULTS.tsv -> markdown: medians per target, ratios, and the targets.

Ratios are computed within each run (same machine state), then the median over runs is taken.
"""
import csv
import statistics
import sys
from collections import defaultdict

rows = defaultdict(dict)  # (name, path) -> run -> row
order = []
with open(sys.argv[1]) as f:
    for r in csv.DictReader((l for l in f if not l.startswith("#")), delimiter="\t"):
        k = (r["name"], r["path"])
        if k not in rows:
            order.append(k)
        rows[k][r["run"]] = r


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def med(k, col):
    # Results from before the user / system split have no such columns: "-".
    v = [num(r.get(col) or "-") for r in rows.get(k, {}).values()]
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def ratio(a, b, col="cpu_us_per_req"):
    """Median over runs of a/b (both (name, path) keys)."""
    out = []
    for run, r in rows.get(a, {}).items():
        o = rows.get(b, {}).get(run)
        if o and num(r[col]) and num(o[col]):
            out.append(num(r[col]) / num(o[col]))
    return statistics.median(out) if out else None


def increment_ratio(a, a_base, b, b_base):
    """Median over runs of (a - a_base) / (b - b_base), CPU per request."""
    out = []
    for run in rows.get(a, {}):
        try:
            x = [num(rows[k][run]["cpu_us_per_req"]) for k in (a, a_base, b, b_base)]
        except KeyError:
            continue
        if None not in x and x[2] - x[3] != 0:
            out.append((x[0] - x[1]) / (x[2] - x[3]))
    return statistics.median(out) if out else None


def fmt(v, spec=".2f"):
    return "-" if v is None else format(v, spec)


print(f"Runs: {len(next(iter(rows.values()), {}))}. Medians; ratios are per run, then the median.\n")
print("| target | body | req/s | p50 us | p99 us | CPU us/req | user / sys | / nginx-plain | / nginx-njs | / pingora-bare | errors | check |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
for k in order:
    name, path = k
    errs = sum(int(r["errors"]) for r in rows[k].values())
    check = next(iter(rows[k].values()))["check"]
    print(
        f"| {name} | {path} | {fmt(med(k, 'rps'), '.0f')} | {fmt(med(k, 'p50_us'), '.0f')} "
        f"| {fmt(med(k, 'p99_us'), '.0f')} | {fmt(med(k, 'cpu_us_per_req'), '.1f')} "
        f"| {fmt(med(k, 'user_us_per_req'), '.1f')} / {fmt(med(k, 'sys_us_per_req'), '.1f')} "
        f"| {fmt(ratio(k, ('nginx-plain', path)))} | {fmt(ratio(k, ('nginx-njs', path)))} "
        f"| {fmt(ratio(k, ('pingora-bare', path)))} | {errs} | {check} |"
    )

print("\nTargets (CPU per request, 1 KiB unless noted):\n")
targets = [
    ("hooks off / pingora-bare", ratio(("edge-off", "/1k"), ("pingora-bare", "/1k")), 1.1),
    (
        "header work in two warm hooks: increment over hooks off / nginx-njs increment over nginx-plain",
        increment_ratio(
            ("edge-headers", "/1k"), ("edge-off", "/1k"), ("nginx-njs", "/1k"), ("nginx-plain", "/1k")
        ),
        0.5,
    ),
    (
        "the same, synchronous path (cpu-budget-ms = 1)",
        increment_ratio(
            ("edge-headers-sync", "/1k"), ("edge-off", "/1k"), ("nginx-njs", "/1k"), ("nginx-plain", "/1k")
        ),
        0.5,
    ),
    ("four warm no-op hooks / hooks off", ratio(("edge-noop4", "/1k"), ("edge-off", "/1k")), 1.15),
    ("the same, synchronous path", ratio(("edge-noop4-sync", "/1k"), ("edge-off", "/1k")), 1.15),
    ("cache hit / nginx proxy_cache hit", ratio(("edge-cache-hit", "/1k"), ("nginx-cache-hit", "/1k")), 1.3),
    ("100 KiB, hooks off / nginx-plain", ratio(("edge-off", "/100k"), ("nginx-plain", "/100k")), 1.6),
]
print("| target | measured | bound | |")
print("|---|---:|---:|---|")
for label, value, bound in targets:
    verdict = "-" if value is None else ("met" if value <= bound else "missed")
    print(f"| {label} | {fmt(value)} | ≤ {bound} | {verdict} |")
off = ratio(("edge-off", "/1k"), ("nginx-plain", "/1k"))
print(f"\nhooks off / nginx-plain (1 KiB): {fmt(off)}")
floor = ratio(("pingora-wasm4", "/1k"), ("pingora-bare", "/1k"))
print(f"four empty wasm calls on a bare forwarder / pingora-bare (1 KiB, the engine's floor): {fmt(floor)}")
