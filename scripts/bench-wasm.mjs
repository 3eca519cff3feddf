// `./baton bench wasm`: the answer engine alone, compiled to wasm as the worker is
// (tests/wasm-engine), timed in node's V8 — the engine workerd runs — with a clock that
// advances during CPU work (in Workers it does not). Beside `./baton bench worker`'s round
// trips, it tells the engine's own time in wasm from the worker's routing, limiter and HTTP.
//
//   node scripts/bench-wasm.mjs --wasm FILE --model FILE --sites DIR[,DIR…] [--rounds 3] [--json OUT]
//
// Each site folder holds index.idx (+ index.idx.N parts) and questions.txt (one per line), as
// `index-builder bench synthetic --sites-dir` writes them.
import fs from "node:fs";
import path from "node:path";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, a, i, all) => (a.startsWith("--") ? [...pairs, [a.slice(2), all[i + 1]]] : pairs), []),
);
for (const need of ["wasm", "model", "sites"]) {
  if (!args[need]) {
    console.error(`bench-wasm: --${need} is required (see the comment at the top of scripts/bench-wasm.mjs)`);
    process.exit(2);
  }
}
const rounds = Number(args.rounds ?? 3);
const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

async function engine() {
  const { instance } = await WebAssembly.instantiate(fs.readFileSync(args.wasm), {});
  const x = instance.exports;
  // Copies bytes into a buffer the module hands out; the export called with it owns it.
  const put = (bytes) => {
    const ptr = x.buffer(bytes.length);
    new Uint8Array(x.memory.buffer, ptr, bytes.length).set(bytes);
    return [ptr, bytes.length];
  };
  return { x, put };
}

const results = {};
for (const dir of args.sites.split(",")) {
  const label = path.basename(dir).replace(/^site-/, "");
  const { x, put } = await engine();
  let t = performance.now();
  if (x.load_model(...put(fs.readFileSync(args.model))) !== 0) throw new Error(`${args.model}: not a model file`);
  const modelMs = performance.now() - t;
  t = performance.now();
  for (let n = 1; fs.existsSync(path.join(dir, `index.idx.${n}`)); n++) x.add_part(...put(fs.readFileSync(path.join(dir, `index.idx.${n}`))));
  if (x.load_index(...put(fs.readFileSync(path.join(dir, "index.idx")))) !== 0) throw new Error(`${dir}/index.idx: not an index of this version`);
  const indexMs = performance.now() - t;
  const questions = fs.readFileSync(path.join(dir, "questions.txt"), "utf8").split("\n").filter((q) => q.trim());
  const encoder = new TextEncoder();
  const times = [];
  // Round 1 warms V8's optimising tier and the chunks decoded on first use; the rest are timed.
  for (let round = 0; round < rounds; round++) {
    for (const q of questions) {
      const bytes = put(encoder.encode(q));
      const start = performance.now();
      if (x.ask(...bytes) < 0) throw new Error(`no answer to ${JSON.stringify(q)}`);
      if (round > 0) times.push((performance.now() - start) * 1000);
    }
  }
  times.sort((a, b) => a - b);
  const r = { questions: times.length, answer_p50_us: percentile(times, 0.5), answer_p95_us: percentile(times, 0.95), model_load_ms: modelMs, index_load_ms: indexMs };
  results[label] = r;
  console.log(
    `  ${label} chunks: answer p50 / p95 ${r.answer_p50_us.toFixed(0)} / ${r.answer_p95_us.toFixed(0)} µs in wasm (${r.questions} answers after a warm-up round) · model opened in ${modelMs.toFixed(1)} ms, index in ${indexMs.toFixed(1)} ms`,
  );
}
if (args.json) {
  fs.mkdirSync(path.dirname(args.json), { recursive: true });
  fs.writeFileSync(args.json, JSON.stringify({ runtime: `node ${process.version} (V8 ${process.versions.v8})`, sites: results }, null, 2) + "\n");
  console.log(`wrote ${args.json}`);
}
