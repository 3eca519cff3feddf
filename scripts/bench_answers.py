#!/usr/bin/env python3
"""Answer-quality benchmark: for each set under ../shared/bench, build the index, ask every
question, score the answers with the bench's own score.py, and print one table.

usage: bench_answers.py [--bench DIR] [--out FILE] [--index-builder BIN] [--sets a,b] [--params k=v,...]

Figures: recall@1, recall@5, mrr@10, answer_hit, false_handoff, handoff_recall, auroc, p50/p95
answer time (µs, measured inside `index-builder ask`), index build time and size.

Every set is split by question id (`split`): ids whose last hex digit is odd are the TUNE part
(the engine's parameters and confidence were chosen on them), ids whose last digit is even are
HELD OUT. The held-out part is the figure to quote; the tune part is printed beside it so
overfitting shows as a gap. Sets whose files are missing are skipped with a message.
Python 3 standard library only; writes JSON (default target/bench/answers.json).
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, docs dir, questions file) relative to the bench folder; questions None = build only.
SETS = [
    ("squad", "squad", "squad/questions.jsonl"),
    ("keystone", "corpora/keystone", "keystone/questions.jsonl"),
    ("astro", "astro/corpus", "astro/questions.jsonl"),
    ("payload", "corpora/payload", None),
]
METRICS = ["recall@1", "recall@5", "mrr@10", "answer_hit", "false_handoff", "handoff_recall", "auroc", "p50_us", "p95_us"]


def split(qid):
    """'tune' or 'held out', from the id alone (never from the file's order): the parity of the id's
    last hex digit — "ks-001" and "nx-107" tune, "ks-002" is held out; SQuAD's hex ids alike."""
    last = str(qid)[-1:].lower()
    digit = int(last, 16) if last and last in "0123456789abcdef" else sum(map(ord, str(qid)))
    return "tune" if digit % 2 == 1 else "held out"


def load_scorer(bench):
    spec = importlib.util.spec_from_file_location("score", os.path.join(bench, "score.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=os.environ.get("BATON_BENCH_DIR") or os.path.join(ROOT, "..", "shared", "bench"))
    ap.add_argument("--out", default=os.path.join(ROOT, "target", "bench", "answers.json"))
    ap.add_argument("--index-builder", default=os.path.join(ROOT, "target", "release", "index-builder"))
    ap.add_argument("--work", default=os.path.join(ROOT, "target", "bench", "answers"))
    ap.add_argument("--sets", help="only these sets, comma separated (default: all)")
    ap.add_argument("--params", help="engine parameter overrides passed to `ask --params`")
    ap.add_argument("--tune-only", action="store_true", help="print only the tune parts (while developing: no peeking)")
    args = ap.parse_args()
    bench = os.path.abspath(args.bench)
    if not os.path.isfile(os.path.join(bench, "score.py")):
        print(f"bench: no answer-quality data at {bench} (../shared/bench): skipping the answer benchmark")
        return
    scorer = load_scorer(bench)
    os.makedirs(args.work, exist_ok=True)
    results = {}
    rows = []
    wanted = set(args.sets.split(",")) if args.sets else None
    for name, docs, questions in SETS:
        if wanted is not None and name not in wanted:
            continue
        docs_dir = os.path.join(bench, docs)
        qfile = os.path.join(bench, questions) if questions else None
        if not os.path.isdir(docs_dir) or (qfile and not os.path.isfile(qfile)):
            print(f"bench: {name}: {docs_dir if not os.path.isdir(docs_dir) else qfile} is missing, skipped")
            continue
        index = os.path.join(args.work, f"{name}.idx")
        t = time.monotonic()
        subprocess.run([args.index_builder, "build", "--quiet", "--docs", docs_dir, "--out", index], check=True,
                       stderr=subprocess.DEVNULL)
        build_s = time.monotonic() - t
        entry = {"build_s": round(build_s, 3), "index_bytes": os.path.getsize(index)}
        if qfile:
            with open(qfile, encoding="utf-8") as f:
                qtext = f.read()
            answers_path = os.path.join(args.work, f"{name}.answers.jsonl")
            with open(answers_path, "w", encoding="utf-8") as out:
                cmd = [args.index_builder, "ask", "--index", index, "--evidence"]
                if args.params:
                    cmd += ["--params", args.params]
                subprocess.run(cmd, input=qtext, text=True, stdout=out, check=True)
            qs = scorer.load(qfile)
            ans = scorer.load(answers_path)
            entry["held out"] = scorer.score([q for q in qs if split(q["id"]) == "held out"], ans)
            entry["tune"] = scorer.score([q for q in qs if split(q["id"]) == "tune"], ans)
            entry["all"] = scorer.score(qs, ans)
            for part in ("held out", "tune", "all"):
                rows.append((f"{name} {part}", entry[part], entry if part == "held out" else None))
        else:
            rows.append((f"{name} (build only)", {}, entry))
        results[name] = entry
    print("held out = question ids ending in an even hex digit (never tuned on); tune = the others\n")
    head = f"{'set':<22}" + "".join(f"{m:>15}" for m in METRICS) + f"{'build s':>10}{'size MB':>10}"
    print(head)
    print("-" * len(head))
    for label, m, build in rows:
        if args.tune_only and not label.endswith(" tune"):
            continue
        cells = "".join(f"{m[k]:>15.4f}" if isinstance(m.get(k), float) else f"{m.get(k, ''):>15}" for k in METRICS)
        tail = f"{build['build_s']:>10.2f}{build['index_bytes'] / 1e6:>10.2f}" if build else ""
        print(f"{label:<22}{cells}{tail}")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    print(f"\nwrote {os.path.relpath(args.out, os.getcwd())}")


if __name__ == "__main__":
    sys.exit(main())
