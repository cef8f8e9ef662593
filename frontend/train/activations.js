// Activations of the tanh layer: the histogram of h with the saturated tails
// shaded, a batch x units map of where |h| > 0.97, and beside it 1 - h², the
// factor tanh's backward multiplies dh by: dark cells pass (almost) nothing.
import { h as el } from '../theme.js';
import { ACT_COLOR, COLORS, SAT_BAND, baseLayout, emptyAnnotation, fmt, histTrace, plotConfig, titleAnnotation } from './plots.js';

export const SATURATION = 0.97; // as model/diagnostics.py

// dark = the gradient is (nearly) stopped, in both maps
const SAT_SCALE = [[0, '#ffffff'], [1, '#1f2933']];
const PASS_SCALE = [[0, '#08306b'], [0.3, '#2171b5'], [0.65, '#9ecae1'], [1, '#f7fbff']];

/** From the full h (batch x units, row-major): the two maps and their statistics. */
export function tanhMaps(t) {
  if (!t || t.shape.length !== 2) return null;
  const [n, k] = t.shape;
  const sat = [];
  const pass = [];
  const colSat = new Int32Array(k);
  let satCount = 0;
  let passSum = 0;
  for (let i = 0; i < n; i += 1) {
    const s = new Float32Array(k);
    const p = new Float32Array(k);
    for (let j = 0; j < k; j += 1) {
      const v = t.data[i * k + j];
      const isSat = Math.abs(v) > SATURATION ? 1 : 0;
      s[j] = isSat;
      p[j] = 1 - v * v;
      satCount += isSat;
      colSat[j] += isSat;
      passSum += p[j];
    }
    sat.push(s);
    pass.push(p);
  }
  let dead = 0;
  for (let j = 0; j < k; j += 1) if (colSat[j] === n) dead += 1;
  return { n, k, sat, pass, share: satCount / (n * k), meanPass: passSum / (n * k), dead };
}

export function actFigure(frame, maps) {
  const hs = frame && frame.nodes.h ? frame.nodes.h.value : null;
  const data = [];
  const shapes = [];
  // a map's title only over its map: Plotly makes no axes for an empty one,
  // and its title would be printed over the first panel's
  const annotations = [
    titleAnnotation('histogram of h', 'x', 'y'),
    ...(maps ? [titleAnnotation(`|h| > ${SATURATION}  (dark = saturated)`, 'x2', 'y2'),
      titleAnnotation('1 − h²: share of dh that reaches hpreact', 'x3', 'y3')] : []),
  ];
  if (hs && hs.hist.counts.length) {
    data.push(histTrace(hs.hist, { color: ACT_COLOR, name: 'h' }));
    for (const [x0, x1] of [[-1.02, -SATURATION], [SATURATION, 1.02]]) {
      shapes.push({ type: 'rect', xref: 'x', yref: 'y domain', x0, x1, y0: 0, y1: 1, fillcolor: SAT_BAND, line: { width: 0 }, layer: 'below' });
    }
  } else {
    annotations.push({ ...emptyAnnotation('no batch yet'), xref: 'x domain', yref: 'y domain' });
  }
  if (maps) {
    const units = [...Array(maps.k).keys()];
    const rows = [...Array(maps.n).keys()];
    data.push({ type: 'heatmap', z: maps.sat, x: units, y: rows, xaxis: 'x2', yaxis: 'y2', zmin: 0, zmax: 1, colorscale: SAT_SCALE,
      showscale: false, hovertemplate: 'example %{y}, unit %{x}<br>%{z:.0f}<extra>saturated</extra>' });
    data.push({ type: 'heatmap', z: maps.pass, x: units, y: rows, xaxis: 'x3', yaxis: 'y3', zmin: 0, zmax: 1, colorscale: PASS_SCALE,
      colorbar: { thickness: 10, len: 0.9, x: 1.0, xpad: 4, tickvals: [0, 0.5, 1], tickfont: { size: 10 } },
      hovertemplate: 'example %{y}, unit %{x}<br>1 − h² = %{z:.3f}<extra></extra>' });
  }
  const mapAxis = { gridcolor: COLORS.grid, zeroline: false, showgrid: false };
  return {
    data,
    layout: baseLayout(false, {
      height: 330,
      margin: { l: 40, r: 40, t: 26, b: 40 },
      bargap: 0,
      shapes,
      annotations,
      xaxis: { domain: [0, 0.27], range: [-1.02, 1.02], title: { text: 'h', standoff: 2 }, gridcolor: COLORS.grid, zeroline: false },
      yaxis: { domain: [0, 0.92], title: { text: 'count', standoff: 2 }, gridcolor: COLORS.grid },
      xaxis2: { ...mapAxis, domain: [0.33, 0.63], anchor: 'y2', title: { text: 'hidden unit', standoff: 2 } },
      yaxis2: { ...mapAxis, domain: [0, 0.92], anchor: 'x2', autorange: 'reversed', title: { text: 'example', standoff: 2 } },
      xaxis3: { ...mapAxis, domain: [0.67, 0.96], anchor: 'y3', title: { text: 'hidden unit', standoff: 2 } },
      yaxis3: { ...mapAxis, domain: [0, 0.92], anchor: 'x3', autorange: 'reversed', showticklabels: false },
    }),
    config: plotConfig('activations'),
  };
}

export function actNotes(frame, maps) {
  if (!frame || !frame.tanh) return [];
  const t = frame.tanh;
  const out = [el('p', {},
    el('span', { class: 'stat', 'data-testid': 'act-saturated' }, `saturated ${(100 * t.saturated).toFixed(2)}%`),
    el('span', { class: 'stat' }, `mean ${fmt(t.mean, 3)}`),
    el('span', { class: 'stat' }, `std ${fmt(t.std, 3)}`),
    maps ? el('span', { class: 'stat' }, `mean 1 − h² ${fmt(maps.meanPass, 3)}`) : null,
    maps ? el('span', { class: maps.dead ? 'stat warn' : 'stat', 'data-testid': 'act-dead' }, `dead units ${maps.dead} of ${maps.k}`) : null)];
  out.push(el('p', {},
    'tanh’s backward is dhpreact = (1 − h²) · dh: where |h| is near 1 the factor is near 0 ',
    `(at |h| = ${SATURATION} it is ${(1 - SATURATION * SATURATION).toFixed(3)}), so a saturated cell passes almost none of its gradient back. `,
    `A unit that is dark for every example in the batch (a full column) passes at most ${(1 - SATURATION * SATURATION).toFixed(3)} of its gradient for each: it learns from this batch barely at all, nearly dead (the “dead units” count). `,
    'Some saturation is normal; a histogram piled up at ±1 is the sign of too large pre-activations.'));
  return out;
}
