#!/usr/bin/env python3
"""The accuracy/depth Pareto table and plot of depth-aware students (issue #22).

Each student is a heft run folder (student.safetensors, student_metrics.jsonl whose last line
holds the test results). For each it reads test accuracy and macro-F1, asks `heft he-report
--json` for the CKKS depth and ring dimension, and, when given an Orion log of
`tools/he/orion_check.py --log` for it, the measured encrypted seconds per image (median).
Writes pareto.md (a Markdown table) and pareto.svg (accuracy against depth) into --out.

    python3 tools/depth/pareto.py --heft target/release/heft --out results/depth \\
        full=results/ct64/alexnet-method/seed-1 d9=/work/depth/d9 \\
        [--encrypted d9=/work/he-ct/d9.jsonl]

Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def test_line(run):
    path = os.path.join(run, "student_metrics.jsonl")
    with open(path) as f:
        lines = [json.loads(line) for line in f if line.strip()]
    tests = [line for line in lines if "test" in line]
    if not tests:
        sys.exit(f"pareto.py: {path} has no test line: the run has not finished")
    return tests[-1]


def he_report(heft, run):
    ckpt = os.path.join(run, "student.safetensors")
    out = subprocess.run([heft, "he-report", ckpt, "--json"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"pareto.py: heft he-report {ckpt} failed: {out.stderr.strip()}")
    return json.loads(out.stdout)


def encrypted_seconds(log):
    with open(log) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    secs = [r["seconds"] for r in recs if "image" in r]
    return (statistics.median(secs), len(secs)) if secs else None


def svg(rows, path):
    """Test accuracy against CKKS depth, one labelled point per student."""
    w, h, m = 640, 400, 60
    ds = [r["depth"] for r in rows]
    accs = [r["accuracy"] for r in rows]
    d0, d1 = min(ds) - 1, max(ds) + 1
    a0, a1 = min(accs) - 0.01, max(accs) + 0.01
    x = lambda d: m + (d - d0) / (d1 - d0) * (w - 2 * m)
    y = lambda a: h - m - (a - a0) / (a1 - a0) * (h - 2 * m)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="black"/>',
             f'<line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="black"/>',
             f'<text x="{w / 2}" y="{h - 20}" text-anchor="middle">CKKS depth (levels)</text>',
             f'<text x="18" y="{h / 2}" transform="rotate(-90 18 {h / 2})" text-anchor="middle">test accuracy</text>']
    for d in range(d0 + 1, d1):
        parts.append(f'<text x="{x(d)}" y="{h - m + 16}" text-anchor="middle">{d}</text>')
    for k in range(5):
        a = a0 + k * (a1 - a0) / 4
        parts.append(f'<text x="{m - 6}" y="{y(a) + 4}" text-anchor="end">{a:.3f}</text>')
    for r in sorted(rows, key=lambda r: r["depth"]):
        parts.append(f'<circle cx="{x(r["depth"])}" cy="{y(r["accuracy"])}" r="5" fill="steelblue"/>')
        parts.append(f'<text x="{x(r["depth"]) + 8}" y="{y(r["accuracy"]) - 8}">{r["label"]}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heft", default="heft", help="the heft binary")
    ap.add_argument("--out", required=True, help="folder for pareto.md and pareto.svg")
    ap.add_argument("--encrypted", action="append", default=[], metavar="LABEL=LOG", help="an orion_check.py --log file of a student")
    ap.add_argument("--note", action="append", default=[], metavar="LABEL=TEXT", help="what the encrypted column says for a student without a log")
    ap.add_argument("runs", nargs="+", metavar="LABEL=RUN_DIR")
    a = ap.parse_args()
    enc = dict(e.split("=", 1) for e in a.encrypted)
    notes = dict(n.split("=", 1) for n in a.note)
    rows = []
    for spec in a.runs:
        label, run = spec.split("=", 1)
        t = test_line(run)
        rep = he_report(a.heft, run)
        linear = json.load(open(os.path.join(run, "student.json"))).get("student", {}).get("linear", [])
        rows.append({"label": label, "run": run, "accuracy": t["test"]["accuracy"], "macro_f1": t["test"]["macro_f1"],
                     "depth": rep["depth"], "ring_dim": rep["ckks"]["ring_dim"], "scale_bits": rep["ckks"]["scale_bits"],
                     "linear": linear, "encrypted": encrypted_seconds(enc[label]) if label in enc else None})
    os.makedirs(a.out, exist_ok=True)
    lines = ["| student | depth | ring dim (scale) | test accuracy | macro-F1 | encrypted s/image | linearised |",
             "|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: -r["depth"]):
        e = f"{r['encrypted'][0]:.1f} (median of {r['encrypted'][1]}, Orion)" if r["encrypted"] else notes.get(r["label"], "not measured")
        lines.append(f"| {r['label']} | {r['depth']} | {r['ring_dim']} (2^{r['scale_bits']}) | {r['accuracy']:.4f} | "
                     f"{r['macro_f1']:.4f} | {e} | {', '.join(r['linear']) or '—'} |")
    with open(os.path.join(a.out, "pareto.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.out, "pareto.json"), "w") as f:
        json.dump(rows, f, indent=1)
    svg(rows, os.path.join(a.out, "pareto.svg"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
