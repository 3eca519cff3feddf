// Web asset helper for ./baton (Node's own zlib; no dependencies).
//
//   node scripts/web.mjs compress FILE...   write FILE.br (brotli, max quality) next to each file
//   node scripts/web.mjs budget             measure the widget's bytes; fail over budget
//   node scripts/web.mjs budget --report    the same figures, never failing (./baton build)
//
// Budgets (issue #4): what a host page loads before the visitor opens the chat ≤ 5 KB brotli;
// the whole widget once opened (loader + glue + wasm + CSS) ≤ 90 KB brotli (for a visitor
// whose language is not English, the settings response also carries the panel's ~1 KB of
// words: not counted here, it is not part of the bundle). Measured on the
// bytes a browser receives: each file's brotli twin, which the worker sends to every browser
// that accepts br (by q-value, wherever br is listed). When a browser test has recorded what
// Chromium received from `wrangler dev` (target/bench/widget-received.json: Resource Timing's
// encoded sizes), those are printed beside them. The figures are written to
// target/bench/widget-size.json on every run.
import { brotliCompressSync, constants } from "node:zlib";
import { readFileSync, writeFileSync, readdirSync, mkdirSync } from "node:fs";
import { join } from "node:path";

const PAGE_LOAD_BUDGET = 5 * 1024;
const OPENED_BUDGET = 90 * 1024;

function br(bytes) {
  return brotliCompressSync(bytes, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length },
  });
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === "compress") {
  for (const f of args) {
    if (f.endsWith(".br")) continue;
    writeFileSync(f + ".br", br(readFileSync(f)));
  }
} else if (cmd === "budget") {
  // What the opened widget fetches: the loader, then everything in the hashed bundle directory
  // the loader points at (glue + wasm; the panel's CSS is inside the wasm). Counting the
  // directory rather than known names means a file added later is never missed.
  const loader = readFileSync("dist/widget.js", "utf8");
  const m = loader.match(/widget\/([0-9a-f]{8,64})\//);
  if (!m) {
    console.error("dist/widget.js does not reference a widget/<hash>/ bundle: run ./baton build");
    process.exit(1);
  }
  const bundleDir = join("dist/widget", m[1]);
  const files = { "widget.js": "dist/widget.js" };
  for (const f of readdirSync(bundleDir).sort()) if (!f.endsWith(".br")) files[f] = join(bundleDir, f);
  const sizes = {};
  for (const [name, path] of Object.entries(files)) {
    const raw = readFileSync(path);
    let twin;
    try {
      twin = readFileSync(path + ".br");
    } catch {
      console.error(`${path}.br is missing: the worker would send this file uncompressed (run ./baton build)`);
      process.exit(1);
    }
    sizes[name] = { raw: raw.length, brotli: twin.length };
  }
  let received = null;
  try {
    received = JSON.parse(readFileSync("target/bench/widget-received.json", "utf8"));
  } catch {}
  const pageLoad = sizes["widget.js"].brotli;
  const opened = Object.values(sizes).reduce((a, s) => a + s.brotli, 0);
  const report = {
    page_load_brotli: pageLoad,
    opened_brotli: opened,
    budgets: { page_load_brotli: PAGE_LOAD_BUDGET, opened_brotli: OPENED_BUDGET },
    files: sizes,
    received_by_chromium: received,
  };
  mkdirSync("target/bench", { recursive: true });
  writeFileSync("target/bench/widget-size.json", JSON.stringify(report, null, 2) + "\n");
  const kb = (n) => (n / 1024).toFixed(1) + " KB";
  console.log(`widget on page load: ${kb(pageLoad)} brotli (budget ${kb(PAGE_LOAD_BUDGET)})`);
  console.log(`widget once opened:  ${kb(opened)} brotli (budget ${kb(OPENED_BUDGET)})`);
  for (const [n, s] of Object.entries(sizes)) {
    const r = received && received.files && received.files[n];
    const got = r ? `   Chromium got ${kb(r.encoded).padStart(8)} (${r.encoding || "?"}, from wrangler dev)` : "";
    console.log(`  ${n.padEnd(22)} ${kb(s.raw).padStart(9)} raw ${kb(s.brotli).padStart(9)} brotli${got}`);
  }
  let failed = false;
  if (pageLoad > PAGE_LOAD_BUDGET) {
    console.error("over budget: page-load bytes");
    failed = true;
  }
  if (opened > OPENED_BUDGET) {
    console.error("over budget: opened-widget bytes");
    failed = true;
  }
  process.exit(failed && !args.includes("--report") ? 1 : 0);
} else {
  console.error("usage: web.mjs compress FILE... | budget");
  process.exit(2);
}
