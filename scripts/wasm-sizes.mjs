// Where a wasm file's bytes go: per-function code sizes from its name section, biggest first,
// or summed by crate (--group). For size work on the widget (see widget/README.md):
//
//   wasm-bindgen --target web --keep-debug --out-dir /tmp/w target/wasm32-unknown-unknown/web/baton_widget.wasm
//   node_modules/binaryen/bin/wasm-opt -Oz -g <features as in ./baton> /tmp/w/baton_widget_bg.wasm -o /tmp/w/named.wasm
//   node scripts/wasm-sizes.mjs /tmp/w/named.wasm 40        # the 40 biggest functions
//   node scripts/wasm-sizes.mjs /tmp/w/named.wasm 0 --group # by crate
import { readFileSync } from "node:fs";
const buf = readFileSync(process.argv[2]);
const N = +(process.argv[3] || 40);
let p = 8;
function leb() { let r = 0, s = 0, b; do { b = buf[p++]; r |= (b & 0x7f) << s; s += 7; } while (b & 0x80); return r >>> 0; }
let nImportedFuncs = 0, bodies = [], names = new Map(), dataSize = 0, sections = {};
while (p < buf.length) {
  const id = buf[p++]; const size = leb(); const start = p; const end = p + size;
  sections[id] = (sections[id] || 0) + size;
  if (id === 2) { let n = leb(); for (let i = 0; i < n; i++) { let l = leb(); p += l; l = leb(); p += l; const kind = buf[p++];
      if (kind === 0) { leb(); nImportedFuncs++; } else if (kind === 1) { p++; const f = buf[p++]; leb(); if (f & 1) leb(); } else if (kind === 2) { const f = buf[p++]; leb(); if (f & 1) leb(); } else if (kind === 3) { p += 2; } else { p++; leb(); } } }
  else if (id === 10) { let n = leb(); for (let i = 0; i < n; i++) { const s = leb(); bodies.push(s); p += s; } }
  else if (id === 11) { dataSize += size; }
  else if (id === 0) { const nl = leb(); const name = buf.slice(p, p + nl).toString(); p += nl;
    if (name === "name") { while (p < end) { const sid = buf[p++]; const ss = leb(); const se = p + ss;
        if (sid === 1) { const n = leb(); for (let i = 0; i < n; i++) { const idx = leb(); const l = leb(); names.set(idx, buf.slice(p, p + l).toString()); p += l; } }
        p = se; } } }
  p = end;
}
const fns = bodies.map((s, i) => ({ s, name: names.get(i + nImportedFuncs) || `f${i + nImportedFuncs}` }));
const total = bodies.reduce((a, b) => a + b, 0);
console.log(`file ${buf.length}  code ${total}  data ${dataSize}  funcs ${bodies.length}  sections`, sections);
if (process.argv.includes("--group")) {
  const g = new Map();
  for (const f of fns) {
    let n = f.name;
    const m = n.match(/(serde_json|serde|leptos|tachys|reactive_graph|core::fmt|alloc|core|wasm_bindgen|web_sys|js_sys|baton_widget|baton_shared|hashbrown|std|dlmalloc|any_spawner|futures|slotmap|or_poisoned|guardian|send_wrapper|throw_error|either_of|oco_ref|itertools|indexmap|paste|rustc_hash|const_str_slice_concat|next_tuple|wasm_bindgen_futures|leptos_dom|reactive_stores|gloo)/);
    const k = m ? m[1] : "other";
    g.set(k, (g.get(k) || 0) + f.s);
  }
  console.log([...g].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${String(v).padStart(8)} ${k}`).join("\n"));
} else {
  fns.sort((a, b) => b.s - a.s);
  for (const f of fns.slice(0, N)) console.log(String(f.s).padStart(7), f.name.slice(0, 160));
}
