// A cheaper way to show the next figure of a live panel. Plotly.react redraws
// everything (axes, legend, annotations) even when only the numbers changed:
// ~25 ms of main thread per panel on the training page. When the new figure
// differs from the one on screen only in its numeric x / y / customdata,
// Plotly.animate with redraw:false moves just the traces: ~12 ms (measured
// in headless Chromium). It does not fit the axes to the data, so this does:
// an axis the figure leaves to autorange gets a range with some room to spare
// when the numbers leave it or shrink to a small part of it (~16 ms for that
// frame), and keeps it otherwise, so a growing step axis or a noisy variance
// does not rescale on every frame.

const DATA_KEYS = ['x', 'y', 'customdata'];
const MOVABLE = new Set(['scatter', 'bar']); // trace types Plotly can move without a redraw
const FILL = 0.5; // an axis the data fills less of than this is fitted again
const ROOM = 0.08; // share of the data's span added on each side of a fitted axis
const GROW = 0.25; // ... and on an edge the data went past

const isNumeric = (a) => {
  if (ArrayBuffer.isView(a)) return true;
  if (!Array.isArray(a)) return false;
  for (const v of a) {
    if (v === null || v === undefined) continue;
    return typeof v === 'number' || (Array.isArray(v) && typeof v[0] === 'number');
  }
  return true;
};

const keys = new WeakMap();
/** Everything of a figure but its numbers, as a string: equal keys = same look. */
export function structureOf(fig) {
  let k = keys.get(fig);
  if (k === undefined) {
    const traces = fig.data.map((t) => {
      const rest = {};
      for (const [name, v] of Object.entries(t)) if (!(DATA_KEYS.includes(name) && isNumeric(v))) rest[name] = v;
      return rest;
    });
    k = JSON.stringify([traces, fig.layout, fig.config || null]);
    keys.set(fig, k);
  }
  return k;
}

/** The trace updates Plotly.animate needs: the numeric arrays only. */
export function numbersOf(fig) {
  return fig.data.map((t) => {
    const out = {};
    for (const name of DATA_KEYS) if (name in t && isNumeric(t[name])) out[name] = t[name];
    return out;
  });
}

const axisName = (id, letter) => `${letter}axis${id && id.length > 1 ? id.slice(1) : ''}`;

/** [lo, hi] of the finite numbers of `values` on axis `ax` (log axes in log10), widened by `extra`. */
function extent(values, ax, extra) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    const u = ax.type === 'log' ? (v > 0 ? Math.log10(v) : NaN) : v;
    if (!Number.isFinite(u)) continue;
    if (u < lo) lo = u;
    if (u > hi) hi = u;
  }
  for (const u of extra) { lo = Math.min(lo, u); hi = Math.max(hi, u); }
  return [lo, hi];
}

/** Ranges (axis name -> [a, b]) that the axes of `el` need to show the
 * numbers of `fig`: {} when they already fit; null when this cannot move. */
function rangesFor(el, fig) {
  const full = el._fullLayout;
  const need = new Map(); // axis name -> [lo, hi, zero forced]
  for (const [i, t] of fig.data.entries()) {
    // as Plotly's autorange: traces hidden (b1 of the parameters, or by a legend click) do not count
    if (el._fullData[i] && el._fullData[i].visible !== true) continue;
    const bar = t.type === 'bar';
    const horizontal = t.orientation === 'h';
    for (const letter of ['x', 'y']) {
      const values = t[letter];
      if (!values || !isNumeric(values)) continue;
      const name = axisName(t[`${letter}axis`], letter);
      const ax = full[name];
      if (!ax || (ax.type !== 'linear' && ax.type !== 'log')) return null;
      const zero = ax.type === 'linear' && ((bar && (letter === 'x') === horizontal)
        || t.fill === `tozero${letter}` || (fig.layout[name] || {}).rangemode === 'tozero');
      const [lo, hi] = extent(values, ax, zero ? [0] : []);
      if (lo > hi) continue; // nothing finite: nothing to fit
      const had = need.get(name);
      need.set(name, had ? [Math.min(had[0], lo), Math.max(had[1], hi), had[2] || zero] : [lo, hi, zero]);
    }
  }
  // lines drawn at data coordinates (the loss curve's "uniform guess", the
  // -3 reference) stay in view, as Plotly's own autorange keeps them
  for (const sh of fig.layout.shapes || []) {
    for (const letter of ['x', 'y']) {
      const ref = sh[`${letter}ref`];
      if (!ref || ref === 'paper' || ref.endsWith('domain')) continue;
      const name = axisName(ref, letter);
      const ax = full[name];
      const had = need.get(name);
      if (!had || !ax) continue;
      const [lo, hi] = extent([sh[`${letter}0`], sh[`${letter}1`]], ax, []);
      if (lo <= hi) need.set(name, [Math.min(had[0], lo), Math.max(had[1], hi), had[2]]);
    }
  }
  const out = {};
  for (const [name, [lo, hi, zero]] of need) {
    const set = fig.layout[name] || {};
    if (set.range || set.autorange === false) continue; // the figure fixes it
    const ax = full[name];
    const reversed = ax.range[0] > ax.range[1];
    const [a, b] = reversed ? [ax.range[1], ax.range[0]] : ax.range;
    if (lo >= a && hi <= b && (hi - lo) >= FILL * (b - a)) continue;
    const room = Math.max(ROOM * (hi - lo), ax.type === 'log' ? 0.05 : Math.abs(hi) * 1e-3 || 1e-6);
    // an edge the numbers passed (a step axis as training goes on) gets more room
    const [below, above] = [lo < a ? GROW * room / ROOM : room, hi > b ? GROW * room / ROOM : room];
    const r = [zero && lo === 0 ? 0 : lo - below, zero && hi === 0 ? 0 : hi + above];
    out[name] = reversed ? [r[1], r[0]] : r;
  }
  return out;
}

/** How to show `next` on `el` after `shown` by moving traces: the argument
 * of Plotly.animate, or null when only Plotly.react will do. */
export function moveTo(el, shown, next) {
  if (!shown || !el._fullLayout || next.data.length !== shown.data.length) return null;
  if (!next.data.every((t) => MOVABLE.has(t.type || 'scatter'))) return null;
  if (structureOf(next) !== structureOf(shown)) return null;
  const ranges = rangesFor(el, next);
  if (!ranges) return null;
  const frame = { data: numbersOf(next), traces: next.data.map((_, i) => i) };
  if (Object.keys(ranges).length) frame.layout = Object.fromEntries(Object.entries(ranges).map(([k, r]) => [k, { range: r }]));
  return frame;
}

/** Benchmark switch: off, every figure goes through Plotly.react (the A/B of
 * `python -m benchmarks.dashboard_bench --compare-moves`). */
export const moving = { on: true };

export const MOVE = { transition: { duration: 0 }, frame: { duration: 0, redraw: false } };
