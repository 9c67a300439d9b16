"""Mean and spread over seeds of several demo runs (the README's seed tables).

    python benchmarks/demo_seeds.py runs/demo runs/demo_s1 runs/demo_s2 --out benchmarks/results/demo_seeds

Each argument is a demo output folder (its ``results.json``) or a ``results.json`` file; the
runs must differ only in their seed. Writes ``OUT.json`` and ``OUT.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tan_video.benchmark import machine_info
from tan_video.demo import seed_summary, seed_summary_markdown


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", help="demo output folders or results.json files")
    p.add_argument("--out", default=None, help="write OUT.json and OUT.md")
    args = p.parse_args()
    runs = []
    for r in args.runs:
        path = Path(r) / "results.json" if Path(r).is_dir() else Path(r)
        try:
            runs.append(json.loads(path.read_text()))
        except (OSError, ValueError) as e:
            sys.exit(f"demo_seeds: {path}: not a demo results.json ({e})")
    try:
        summary = seed_summary(runs)
    except (ValueError, KeyError) as e:
        sys.exit(f"demo_seeds: {e}")
    summary["runs"] = {r: {"total_seconds": run.get("total_seconds"),
                           "train_seconds": {k: m["train_seconds"] for k, m in run["models"].items()}}
                       for r, run in zip(args.runs, runs)}
    summary["machine"] = machine_info()  # where the summary was made: the runs record only their times
    table = seed_summary_markdown(summary)
    print(table, end="")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".json").write_text(json.dumps(summary, indent=2) + "\n")
        Path(args.out + ".md").write_text(table)


if __name__ == "__main__":
    main()
