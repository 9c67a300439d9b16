"""Is the demo converged in its budget? Each model at the demo's defaults against 3x the training.

    python benchmarks/demo_convergence.py [--seeds 0 1] [--factor 3] [--runs runs/convergence]

For each seed it runs the demo at its defaults into ``RUNS/default/seed_N`` and with ``--factor``
times the epochs into ``RUNS/long/seed_N`` (everything else equal: data, recipe, schedule shape),
through the real pipeline (``tan_video.demo.run_demo``). A run folder whose ``results.json`` has
exactly these settings and the current benchmark version is reused, so ``tan-video demo --seeds 0 1 2 --out RUNS/default`` also
provides the default half. Writes ``benchmarks/results/demo_convergence.{json,md}``:
``{"models": {KEY: {"default": [frame mAP per seed], "long": [...], "gap": [long - default],
"converged": bool}}, "criterion": 0.02, ...}``; a model is converged when its gap is at most the
criterion on every seed.

``"claims": {KEY: {"claim", "default": {"margin", "verdict"}, "long": {...}}}`` (per seed) says which
verdicts of the demo's report change with more training.

The long runs are also the benchmark's calibration (docs/benchmark.md, "Which classes stay"):
``"classes": {NAME: {"group", "best_model", "best_ap": [per seed], "ap": {KEY: [per seed]}}}``
with every model's AP at ``--factor`` times the budget, the models that reach the rule's AP on every seed
(``"counted_by"``), and ``"class_rule"``: a class counts when
at least one of the models reaches AP >= 0.5 on it, on every seed (the rule names no model).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, replace
from pathlib import Path

from tan_video.benchmark import machine_info
from tan_video.data.synthetic import GENERATOR_VERSION
from tan_video.demo import demo_settings, run_demo, settings_record

CRITERION = 0.02
CLASS_AP = 0.5  # a class counts when some model reaches this AP at the long budget, on every seed


def _run(folder: Path, seed: int, settings) -> dict:
    path = folder / "results.json"
    if path.is_file():
        old = json.loads(path.read_text())
        if (old.get("settings") == settings_record(settings, seed)
                and old.get("dataset", {}).get("version") == GENERATOR_VERSION):
            print(f"reusing {path}")
            return old
    return run_demo(folder, seed=seed, settings=settings)


def class_calibration(long_runs: dict, seeds: list[int]) -> dict:
    """Per class: every model's AP at the long budget per seed, the best model (highest mean AP)
    and whether some model reaches :data:`CLASS_AP` on every seed."""
    first = long_runs[seeds[0]]
    groups = first["dataset"].get("label_stats", {}).get("groups", {})
    out = {}
    for name in first["models"][next(iter(first["models"]))]["per_class_ap"]:
        ap = {key: [long_runs[s]["models"][key]["per_class_ap"][name] for s in seeds] for key in first["models"]}
        best = max(ap, key=lambda k: sum(ap[k]) / len(ap[k]))
        by = [k for k, vs in ap.items() if all(v >= CLASS_AP for v in vs)]
        out[name] = {"group": groups.get(name, ""), "ap": ap, "best_model": best, "best_ap": ap[best],
                     "counted_by": by, "counts": bool(by)}
    return out


def claim_verdicts(runs: dict, seeds: list[int]) -> dict:
    """Per claim of the demo's report: its margin and verdict on every seed, at each budget."""
    out = {}
    for kind, by_seed in runs.items():
        for seed in seeds:
            for c in by_seed[seed]["claims"]:
                row = out.setdefault(c["key"], {"claim": c["claim"], "source": c.get("source")})
                cell = row.setdefault(kind, {"margin": [], "verdict": []})
                cell["margin"].append(c.get("margin"))
                cell["verdict"].append(c["verdict"])
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--factor", type=int, default=3, help="the long runs train this many times the epochs")
    p.add_argument("--runs", default="runs/convergence", help="where the demo runs go")
    p.add_argument("--out", default="benchmarks/results/demo_convergence", help="writes OUT.json and OUT.md")
    args = p.parse_args()
    base = demo_settings()
    long = replace(base, epochs=base.epochs * args.factor)
    runs = {"default": {}, "long": {}}
    for seed in args.seeds:
        runs["default"][seed] = _run(Path(args.runs) / "default" / f"seed_{seed}", seed, base)
        runs["long"][seed] = _run(Path(args.runs) / "long" / f"seed_{seed}", seed, long)
    models = {}
    for key, first in runs["default"][args.seeds[0]]["models"].items():
        d = [runs["default"][s]["models"][key]["frame_map"] for s in args.seeds]
        lg = [runs["long"][s]["models"][key]["frame_map"] for s in args.seeds]
        gap = [b - a for a, b in zip(d, lg)]
        models[key] = {"label": first["label"], "default": d, "long": lg, "gap": gap,
                       "converged": all(g <= CRITERION for g in gap)}
    classes = class_calibration(runs["long"], args.seeds)
    claims = claim_verdicts(runs, args.seeds)
    result = {"models": models, "classes": classes, "claims": claims, "class_rule": {"ap": CLASS_AP, "budget": f"x{args.factor}",
                                                                   "failing": [c for c, v in classes.items() if not v["counts"]]},
              "seeds": args.seeds, "criterion": CRITERION, "factor": args.factor,
              "settings": {"default": asdict(base), "long": asdict(long)},
              "seconds": {kind: {str(s): r["total_seconds"] for s, r in by_seed.items()} for kind, by_seed in runs.items()},
              "machine": machine_info()}
    lines = [f"| model | default ({base.epochs} epochs), seeds {', '.join(map(str, args.seeds))} | "
             f"x{args.factor} ({long.epochs} epochs) | gap | within {CRITERION} on every seed |",
             "|---|---|---|---|---|"]
    pts = lambda vs: ", ".join(f"{100 * v:.1f}" for v in vs)  # noqa: E731
    for m in models.values():
        lines.append(f"| {m['label']} | {pts(m['default'])} | {pts(m['long'])} | {pts(m['gap'])} | "
                     f"{'yes' if m['converged'] else 'no'} |")
    lines += ["", f"Per-class AP at x{args.factor} (best of the models; a class counts when some model reaches "
              f"{CLASS_AP} on every seed):", "", "| class | group | best model (mean) | best AP, per seed | counted by |",
              "|---|---|---|---|---|"]
    for name, c in classes.items():
        lines.append(f"| {name} | {c['group']} | {c['best_model']} | {pts(c['best_ap'])} | "
                     f"{', '.join(c['counted_by']) or '**none**'} |")
    lines += ["", f"The claims at each budget (margin in points per seed, and the verdict a run gives):", "",
              f"| claim | default (seeds {', '.join(map(str, args.seeds))}) | x{args.factor} |", "|---|---|---|"]
    for c in claims.values():
        cell = lambda kind: "; ".join(  # noqa: E731
            f"{'n/a' if m is None else f'{100 * m:+.1f}'} {v}" for m, v in zip(c[kind]["margin"], c[kind]["verdict"]))
        lines.append(f"| {c['claim']} | {cell('default')} | {cell('long')} |")
    table = "\n".join(lines) + "\n"
    print(table, end="")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)


if __name__ == "__main__":
    main()
