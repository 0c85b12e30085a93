"""Turns the RESULT lines of a bench/run.sh run into a table: ``python bench/summarize.py RUN_DIR``.

Writes RUN_DIR/summary.md and RUN_DIR/summary.json and prints the table. The ratio compares each
scenario's requests/s with /api/health/live/ measured on the same server in the same run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

SCENARIOS = [
    ("health_live", "GET /api/health/live/"),
    ("users_me", "GET /api/accounts/users/me/ (auth only, reference)"),
    ("review_today", "GET /api/review/today/ (100 due, page of 20)"),
    ("content_list", "GET /api/content/?limit=20"),
    ("review_today_uncached", "GET /api/review/today/, LEARNING_READ_CACHE_SECONDS=0 (every read computes)"),
    ("content_list_uncached", "GET /api/content/?limit=20, LEARNING_READ_CACHE_SECONDS=0"),
    ("review_complete", "POST /api/review/complete/ (with Idempotency-Key)"),
    ("health_live_metrics_off", "GET /api/health/live/, REQUEST_METRICS_ENABLED=0"),
    ("review_today_metrics_off", "GET /api/review/today/, REQUEST_METRICS_ENABLED=0"),
]
TARGET_RATIO = 0.40
TARGET_P99_MS = 25.0


def read(run: Path, name: str) -> dict | None:
    path = run / f"{name}.txt"
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    return None


def main() -> None:
    run = Path(sys.argv[1])
    results = {name: read(run, name) for name, _ in SCENARIOS}
    health = results["health_live"]
    lines = [
        "| scenario | requests/s | p50 ms | p95 ms | p99 ms | non-2xx | vs health/live |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, label in SCENARIOS:
        result = results[name]
        if result is None:
            continue
        ratio = result["rps"] / health["rps"] if health else float("nan")
        if name.endswith("metrics_off"):
            base = results[name.removesuffix("_metrics_off")]
            ratio_text = f"{result['rps'] / base['rps']:.2f}x metrics on" if base else "-"
        else:
            ratio_text = f"{ratio:.0%}"
        lines.append(
            f"| {label} | {result['rps']:.0f} | {result['p50_ms']:.1f} | {result['p95_ms']:.1f} | "
            f"{result['p99_ms']:.1f} | {result['non_2xx'] + result['socket_errors']} | {ratio_text} |"
        )
    verdicts = []
    for name in ("review_today", "content_list", "review_today_uncached", "content_list_uncached"):
        result = results[name]
        if result and health:
            ok = result["rps"] >= TARGET_RATIO * health["rps"] and result["p99_ms"] < TARGET_P99_MS
            verdicts.append(
                f"- {name}: {'meets' if ok else 'misses'} the target (>= {TARGET_RATIO:.0%} of health/live "
                f"requests/s and p99 < {TARGET_P99_MS:.0f} ms)"
            )
    meta_path = run / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    text = "\n".join(
        [
            f"Run {run.name}: " + ", ".join(f"{key}={value}" for key, value in meta.items()),
            "",
            *lines,
            "",
            *verdicts,
        ]
    )
    (run / "summary.md").write_text(text + "\n")
    (run / "summary.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
