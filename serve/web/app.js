// qkv serve's page: type an input, see the output and its attention (head
// view, heat map, model view), open the Q·K·V walk-through of a token,
// save any view as SVG or PNG. Plain JavaScript, no build step, no library:
// it talks only to this server's API (/v1/models, /v1/translate,
// /v1/explain). Every drawing is an SVG whose look is set by attributes,
// not by the page's CSS, so a saved file looks as it does here.
"use strict";

const SVGNS = "http://www.w3.org/2000/svg";
// Head colours: d3's category10, as bertviz.
const HEAD_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const MONO = "ui-monospace, Menlo, Consolas, monospace";
const KIND_NAMES = { "enc-self": "Encoder self-attention", "dec-self": "Decoder self-attention", "cross": "Cross-attention" };
const KIND_SHORT = { "enc-self": "Encoder self", "dec-self": "Decoder self", "cross": "Cross" };
const KIND_ORDER = ["enc-self", "dec-self", "cross"];

const $ = (id) => document.getElementById(id);
const state = {
  models: [],       // GET /v1/models
  model: null,      // the model info of the current result
  input: "",
  result: null,     // the result of the input
  output: null,     // its best output
  kinds: {},        // kind → {rows, cols, layers: [layer][head][row][col], additive, names}
  kind: null, layer: 0, heads: new Set(), focus: 0,
  hover: null,      // {side: "q"|"k", i} while a token is hovered
  pinned: null,     // the same, set by a tap or click
};

// ---------- small helpers ----------

function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function svgEl(tag, attrs, text) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function headColour(h) { return HEAD_COLOURS[h % HEAD_COLOURS.length]; }

// Width of a label in px at size (an estimate: SVG is laid out before it
// is measured, and must look the same when saved).
function textWidth(s, size) { return Math.ceil([...s].length * size * 0.62) + 4; }

function shorten(s, n) { const c = [...s]; return c.length > n ? c.slice(0, n - 1).join("") + "…" : s; }

// Sequential colour for a weight in [0, 1]: white to deep blue.
function weightColour(w) {
  w = Math.max(0, Math.min(1, w));
  const a = [255, 255, 255], b = [8, 48, 107];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * w));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

// Diverging colour for a value scaled by m: blue (negative), white, red.
function signedColour(v, m) {
  const t = m > 0 ? Math.max(-1, Math.min(1, v / m)) : 0;
  const to = t < 0 ? [33, 102, 172] : [178, 24, 43];
  const a = Math.abs(t);
  const c = [255, 255, 255].map((x, i) => Math.round(x + (to[i] - x) * a));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function fmt(x, d = 3) { return x === null || x === undefined ? "–" : Number(x).toFixed(d); }

function layerOf(name) { const m = /\.(\d+)\./.exec(name); return m ? Number(m[1]) : 0; }

// ---------- errors ----------

function showError(msg) {
  const e = $("error");
  e.textContent = msg;
  e.hidden = !msg;
}

// An API error as a sentence: its message, and the field at fault.
class APIError extends Error {
  constructor(status, body) {
    const err = body && body.error;
    const msg = err ? err.message + (err.field ? ` (field: ${err.field})` : "") : `the server answered ${status}`;
    super(msg);
    this.status = status;
    this.code = err && err.code;
    this.field = err && err.field;
  }
}

async function api(path, body) {
  let resp;
  try {
    resp = await fetch(path, body === undefined ? {} : {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}): is qkv serve still running?`);
  }
  let data = null;
  try { data = await resp.json(); } catch (e) { /* not JSON */ }
  if (!resp.ok) throw new APIError(resp.status, data);
  if (data === null) throw new Error(`the server's answer to ${path} is not JSON`);
  return data;
}

// ---------- models ----------

async function loadModels() {
  const sel = $("model");
  try {
    const data = await api("/v1/models");
    state.models = data.models || [];
    clear(sel);
    for (const m of state.models) sel.appendChild(el("option", { value: m.name }, `${m.name} (${m.arch})`));
    if (!state.models.length) throw new Error("the server serves no model");
    describeModel();
  } catch (e) {
    clear(sel);
    sel.appendChild(el("option", { value: "" }, "no model"));
    showError("Could not list the models: " + e.message);
  }
}

function currentModel() { return state.models.find((m) => m.name === $("model").value) || state.models[0]; }

function describeModel() {
  const m = currentModel();
  if (!m) return;
  const c = m.config || {};
  let sizes;
  if (m.arch === "ensemble") sizes = `${m.members.length} models decoding together: ${m.members.map((x) => x.arch).join(" + ")}`;
  else if (m.arch === "transformer") sizes = `${c.enc_layers} encoder + ${c.dec_layers} decoder layers × ${c.heads} heads, d_model ${c.d_model}`;
  else sizes = `${c.layers} LSTM layer${c.layers === 1 ? "" : "s"} of ${c.hidden}` + (m.arch === "rnnsearch" ? ", additive attention" : ", no attention");
  const params = m.parameters >= 1e6 ? (m.parameters / 1e6).toFixed(1) + " M" : (m.parameters / 1e3).toFixed(1) + " k";
  const dec = m.decoding && m.decoding.beam > 1 ? ` · decodes with beam ${m.decoding.beam}, α ${m.decoding.alpha} (chosen for it)` : "";
  $("model-info").textContent = `${m.arch} · ${params} parameters · ${sizes} · vocabularies ${m.src_vocab} → ${m.tgt_vocab} (${m.src_tokenizer} → ${m.tgt_tokenizer}), inputs up to ${m.max_src_len} tokens${dec}`;
  // The beam starts at the model's own (its default decoding).
  if (m.decoding && m.decoding.beam) $("beam").value = m.decoding.beam;
}

// ---------- translate ----------

async function translate(ev) {
  ev.preventDefault();
  showError("");
  const input = $("input").value;
  if (!input.trim()) { showError("Type an input first."); $("input").focus(); return; }
  const beam = Number($("beam").value);
  if (!Number.isInteger(beam) || beam < 1) { showError("Beam must be a whole number from 1 up."); return; }
  const go = $("go");
  go.disabled = true; go.textContent = "Translating…";
  try {
    const req = { inputs: [input], beam, attention: true };
    if ($("model").value) req.model = $("model").value;
    const data = await api("/v1/translate", req);
    const r = data.results[0];
    if (r.error) throw new Error(`The model could not read this input: ${r.error}`);
    state.model = state.models.find((m) => m.name === data.model) || currentModel();
    state.input = input;
    state.result = r;
    state.output = r.outputs[0];
    state.kinds = buildMaps(r, state.output, state.model);
    state.pinned = state.hover = null;
    $("qkv").hidden = true;
    showResult(data);
    setupAttention();
  } catch (e) {
    showError(e.message);
  } finally {
    go.disabled = false; go.textContent = "Translate";
  }
}

function showResult(data) {
  const r = state.result, o = state.output;
  $("result").hidden = false;
  const chips = (node, toks, side) => {
    clear(node);
    toks.forEach((t, i) => {
      const c = el("span", { class: "chip", "data-side": side, "data-i": i }, t);
      node.appendChild(c);
    });
  };
  chips($("src-tokens"), r.source_tokens || [], "src");
  chips($("out-tokens"), o.tokens, "out");
  $("out-text").textContent = o.text || "(empty output)";
  let s = `log P = ${fmt(o.log_prob)}, score ${fmt(o.score)}${o.finished ? "" : " · stopped at the length limit"} · model ${data.model} · ${fmt(data.timing.total_ms, 1)} ms`;
  if (r.unknown && r.unknown.length) s += ` · read as <unk>: ${r.unknown.join(" ")}`;
  $("out-score").textContent = s;
}

// buildMaps turns the API's attention into maps by kind: rows are the
// tokens that attend (queries), cols the tokens attended to (keys), and
// layers[l][h][i][j] the weight (undefined where masked).
function buildMaps(r, o, info) {
  const kinds = {};
  const src = r.source_tokens || [];
  const enc = r.encoder_attention || {};
  const encNames = Object.keys(enc).sort((a, b) => layerOf(a) - layerOf(b));
  if (encNames.length) kinds["enc-self"] = { rows: src, cols: src, layers: encNames.map((n) => enc[n]), names: encNames };
  const steps = o.attention || [];
  if (!steps.length) return kinds;
  const rows = o.tokens.slice(0, steps.length);
  if (steps.length > o.tokens.length) rows.push("</s>");
  const mods = Object.keys(steps[0]);
  const collect = (names) => names.map((n) => {
    const H = steps[0][n].length;
    const heads = [];
    for (let h = 0; h < H; h++) heads.push(steps.map((st) => (st[n] && st[n][h]) || []));
    return heads;
  });
  const self = mods.filter((n) => /self_attn$/.test(n)).sort((a, b) => layerOf(a) - layerOf(b));
  if (self.length) kinds["dec-self"] = { rows, cols: ["<s>"].concat(o.tokens).slice(0, steps.length), layers: collect(self), names: self };
  const cross = mods.filter((n) => /cross_attn$/.test(n)).sort((a, b) => layerOf(a) - layerOf(b));
  if (cross.length) kinds.cross = { rows, cols: src, layers: collect(cross), names: cross };
  if (mods.includes("attention")) kinds.cross = { rows, cols: src, layers: collect(["attention"]), names: ["attention"], additive: true };
  // Copy attention: P(copy) of every output token, shown beside the map
  // the model copies through.
  if (kinds.cross && o.copy_prob && o.copy_prob.length === steps.length) {
    kinds.cross.copy = o.copy_prob;
    kinds.cross.copyModule = o.copy_module;
  }
  return kinds;
}

// ---------- controls ----------

// noAttentionNote says why a model's output comes with no attention map.
function noAttentionNote(m) {
  if (m && m.arch === "seq2seq")
    return "This model is a seq2seq LSTM: it has no attention. Its encoder hands the decoder one vector for the whole input, so there is no map of where each output token looks.";
  if (m && m.arch === "ensemble")
    return `This model is an ensemble of ${m.members.length} models (${m.members.map((x) => x.arch).join(", ")}): they decode together, averaging their predictions at every step. Their attentions differ in shape and are not averaged, so there is no one map to show: serve a member on its own to see its attention.`;
  return "The server returned no attention for this output.";
}

function setupAttention() {
  const sec = $("attention");
  sec.hidden = false;
  const avail = KIND_ORDER.filter((k) => state.kinds[k]);
  const none = $("no-attention");
  const views = [$("controls"), sec.querySelector(".views"), $("modelview-card"), sec.querySelector(".hint")];
  if (!avail.length) {
    none.hidden = false;
    none.textContent = noAttentionNote(state.model);
    views.forEach((v) => { v.hidden = true; });
    return;
  }
  none.hidden = true;
  views.forEach((v) => { v.hidden = false; });
  if (!avail.includes(state.kind)) state.kind = avail.includes("cross") ? "cross" : avail[0];
  const kinds = $("kinds");
  clear(kinds);
  for (const k of avail) {
    const name = state.kinds[k].additive ? "Additive (RNNsearch)" : KIND_SHORT[k];
    const b = el("button", { type: "button", "data-kind": k, "aria-pressed": String(k === state.kind), title: state.kinds[k].additive ? "RNNsearch's additive attention" : KIND_NAMES[k] }, name);
    b.addEventListener("click", () => { selectKind(k); });
    kinds.appendChild(b);
  }
  selectKind(state.kind, true);
}

function selectKind(k, keepLayer) {
  state.kind = k;
  const m = state.kinds[k];
  for (const b of $("kinds").querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.kind === k));
  const L = m.layers.length;
  if (!keepLayer || state.layer >= L) state.layer = L - 1;
  const sel = $("layer");
  clear(sel);
  for (let l = 0; l < L; l++) sel.appendChild(el("option", { value: l }, `${l}`));
  sel.value = String(state.layer);
  $("layer-label").hidden = L <= 1 && !!m.additive;
  const H = m.layers[0].length;
  const heads = [...state.heads].filter((h) => h < H);
  state.heads = new Set(heads.length ? heads : [...Array(H).keys()]);
  if (!state.heads.has(state.focus)) state.focus = Math.min(...state.heads);
  state.hover = state.pinned = null;
  drawHeadButtons();
  drawAll();
}

function drawHeadButtons() {
  const m = state.kinds[state.kind];
  const box = $("heads");
  clear(box);
  const H = m.layers[state.layer].length;
  if (m.additive) { box.appendChild(el("span", { class: "muted" }, "one map (RNNsearch)")); return; }
  box.appendChild(el("span", { class: "muted" }, "Heads"));
  for (let h = 0; h < H; h++) {
    const b = el("button", { type: "button", "data-head": h, "aria-pressed": String(state.heads.has(h)), title: `head ${h}: click to show or hide` }, String(h));
    b.style.setProperty("--hc", headColour(h));
    if (h === state.focus) b.classList.add("focus");
    b.addEventListener("click", () => toggleHead(h));
    box.appendChild(b);
  }
}

function toggleHead(h) {
  if (state.heads.has(h)) {
    if (state.heads.size === 1) return; // keep one
    state.heads.delete(h);
    if (state.focus === h) state.focus = Math.min(...state.heads);
  } else {
    state.heads.add(h);
    state.focus = h;
  }
  drawHeadButtons();
  drawAll();
}

function drawAll() {
  drawHeadView();
  drawHeatMap();
  drawModelView();
  applyHover();
}

// ---------- head view ----------

const ROW = 22, FONT_SIZE = 13;

function drawHeadView() {
  const m = state.kinds[state.kind], svg = $("headview");
  clear(svg);
  const L = m.layers[state.layer];
  const left = m.rows, right = m.cols;
  const title = state.kind === "enc-self" ? ["query (source)", "key (source)"] : ["output step (query)", state.kind === "dec-self" ? "earlier output (key)" : "source (key)"];
  const lw = Math.max(textWidth(title[0], 11) - 40, ...left.map((t) => textWidth(shorten(t, 18), FONT_SIZE)));
  const rw = Math.max(textWidth(title[1], 11), ...right.map((t) => textWidth(shorten(t, 18), FONT_SIZE)));
  const gap = 160, top = 34;
  const W = lw + gap + rw + 16, H = top + Math.max(left.length, right.length) * ROW + 8;
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.appendChild(svgEl("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }));
  svg.appendChild(svgEl("text", { x: Math.max(8 + lw, textWidth(title[0], 11)), y: 16, "text-anchor": "end", "font-family": FONT, "font-size": 11, fill: "#5b6470" }, title[0]));
  svg.appendChild(svgEl("text", { x: 8 + lw + gap, y: 16, "font-family": FONT, "font-size": 11, fill: "#5b6470" }, title[1]));
  const yOf = (i) => top + i * ROW + ROW / 2;
  const x0 = 8 + lw + 4, x1 = 8 + lw + gap - 4;
  const lines = svgEl("g", { class: "lines" });
  for (const h of [...state.heads].sort((a, b) => a - b)) {
    const rows = L[h];
    if (!rows) continue;
    rows.forEach((row, i) => row.forEach((w, j) => {
      if (w < 0.005) return;
      lines.appendChild(svgEl("line", {
        class: "ln", "data-i": i, "data-j": j, "data-h": h, x1: x0, y1: yOf(i), x2: x1, y2: yOf(j),
        stroke: headColour(h), "stroke-width": 2, "stroke-opacity": w.toFixed(3),
      }));
    }));
  }
  svg.appendChild(lines);
  const token = (side, i, t, x, anchor) => {
    const g = svgEl("g", { class: "tok " + side, "data-i": i, tabindex: side === "q" ? 0 : -1 });
    const w = textWidth(shorten(t, 18), FONT_SIZE);
    g.appendChild(svgEl("rect", { class: "bg", x: anchor === "end" ? x - w : x - 2, y: yOf(i) - ROW / 2 + 2, width: w + 2, height: ROW - 4, rx: 3, fill: "#ffffff" }));
    const tx = svgEl("text", { x, y: yOf(i) + 4, "text-anchor": anchor, "font-family": MONO, "font-size": FONT_SIZE, fill: "#1b1f24" }, shorten(t, 18));
    if (t.length > 18) tx.appendChild(svgEl("title", {}, t));
    g.appendChild(tx);
    return g;
  };
  left.forEach((t, i) => svg.appendChild(token("q", i, t, 8 + lw, "end")));
  right.forEach((t, j) => svg.appendChild(token("k", j, t, 8 + lw + gap, "start")));
}

// ---------- heat map ----------

function drawHeatMap() {
  const m = state.kinds[state.kind], svg = $("heatmap");
  clear(svg);
  const h = m.additive ? 0 : state.focus;
  const rows = m.layers[state.layer][h];
  const R = m.rows, C = m.cols;
  const cell = Math.max(12, Math.min(30, Math.floor(520 / Math.max(R.length, C.length, 1))));
  const fs = Math.min(13, cell - 1);
  const lw = Math.max(...R.map((t) => textWidth(shorten(t, 14), fs)), 20) + 6;
  const colW = Math.max(...C.map((t) => textWidth(shorten(t, 14), fs)), 0);
  const upright = colW <= cell + 2; // short labels stand upright, long ones turn
  const th = upright ? fs + 8 : Math.max(colW, 20) + 6;
  const top = 36 + th, left = lw + 4;
  const name = m.additive ? "additive attention" : `${KIND_NAMES[state.kind].toLowerCase()}, layer ${state.layer}, head ${h}`;
  const copy = m.copy && m.names[m.additive ? 0 : state.layer] === m.copyModule ? m.copy : null;
  const stripW = copy ? cell + textWidth("0.00", fs) + 14 : 0;
  const W = Math.max(left + C.length * cell + stripW + 60, textWidth(name, 12) + 8), H = top + R.length * cell + 10;
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.appendChild(svgEl("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }));
  $("heatmap-title").textContent = "Heat map: " + name;
  svg.appendChild(svgEl("text", { x: 4, y: 14, "font-family": FONT, "font-size": 12, fill: "#1b1f24" }, name));
  svg.appendChild(svgEl("text", { x: 4, y: 29, "font-family": FONT, "font-size": 11, fill: "#5b6470" }, "rows: queries · columns: keys"));
  const cells = svgEl("g", { class: "cells", "data-head": h, "data-layer": state.layer, "data-kind": state.kind });
  rows.forEach((row, i) => row.forEach((w, j) => {
    if (w === undefined || w === null) return; // masked: blank
    const r = svgEl("rect", { class: "cell", "data-i": i, "data-j": j, "data-w": w, x: left + j * cell, y: top + i * cell, width: cell, height: cell, fill: weightColour(w) });
    r.appendChild(svgEl("title", {}, `${R[i]} → ${C[j]}: ${fmt(w)}`));
    cells.appendChild(r);
  }));
  svg.appendChild(cells);
  svg.appendChild(svgEl("rect", { x: left, y: top, width: C.length * cell, height: R.length * cell, fill: "none", stroke: "#c0c6ce", "stroke-width": 1 }));
  R.forEach((t, i) => svg.appendChild(svgEl("text", { class: "rl", "data-i": i, x: left - 4, y: top + i * cell + cell / 2 + fs / 3, "text-anchor": "end", "font-family": MONO, "font-size": fs, fill: "#1b1f24" }, shorten(t, 14))));
  C.forEach((t, j) => {
    if (upright) {
      svg.appendChild(svgEl("text", { class: "cl", "data-j": j, x: left + j * cell + cell / 2, y: top - 5, "text-anchor": "middle", "font-family": MONO, "font-size": fs, fill: "#1b1f24" }, shorten(t, 14)));
      return;
    }
    const x = left + j * cell + cell / 2 + fs / 3, y = top - 4;
    svg.appendChild(svgEl("text", { class: "cl", "data-j": j, x, y, transform: `rotate(-90 ${x} ${y})`, "font-family": MONO, "font-size": fs, fill: "#1b1f24" }, shorten(t, 14)));
  });
  if (copy) { // P(copy) = 1 − p_gen of each output token, in a strip on the right
    const sx = left + C.length * cell + 8;
    svg.appendChild(svgEl("text", { x: sx, y: top - 5, "font-family": FONT, "font-size": 10, fill: "#5b6470" }, "P(copy)"));
    copy.forEach((p, i) => {
      const r = svgEl("rect", { class: "copy", "data-i": i, "data-p": p, x: sx, y: top + i * cell, width: cell, height: cell, fill: weightColour(p) });
      r.appendChild(svgEl("title", {}, `${R[i]}: copied with probability ${fmt(p)}`));
      svg.appendChild(r);
      svg.appendChild(svgEl("text", { x: sx + cell + 3, y: top + i * cell + cell / 2 + fs / 3, "font-family": MONO, "font-size": Math.min(fs, 11), fill: "#1b1f24" }, p.toFixed(2)));
    });
  }
  // A legend: 0 to 1.
  const lx = left + C.length * cell + stripW + 16;
  for (let k = 0; k <= 10; k++) svg.appendChild(svgEl("rect", { x: lx, y: top + (10 - k) * 8, width: 12, height: 8, fill: weightColour(k / 10) }));
  svg.appendChild(svgEl("text", { x: lx + 16, y: top + 8, "font-family": FONT, "font-size": 10, fill: "#5b6470" }, "1"));
  svg.appendChild(svgEl("text", { x: lx + 16, y: top + 88, "font-family": FONT, "font-size": 10, fill: "#5b6470" }, "0"));
  svg.appendChild(svgEl("rect", { class: "hlbox", x: 0, y: 0, width: 0, height: 0, fill: "none", stroke: "#d4a514", "stroke-width": 3, visibility: "hidden" }));
  svg.dataset.left = left; svg.dataset.top = top; svg.dataset.cell = cell;
}

// ---------- model view ----------

function drawModelView() {
  const m = state.kinds[state.kind], svg = $("modelview");
  clear(svg);
  const L = m.layers.length, H = m.layers[0].length;
  const R = m.rows.length, C = m.cols.length;
  const size = 96, c = Math.max(1, Math.min(size / Math.max(R, C, 1), 8));
  const tw = C * c, thh = R * c, padX = 48, padY = 24, gap = 14;
  const W = padX + H * (tw + gap), Ht = padY + L * (thh + gap + 4);
  svg.setAttribute("width", W); svg.setAttribute("height", Ht);
  svg.setAttribute("viewBox", `0 0 ${W} ${Ht}`);
  svg.appendChild(svgEl("rect", { x: 0, y: 0, width: W, height: Ht, fill: "#ffffff" }));
  for (let h = 0; h < H; h++) svg.appendChild(svgEl("text", { x: padX + h * (tw + gap) + tw / 2, y: 15, "text-anchor": "middle", "font-family": FONT, "font-size": 11, fill: headColour(h) }, m.additive ? "additive" : `head ${h}`));
  for (let l = 0; l < L; l++) {
    const y0 = padY + l * (thh + gap + 4);
    svg.appendChild(svgEl("text", { x: 4, y: y0 + thh / 2 + 4, "font-family": FONT, "font-size": 11, fill: "#5b6470" }, `layer ${l}`));
    for (let h = 0; h < H; h++) {
      const x0 = padX + h * (tw + gap);
      const g = svgEl("g", { class: "thumb", "data-layer": l, "data-head": h });
      g.appendChild(svgEl("rect", { x: x0 - 2, y: y0 - 2, width: tw + 4, height: thh + 4, fill: "#ffffff", stroke: l === state.layer && h === state.focus ? "#1b1f24" : "#d9dee5", "stroke-width": l === state.layer && h === state.focus ? 2 : 1 }));
      m.layers[l][h].forEach((row, i) => row.forEach((w, j) => {
        if (w === undefined || w === null || w < 0.02) return;
        g.appendChild(svgEl("rect", { x: x0 + j * c, y: y0 + i * c, width: c, height: c, fill: weightColour(w) }));
      }));
      g.appendChild(svgEl("title", {}, `layer ${l}, head ${h}: click to open`));
      g.addEventListener("click", () => openThumb(l, h));
      svg.appendChild(g);
    }
  }
}

function openThumb(l, h) {
  state.layer = l;
  $("layer").value = String(l);
  state.heads = new Set([h]);
  state.focus = h;
  drawHeadButtons();
  drawAll();
  $("headview-card").scrollIntoView({ block: "nearest" });
}

// ---------- hover and highlight ----------

function setHover(h) { state.hover = h; applyHover(); }

function applyHover() {
  const h = state.hover || state.pinned;
  const hv = $("headview");
  for (const ln of hv.querySelectorAll(".ln")) {
    const on = !h || (h.side === "q" ? ln.dataset.i === String(h.i) : ln.dataset.j === String(h.i));
    ln.setAttribute("visibility", on ? "visible" : "hidden");
  }
  // The hovered token, and the tokens at the other end in proportion to their weight.
  const m = state.kinds[state.kind];
  const w = {}; // "q3" → weight summed over the shown heads
  if (h && m) {
    for (const hd of state.heads) {
      const rows = m.layers[state.layer][hd];
      if (!rows) continue;
      rows.forEach((row, i) => row.forEach((x, j) => {
        if (x === undefined) return;
        if (h.side === "q" && i === h.i) w["k" + j] = Math.max(w["k" + j] || 0, x);
        if (h.side === "k" && j === h.i) w["q" + i] = Math.max(w["q" + i] || 0, x);
      }));
    }
  }
  for (const g of hv.querySelectorAll(".tok")) {
    const side = g.classList.contains("q") ? "q" : "k";
    const self = h && h.side === side && g.dataset.i === String(h.i);
    g.classList.toggle("hl", !!self);
    const bg = g.querySelector(".bg");
    const x = w[side + g.dataset.i];
    bg.setAttribute("fill", self ? "#ffe08a" : x ? `rgba(255, 190, 40, ${Math.min(0.8, x).toFixed(2)})` : "#ffffff");
  }
  // Heat map: a box round the row or the column.
  const hm = $("heatmap"), box = hm.querySelector(".hlbox");
  if (box && m) {
    const left = +hm.dataset.left, top = +hm.dataset.top, cell = +hm.dataset.cell;
    if (h) {
      const across = h.side === "q";
      box.setAttribute("x", across ? left : left + h.i * cell);
      box.setAttribute("y", across ? top + h.i * cell : top);
      box.setAttribute("width", across ? m.cols.length * cell : cell);
      box.setAttribute("height", across ? cell : m.rows.length * cell);
      box.setAttribute("visibility", "visible");
    } else box.setAttribute("visibility", "hidden");
    for (const t of hm.querySelectorAll(".rl")) t.setAttribute("font-weight", h && h.side === "q" && t.dataset.i === String(h.i) ? "bold" : "normal");
    for (const t of hm.querySelectorAll(".cl")) t.setAttribute("font-weight", h && h.side === "k" && t.dataset.j === String(h.i) ? "bold" : "normal");
  }
  // The chips of the output section.
  for (const c of document.querySelectorAll(".chip")) {
    let on = false;
    if (h && m) {
      const srcIsKey = state.kind !== "dec-self";
      if (c.dataset.side === "out") on = h.side === "q" && state.kind !== "enc-self" && c.dataset.i === String(h.i);
      else on = state.kind === "enc-self" ? c.dataset.i === String(h.i) : h.side === "k" && srcIsKey && c.dataset.i === String(h.i);
    }
    c.classList.toggle("hl", on);
  }
}

// tokenAt returns the hover target an event points at, or null.
function tokenAt(target) {
  const t = target.closest && target.closest(".tok, .rl, .cl, .cell, .chip");
  if (!t) return null;
  if (t.classList.contains("tok")) return { side: t.classList.contains("q") ? "q" : "k", i: +t.dataset.i };
  if (t.classList.contains("rl")) return { side: "q", i: +t.dataset.i };
  if (t.classList.contains("cl")) return { side: "k", i: +t.dataset.j };
  if (t.classList.contains("cell")) return { side: "q", i: +t.dataset.i };
  if (t.classList.contains("chip")) {
    if (state.kind === "enc-self") return t.dataset.side === "src" ? { side: "q", i: +t.dataset.i } : null;
    if (t.dataset.side === "out") return { side: "q", i: +t.dataset.i };
    return state.kind === "cross" ? { side: "k", i: +t.dataset.i } : null;
  }
  return null;
}

function wireHover() {
  for (const id of ["headview", "heatmap", "result"]) {
    const node = $(id);
    node.addEventListener("mouseover", (ev) => { const t = tokenAt(ev.target); if (t) setHover(t); });
    node.addEventListener("mouseleave", () => setHover(null));
    node.addEventListener("click", (ev) => {
      const t = tokenAt(ev.target);
      if (!t) return;
      state.pinned = t;
      applyHover();
      if (t.side === "q" && ev.target.closest("#headview, #heatmap")) openQKV(t.i);
    });
    node.addEventListener("keydown", (ev) => {
      if (ev.key !== "Enter") return;
      const t = tokenAt(ev.target);
      if (t && t.side === "q") openQKV(t.i);
    });
  }
}

// ---------- Q·K·V walk-through ----------

async function openQKV(i) {
  const m = state.kinds[state.kind];
  const panel = $("qkv");
  panel.hidden = false;
  clear($("qkv-text"));
  $("qkv-card").hidden = true;
  if (!state.model || state.model.arch !== "transformer") {
    $("qkv-title").textContent = "Q·K·V walk-through";
    $("qkv-status").textContent = "";
    $("qkv-text").appendChild(el("p", { class: "note" }, "RNNsearch's attention is additive: a small network scores each source token from the decoder's state, with no queries, keys or values to show. The heat map shows its weights."));
    panel.scrollIntoView({ block: "nearest" });
    return;
  }
  const req = { model: state.model.name, input: state.input, kind: state.kind, layer: state.layer, head: state.focus, query_token: i };
  if (state.kind !== "enc-self") req.target_tokens = state.output.tokens;
  $("qkv-title").textContent = `Q·K·V walk-through: “${m.rows[i]}”, ${KIND_NAMES[state.kind].toLowerCase()}, layer ${state.layer}, head ${state.focus}`;
  $("qkv-status").textContent = "Computing from the model's weights…";
  panel.scrollIntoView({ block: "nearest" });
  try {
    const w = await api("/v1/explain", req);
    $("qkv-status").textContent = "";
    showWalk(w);
  } catch (e) {
    $("qkv-status").textContent = "";
    $("qkv-text").appendChild(el("p", { class: "error" }, "The walk-through failed: " + e.message));
  }
}

function showWalk(w) {
  const box = $("qkv-text");
  clear(box);
  const p = (text, cls) => { const e = el("p", cls ? { class: cls } : {}, text); box.appendChild(e); return e; };
  const q = w.query;
  if (w.kind === "enc-self") p(`The query is source token ${q.index}, “${q.token}”. ${w.keys_are}.`);
  else p(`The query is decoder step ${q.index}: it reads “${q.reads}” and writes “${q.token}”. Its keys are ${w.keys_are}.`);
  const roles = el("div", { class: "roles" });
  const role = (sym, text) => { roles.appendChild(el("b", {}, sym)); roles.appendChild(el("span", {}, text)); };
  role("q", `${w.roles[0]}: q = x·W_Q + b_Q, ${w.d_k} numbers.`);
  role("k_j", `${w.roles[1]}: k_j = x_j·W_K + b_K.`);
  role("v_j", `${w.roles[2]}: v_j = x_j·W_V + b_V.`);
  role("score", `how well the key answers the question: q·k_j/√d_k (1/√${w.d_k} = ${fmt(w.scale, 4)}).`);
  role("weight", "the softmax of the scores: they sum to 1.");
  role("Σ w_j v_j", "what the head hands on: the values mixed by the weights; W_O turns it into the head's share of the output.");
  box.appendChild(roles);
  p(`x is ${w.input_is}.`, "muted");
  if (w.masked) p(w.masked + ".", "muted");
  const sum = w.keys.reduce((s, k) => s + k.weight, 0);
  let maxDiff = 0;
  w.keys.forEach((k, j) => { maxDiff = Math.max(maxDiff, Math.abs(k.weight - w.forward_weights[j])); });
  const top = w.keys.slice().sort((a, b) => b.weight - a.weight)[0];
  p(`Top key: “${top.token}” (position ${top.index}) with weight ${fmt(top.weight)}. The weights sum to ${fmt(sum, 4)}; the model's own forward pass computed the same weights (largest difference ${maxDiff.toExponential(1)}).`,
    maxDiff < 1e-4 ? "check" : "bad");
  drawWalk(w);
  $("qkv-card").hidden = false;
}

// drawWalk draws the walk-through as an SVG: the query's x and q, then the
// keys by weight, each with its k_j, score, weight and v_j, then the
// weighted sum and the head's share of the output. Vectors are colour
// strips: blue negative, red positive, one cell a dimension.
function drawWalk(w) {
  const svg = $("qkvsvg");
  clear(svg);
  const keys = w.keys.slice().sort((a, b) => b.weight - a.weight);
  const maxAbs = (vs) => Math.max(1e-9, ...vs.flat().map(Math.abs));
  const mk = maxAbs([w.q, ...keys.map((k) => k.k)]), mv = maxAbs([w.context, ...keys.map((k) => k.v)]);
  const mx = maxAbs([w.x]), mo = maxAbs([w.out_share]);
  const dk = w.d_k, cw = Math.max(2, Math.min(8, Math.floor(160 / dk))), sw = dk * cw;
  const xw = Math.min(320, Math.max(dk * cw, w.d_model * Math.max(1, Math.min(4, Math.floor(320 / w.d_model)))));
  const tokW = Math.max(60, ...keys.map((k) => textWidth(shorten(k.token, 14), 12) + textWidth("#" + k.index, 10)));
  const colTok = 8, colK = colTok + tokW + 8, colScore = colK + sw + 12, colW = colScore + 64, colV = colW + 150;
  const W = Math.max(colV + sw + 12, 260 + xw + 12), rowH = 20;
  let y = 8;
  const items = [];
  const text = (x, yy, s, attrs) => items.push(svgEl("text", Object.assign({ x, y: yy, "font-family": FONT, "font-size": 12, fill: "#1b1f24" }, attrs || {}), s));
  const strip = (x, yy, v, m, width, cls, label) => {
    const g = svgEl("g", { class: "strip " + cls });
    const c = width / v.length;
    v.forEach((a, d) => g.appendChild(svgEl("rect", { x: x + d * c, y: yy, width: c + 0.01, height: 14, fill: signedColour(a, m) })));
    g.appendChild(svgEl("rect", { x, y: yy, width, height: 14, fill: "none", stroke: "#c0c6ce", "stroke-width": 0.5 }));
    g.appendChild(svgEl("title", {}, `${label}: ${v.slice(0, 8).map((a) => fmt(a)).join(", ")}${v.length > 8 ? ", …" : ""} (${v.length} numbers)`));
    items.push(g);
  };
  y += 14;
  text(8, y, "x", { "font-weight": "bold" }); text(30, y, "the query token's input", { fill: "#5b6470", "font-size": 11 });
  strip(260, y - 11, w.x, mx, xw, "x", "x");
  y += rowH;
  text(8, y, "q", { "font-weight": "bold" }); text(30, y, "the question it asks", { fill: "#5b6470", "font-size": 11 });
  strip(260, y - 11, w.q, mk, sw, "q", "q");
  y += rowH + 10;
  text(colTok, y, "key token", { fill: "#5b6470", "font-size": 11 });
  text(colK, y, "k_j: its name tag", { fill: "#5b6470", "font-size": 11 });
  text(colScore, y, "q·k/√d_k", { fill: "#5b6470", "font-size": 11 });
  text(colW, y, "weight", { fill: "#5b6470", "font-size": 11 });
  text(colV, y, "v_j: what it hands over", { fill: "#5b6470", "font-size": 11 });
  y += 6;
  for (const k of keys) {
    y += rowH;
    const g = svgEl("g", { class: "key", "data-index": k.index, "data-weight": k.weight, "data-score": k.score });
    items.push(g);
    const label = svgEl("text", { x: colTok, y, "font-family": MONO, "font-size": 12, fill: "#1b1f24" }, shorten(k.token, 14));
    label.appendChild(svgEl("tspan", { fill: "#8a929c", "font-size": 10, dx: 4 }, "#" + k.index));
    g.appendChild(label);
    strip(colK, y - 11, k.k, mk, sw, "k", `k_${k.index}`);
    g.appendChild(svgEl("text", { x: colScore, y, "font-family": MONO, "font-size": 12, fill: "#1b1f24" }, fmt(k.score, 2)));
    g.appendChild(svgEl("rect", { x: colW, y: y - 11, width: 100, height: 14, fill: "#eef1f5" }));
    g.appendChild(svgEl("rect", { x: colW, y: y - 11, width: Math.max(0.5, 100 * k.weight), height: 14, fill: headColour(w.head) }));
    g.appendChild(svgEl("text", { x: colW + 104, y, "font-family": MONO, "font-size": 12, fill: "#1b1f24" }, fmt(k.weight)));
    strip(colV, y - 11, k.v, mv, sw, "v", `v_${k.index}`);
  }
  y += rowH + 10;
  text(8, y, "Σ w_j v_j", { "font-weight": "bold" }); text(80, y, "what the head hands on", { fill: "#5b6470", "font-size": 11 });
  strip(colV, y - 11, w.context, mv, sw, "context", "Σ w_j v_j");
  y += rowH;
  text(8, y, "·W_O", { "font-weight": "bold" }); text(80, y, "the head's share of the output", { fill: "#5b6470", "font-size": 11 });
  strip(260, y - 11, w.out_share, mo, xw, "out", "head's share");
  y += 14;
  const H = y;
  svg.setAttribute("width", W); svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.appendChild(svgEl("rect", { x: 0, y: 0, width: W, height: H, fill: "#ffffff" }));
  for (const it of items) svg.appendChild(it);
}

// ---------- saving ----------

function viewName(view) {
  const safe = (s) => String(s).replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 40);
  const base = `qkv-${safe(state.model ? state.model.name : "model")}-${safe(state.input)}`;
  if (view === "qkvsvg") return `${base}-qkv-${state.kind}-L${state.layer}-H${state.focus}`;
  if (view === "modelview") return `${base}-${state.kind}-all-heads`;
  if (view === "heatmap") return `${base}-${state.kind}-L${state.layer}-H${state.focus}`;
  return `${base}-${state.kind}-L${state.layer}-heads${[...state.heads].sort((a, b) => a - b).join("_")}`;
}

// svgText is the SVG of the view, standalone.
function svgText(view) {
  const svg = $(view).cloneNode(true);
  svg.removeAttribute("id");
  svg.setAttribute("xmlns", SVGNS);
  svg.setAttribute("version", "1.1");
  return '<?xml version="1.0" encoding="UTF-8"?>\n' + new XMLSerializer().serializeToString(svg);
}

function download(name, blob) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  document.body.dataset.saved = name; // what was saved last (the browser test reads it)
}

function save(view, format) {
  const svg = $(view);
  if (!svg.firstChild) { showError("Nothing to save yet: translate an input first."); return; }
  const text = svgText(view);
  if (format === "svg") { download(viewName(view) + ".svg", new Blob([text], { type: "image/svg+xml" })); return; }
  const img = new Image();
  const W = +svg.getAttribute("width"), H = +svg.getAttribute("height"), scale = 2;
  img.onload = () => {
    const c = document.createElement("canvas");
    c.width = W * scale; c.height = H * scale;
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(img, 0, 0, c.width, c.height);
    c.toBlob((b) => {
      if (b) download(viewName(view) + ".png", b);
      else showError("The browser could not make a PNG of this view; save it as SVG.");
    }, "image/png");
  };
  img.onerror = () => showError("The browser could not draw this view as PNG; save it as SVG.");
  img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(text);
}

// ---------- start ----------

function start() {
  $("form").addEventListener("submit", translate);
  $("model").addEventListener("change", describeModel);
  $("layer").addEventListener("change", () => { state.layer = +$("layer").value; state.pinned = null; drawHeadButtons(); drawAll(); });
  $("qkv-close").addEventListener("click", () => { $("qkv").hidden = true; });
  for (const s of document.querySelectorAll(".saves")) {
    s.addEventListener("click", (ev) => {
      const b = ev.target.closest("button");
      if (b) save(s.dataset.view, b.dataset.fmt);
    });
  }
  wireHover();
  window.addEventListener("error", (ev) => showError("The page failed: " + ev.message + ". Reload it; the API goes on working."));
  window.addEventListener("unhandledrejection", (ev) => showError("The page failed: " + (ev.reason && ev.reason.message || ev.reason)));
  loadModels();
}

start();
