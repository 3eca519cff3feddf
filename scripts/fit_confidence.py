#!/usr/bin/env python3
"""Fits the engine's confidence (`baton_shared::engine::Params` c_*) on the bench's TUNE halves.

usage: fit_confidence.py [--work DIR] [--bench DIR] [--false-handoff F]

Reads what `./baton bench answers` left in target/bench/answers/ (each set's answers with their
`evidence`, written by `index-builder ask --evidence`), keeps the tune half of every set (the
split of scripts/bench_answers.py: ids ending in an odd hex digit), and fits a logistic
regression of "the question is in scope" on the evidence: the best section's coverage and
cosine, the share of the question the docs know, the best unit's coverage and cosine, the best
page's lead over the next page (margin) and how many can't-answer cues fired. Every set weighs
the same, and within a set both classes weigh the same, so SQuAD's thousands of questions do not
drown the docs sets. The intercept is then moved so that, at the default threshold 0.5, the docs
sets hand off at most --false-handoff of their in-scope tune questions (pooled). Prints the coefficients
as an `ask --params` string and as Rust for `Params::default()`. Standard library only.
"""
import argparse
import json
import math
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from bench_answers import split  # noqa: E402

FEATURES = ["coverage", "cosine", "known", "unit", "unit_cosine", "margin", "cues"]
SETS = {"squad": "squad/questions.jsonl", "keystone": "keystone/questions.jsonl", "astro": "astro/questions.jsonl"}
DOCS_SETS = ["keystone", "astro"]


def load(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def rows(bench, work):
    out = {}
    for name, qfile in SETS.items():
        answers = os.path.join(work, f"{name}.answers.jsonl")
        if not os.path.isfile(answers):
            continue
        by_id = {a["id"]: a for a in load(answers)}
        data = []
        for q in load(os.path.join(bench, qfile)):
            if split(q["id"]) != "tune":
                continue
            e = by_id[q["id"]].get("evidence")
            if e is None:
                sys.exit(f"{answers} has no evidence: run `./baton bench answers` (it asks with --evidence)")
            data.append(([float(e[f]) for f in FEATURES], 1 if q["kind"] == "in_scope" else 0))
        out[name] = data
    return out


def sigmoid(z):
    return 1 / (1 + math.exp(-max(-40.0, min(40.0, z))))


def fit(data, l2, epochs=4000, lr=1.0):
    """Batch gradient descent on the balanced log loss (plain Python: a few hundred rows per set)."""
    n = len(FEATURES)
    w = [0.0] * (n + 1)
    weighted = []
    for rs in data.values():
        pos = sum(y for _, y in rs) or 1
        neg = (len(rs) - pos) or 1
        weighted += [(x + [1.0], y, (0.5 / pos if y else 0.5 / neg) / len(data)) for x, y in rs]
    for _ in range(epochs):
        g = [0.0] * (n + 1)
        for x, y, wt in weighted:
            p = sigmoid(sum(a * b for a, b in zip(w, x)))
            for i in range(n + 1):
                g[i] += wt * (p - y) * x[i]
        for i in range(n):
            g[i] += l2 * w[i]
        w = [a - lr * b for a, b in zip(w, g)]
    return w


def handoffs(data, w, bias):
    out = {}
    for name, rs in data.items():
        zs = [(sum(a * b for a, b in zip(w, x)) + bias, y) for x, y in rs]
        ins = [z for z, y in zs if y]
        outs = [z for z, y in zs if not y]
        out[name] = (sum(z < 0 for z in ins) / max(1, len(ins)), sum(z < 0 for z in outs) / max(1, len(outs)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench", "answers"))
    ap.add_argument("--bench", default=os.environ.get("BATON_BENCH_DIR") or os.path.join(ROOT, "..", "shared", "bench"))
    ap.add_argument("--false-handoff", type=float, default=0.08)
    ap.add_argument("--l2", type=float, default=0.001)
    args = ap.parse_args()
    data = rows(args.bench, args.work)
    w = fit(data, args.l2)
    coef, bias = w[:-1], w[-1]
    # The operating point: the lowest intercept (the most handoffs of out-of-scope questions)
    # at which the docs sets' in-scope tune questions, pooled, are handed off at most
    # --false-handoff of the time. Pooled: one 24-question set alone moves in steps of 4 %.
    docs = {k: v for k, v in data.items() if k in DOCS_SETS}

    def pooled_false_handoff(b):
        zs = [sum(a * c for a, c in zip(coef, x)) + b for rs in docs.values() for x, y in rs if y]
        return sum(z < 0 for z in zs) / max(1, len(zs))

    ok = [bias + s * 0.01 for s in range(-1000, 1001) if pooled_false_handoff(bias + s * 0.01) <= args.false_handoff]
    bias_at = min(ok) if ok else bias
    print("fitted on the tune halves:", {k: len(v) for k, v in data.items()})
    for name, (fh, hr) in handoffs(data, coef, bias_at).items():
        print(f"  {name:<9} false_handoff {fh:.3f}  handoff_recall {hr:.3f}")
    names = ["c_" + f for f in FEATURES] + ["c_bias"]
    values = coef + [bias_at]
    print("--params " + ",".join(f"{n}={v:.3f}" for n, v in zip(names, values)))
    for n, v in zip(names, values):
        print(f"            {n}: {v:.3f},")


if __name__ == "__main__":
    main()
