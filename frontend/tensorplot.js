// Pure "tensor -> Plotly figure" functions: heatmaps for matrices, bars for
// vectors, one heatmap per context position for emb. Hover always names the
// indices, the number and, on character axes, the character.
import { cssGradient } from './fighead.js';
import { COLORS, DIVERGING, MONO, SEQUENTIAL, baseLayout, fmt } from './theme.js';

// Which axes of a node index the vocabulary (hover shows the character).
const CHAR_AXES = {
  C: [0], W2: [1], b2: [0], logits: [1], norm_logits: [1], counts: [1], probs: [1], logprobs: [1],
};
const PARAMS = new Set(['C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias']);

/** What each axis of a node means, for axis titles and hover. */
export function axesOf(name, shape, ctx) {
  const chars = CHAR_AXES[name] || [];
  return shape.map((size, k) => {
    if (chars.includes(k) && ctx.vocab && size === ctx.vocab.length) return { kind: 'char', title: 'character' };
    if (k === 0 && !PARAMS.has(name) && size === ctx.batch && size > 1) return { kind: 'batch', title: 'example' };
    if ((name === 'embcat' && k === 1) || (name === 'W1' && k === 0)) return { kind: 'embpos', title: 'context pos · emb dim' };
    if (name === 'emb' && k === 2) return { kind: 'index', title: 'emb dim' };
    if (size === ctx.hidden && name !== 'C') return { kind: 'index', title: 'hidden unit' };
    if (name === 'C' && k === 1) return { kind: 'index', title: 'emb dim' };
    return { kind: 'index', title: size === 1 ? '' : 'index' };
  });
}

/** "emm→a": the context and target of batch row i. */
export function exampleLabel(ctx, i) {
  if (!ctx.Xb || !ctx.Yb || !ctx.vocab) return '';
  const c = ctx.Xb[i].map((j) => ctx.vocab[j]).join('');
  return `${c}→${ctx.vocab[ctx.Yb[i]]}`;
}

function describe(ax, idx, ctx) {
  if (ax.kind === 'char') return `'${ctx.vocab[idx]}'`;
  if (ax.kind === 'batch') {
    const ex = exampleLabel(ctx, idx);
    return ex ? `example ${idx} (${ex})` : `example ${idx}`;
  }
  if (ax.kind === 'embpos' && ctx.embd) return `pos ${Math.floor(idx / ctx.embd)} · dim ${idx % ctx.embd}`;
  return '';
}

/**
 * Character ticks. `span` is the axis length in px: on a vertical axis each
 * label needs a line of text, on a horizontal one only a narrow letter.
 */
function tickFor(ax, size, ctx, span = 230, vertical = false) {
  if (ax.kind === 'char') {
    // 27 labels in a narrow panel: small and upright beats rotated; every k-th if still too tight
    const font = ctx.present ? 11 : 9;
    const need = vertical ? font + 2 : font * 0.75;
    const every = Math.max(1, Math.ceil((size * need) / span));
    const idx = [...Array(size).keys()].filter((i) => i % every === 0);
    return { tickvals: idx, ticktext: idx.map((i) => ctx.vocab[i]), tickangle: 0, tickfont: { family: MONO, size: font } };
  }
  return {};
}

const absMax = (rows) => {
  let m = 0;
  for (const r of rows) for (const v of r) if (Number.isFinite(v) && Math.abs(v) > m) m = Math.abs(v);
  return m || 1;
};

export function emptyFigure(text, present) {
  return {
    data: [],
    layout: baseLayout(present, {
      height: present ? 260 : 200,
      xaxis: { visible: false }, yaxis: { visible: false },
      annotations: [{ text, showarrow: false, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5,
        font: { size: present ? 17 : 13, color: COLORS.muted } }],
    }),
  };
}

/**
 * A figure for one tensor. opts: {name, label, shape, ctx, present,
 * sequential (magnitudes), zmax (shared colour range), height}.
 */
export function tensorFigure(values, opts) {
  const { shape, present } = opts;
  if (!shape.length) return emptyFigure(`${opts.label} = ${fmt(values, 6)}`, present);
  if (shape.length === 3) return stackFigure(values, opts);
  const nonUnit = shape.filter((s) => s !== 1).length;
  if (shape.length === 1 || nonUnit <= 1) return barFigure(values, opts);
  return heatFigure(values, opts);
}

function flat(values, shape) {
  if (shape.length === 1) return values;
  return values.map((r) => (Array.isArray(r) ? r : [r])).flat();
}

function barFigure(values, opts) {
  const { shape, ctx, name, label, present } = opts;
  const ys = flat(values, shape);
  const k = shape.length === 1 ? 0 : shape.findIndex((s) => s !== 1);
  const ax = axesOf(name, shape, ctx)[k < 0 ? 0 : k];
  const xs = ys.map((_, i) => i);
  const text = ys.map((v, i) => {
    const d = describe(ax, i, ctx);
    const idx = shape.length === 1 ? `[${i}]` : shape[0] === 1 ? `[0, ${i}]` : `[${i}, 0]`;
    return `${label}${idx} = ${fmt(v, 6)}${d ? `<br>${d}` : ''}`;
  });
  const seq = opts.sequential;
  return {
    head: { title: `${label} ${shapeStr(shape)}` },
    data: [{
      type: 'bar', x: xs, y: ys, text, hovertemplate: '%{text}<extra></extra>', textposition: 'none',
      marker: { color: seq ? COLORS.flow : ys.map((v) => (v < 0 ? COLORS.neg : COLORS.pos)) },
    }],
    layout: baseLayout(present, {
      height: (opts.height || (present ? 260 : 200)) - headPx(present),
      margin: { l: 56, r: 10, t: 6, b: 36 },
      bargap: 0.1,
      xaxis: { title: { text: ax.title }, ...tickFor(ax, ys.length, ctx), zeroline: false },
      yaxis: { zeroline: true, zerolinecolor: '#9aa5b1', exponentformat: 'e', gridcolor: COLORS.grid },
    }),
  };
}

const shapeStr = (s) => `(${s.join(', ')})`;
// the HTML header's height (fighead.js; style.css .fig-head): a figure with one keeps its height
// (the parts figure grows by it: its panels' titles need their room as before)
const headPx = (present) => (present ? 26 : 22);

/**
 * A heatmap's hover: the cell's indices and number, and what its row and
 * column stand for ("example 5 (emm→a)", "'a'", "hidden unit 17"). Plotly
 * puts the number in (%{z}); each row has one [index, words] pair that all
 * its cells point at (customdata), each column one (text), so no string is
 * built per cell: a sentence per cell cost ~300 ms a figure at batch 256 x
 * 200 hidden. (The indices come from the pairs, not %{x}/%{y}: on a character
 * axis those print the tick's letter.)
 */
function heatHover(rows, cols, axes, ctx, label) {
  const pairs = (ax, n) => [...Array(n).keys()].map((i) => [i, describe(ax, i, ctx) || (ax.title ? `${ax.title} ${i}` : '')]);
  const rowInfo = pairs(axes[0], rows);
  const colInfo = pairs(axes[1], cols);
  const line = (info, ref) => (info.some((p) => p[1]) ? `<br>%{${ref}[1]}` : '');
  return {
    hovertemplate: `${label}[%{customdata[0]}, %{text[0]}] = %{z:.6~g}${line(rowInfo, 'customdata')}`
      + `${line(colInfo, 'text')}<extra></extra>`,
    customdata: rowInfo.map((p) => new Array(cols).fill(p)),
    text: new Array(rows).fill(colInfo),
  };
}

/**
 * The colour key of heatmaps on the range [-m, m] (or [0, m] for magnitudes),
 * for the figure's HTML header: the scale's ends (the largest |value|) and its
 * middle are what a reader of the colours needs.
 */
function keyOf(m, sequential) {
  const lo = sequential ? 0 : -m;
  return { gradient: cssGradient(sequential ? SEQUENTIAL : DIVERGING), labels: [lo, (lo + m) / 2, m].map((v) => fmt(v, 3)) };
}

function heatTrace(z, axes, opts, extra = {}) {
  const { ctx, label } = opts;
  const hover = heatHover(z.length, z[0] ? z[0].length : 0, axes, ctx, label);
  const m = opts.zmax || absMax(z);
  return {
    type: 'heatmap', z, ...hover,
    colorscale: opts.sequential ? SEQUENTIAL : DIVERGING,
    zmin: opts.sequential ? 0 : -m, zmax: m,
    showscale: false, // the key is in the figure's header (fighead.js)
    xgap: 0, ygap: 0,
    ...extra,
  };
}

function heatFigure(values, opts) {
  const { shape, ctx, name, label, present } = opts;
  const axes = axesOf(name, shape, ctx);
  const height = (opts.height || (present ? 320 : 250)) - headPx(present);
  const m = opts.zmax || absMax(values); // once: a scan of every cell (51,200 at the largest size)
  return {
    head: { title: `${label} ${shapeStr(shape)}`, key: keyOf(m, opts.sequential) },
    data: [heatTrace(values, axes, { ...opts, zmax: m })],
    layout: baseLayout(present, {
      height,
      margin: { l: 44, r: 6, t: 6, b: 40 },
      xaxis: { title: { text: axes[1].title, standoff: 4 }, ...tickFor(axes[1], shape[1], ctx), ticks: '', showgrid: false },
      yaxis: { title: { text: axes[0].title, standoff: 2 }, autorange: 'reversed', ...tickFor(axes[0], shape[0], ctx, height - 46, true), ticks: '', showgrid: false },
    }),
  };
}

/** emb (n, block, embd): one heatmap (n x embd) per context position. */
function stackFigure(values, opts) {
  const { shape, present, label } = opts;
  const [, block] = shape;
  const m = opts.zmax || absMax(values.map((r) => r.flat()));
  const data = [];
  const layout = baseLayout(present, {
    height: (opts.height || (present ? 320 : 250)) - headPx(present),
    margin: { l: 44, r: 6, t: 6, b: 40 },
  });
  const gap = 0.04;
  const w = (1 - gap * (block - 1)) / block;
  for (let p = 0; p < block; p += 1) {
    const z = values.map((row) => row[p]);
    const sfx = p === 0 ? '' : String(p + 1);
    const axes = [{ kind: 'batch', title: 'example' }, { kind: 'index', title: `pos ${p}` }];
    data.push(heatTrace(z, axes, { ...opts, zmax: m, label: `${label}[:, ${p}]` }, {
      xaxis: `x${sfx}`, yaxis: `y${sfx}`,
    }));
    layout[`xaxis${sfx}`] = { domain: [p * (w + gap), p * (w + gap) + w], title: { text: axes[1].title, standoff: 4 }, ticks: '', showgrid: false, anchor: `y${sfx}` };
    layout[`yaxis${sfx}`] = { autorange: 'reversed', showticklabels: p === 0, ticks: '', showgrid: false, anchor: `x${sfx}` };
  }
  const head = { title: `${label} ${shapeStr(shape)}: one panel per context position (x: emb dim)`, key: keyOf(m, opts.sequential) };
  return { head, data, layout };
}

/**
 * Heatmaps on one shared colour range: the parts and their sum, side by
 * side, or with `stacked` one under the other at the full width (a phone:
 * three side by side left each ~90 px, and their titles ran into each other).
 */
export function sumFigure(parts, opts) {
  const { shape, present } = opts;
  const zs = parts.map((p) => p.values);
  const two = shape.length === 2 && shape.every((s) => s > 1);
  if (!two) return null;
  const m = Math.max(...zs.map(absMax));
  const data = [];
  const k = parts.length;
  const margin = opts.stacked ? { l: 40, r: 6, t: 4, b: 22 } : { l: 40, r: 6, t: 48, b: 30 };
  // stacked, in px: each part's title line, its heatmap, and the room for its column labels below
  const titlePx = present ? 24 : 20;
  const heatPx = present ? 190 : 140;
  const gapPx = present ? 30 : 26;
  const height = opts.stacked ? margin.t + margin.b + k * (titlePx + heatPx) + (k - 1) * gapPx
    : opts.height || (present ? 300 : 220);
  const layout = baseLayout(present, { height, margin, annotations: [] });
  const plotPx = height - margin.t - margin.b;
  const gap = 0.05;
  const w = (1 - gap * (k - 1)) / k;
  const axes = axesOf(opts.name, shape, opts.ctx);
  const titleFont = { family: MONO, size: present ? 13 : 11 };
  parts.forEach((p, i) => {
    const sfx = i === 0 ? '' : String(i + 1);
    data.push(heatTrace(p.values, axes, { ...opts, zmax: m, label: p.label }, { xaxis: `x${sfx}`, yaxis: `y${sfx}` }));
    const xTicks = { ...tickFor(axes[1], shape[1], opts.ctx), ticks: '', showgrid: false, anchor: `y${sfx}`, tickfont: { size: present ? 10 : 8, family: MONO } };
    if (opts.stacked) {
      const top = 1 - (i * (titlePx + heatPx + gapPx) + titlePx) / plotPx;
      layout[`xaxis${sfx}`] = { domain: [0, 1], ...xTicks };
      layout[`yaxis${sfx}`] = { domain: [top - heatPx / plotPx, top], autorange: 'reversed', ticks: '', showgrid: false, anchor: `x${sfx}` };
      // read top to bottom: part + part = sum
      const sign = i === 0 ? '' : `<b>${i === k - 1 ? '=' : '+'}</b> `;
      layout.annotations.push({ text: sign + p.title.replace('<br>', '   '), x: 0, xanchor: 'left', y: top, yanchor: 'bottom',
        xref: 'paper', yref: 'paper', showarrow: false, font: titleFont });
      return;
    }
    const x0 = i * (w + gap);
    layout[`xaxis${sfx}`] = { domain: [x0, x0 + w], ...xTicks };
    layout[`yaxis${sfx}`] = { autorange: 'reversed', showticklabels: i === 0, ticks: '', showgrid: false, anchor: `x${sfx}` };
    layout.annotations.push({ text: p.title, x: x0 + w / 2, y: 1.0, yanchor: 'bottom', xref: 'paper', yref: 'paper',
      showarrow: false, font: titleFont });
    if (i < k - 1) {
      layout.annotations.push({ text: i === k - 2 ? '=' : '+', x: x0 + w + gap / 2, y: 0.5, xref: 'paper', yref: 'paper',
        showarrow: false, font: { size: present ? 28 : 20, color: COLORS.ink } });
    }
  });
  return { head: { title: `d${opts.name}, part by part`, key: keyOf(m, false) }, data, layout };
}
