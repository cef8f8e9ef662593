// Gradient histograms as part 3 of the lecture draws them: densities laid
// over each other on one axis, so their widths compare at a glance. Left the
// activations' gradients (dlogits, dh, dhpreact: tanh's backward narrows dh
// into dhpreact), right every parameter's gradient. Histograms cover finite
// values only; NaN and Inf are counted in the legend and the table, never dropped.
import { h } from '../theme.js';
import { ACT_COLOR, BAD, COLORS, MONO, PARAM_COLORS, baseLayout, emptyAnnotation, fmt, plotConfig, titleAnnotation } from './plots.js';

export const ACT_GRADS = ['logits', 'h', 'hpreact'];
export const PARAM_GRADS = ['C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias'];
export const GRAD_NODES = [...ACT_GRADS, ...PARAM_GRADS];
// colour-blind-safe and apart from the parameters' colours
const ACT_COLORS = { logits: '#000000', h: ACT_COLOR, hpreact: '#009E73' };

/** Density (like torch.histogram(density=True)) as one step line per tensor. */
function densityTrace(name, g, axes, color) {
  const { counts, edges } = g.hist;
  let total = 0;
  for (const c of counts) total += c;
  const y = counts.map((c, i) => c / (total * (edges[i + 1] - edges[i]) || 1));
  y.push(y[y.length - 1]);
  const bad = g.nan + g.inf;
  return {
    type: 'scatter', mode: 'lines', x: edges, y, ...axes,
    // numbers that change every frame stay out of the figure (each new text is
    // measured again by Plotly): σ, NaN and Inf are in the table beside it
    name: bad ? `d${name} · NaN ${g.nan} · Inf ${g.inf}` : `d${name}`,
    line: { shape: 'hv', color: bad ? BAD : color, width: 1.6 },
    // b1's gradient is ~0 by construction (BatchNorm): its spike would flatten the rest
    visible: name === 'b1' ? 'legendonly' : true,
    // σ as numbers (customdata), not text: a new σ then only moves the trace (livefig.js)
    customdata: y.map(() => g.std),
    hovertemplate: `d${name} (σ %{customdata:.2g}): %{x:.3g}, density %{y:.3g}<extra></extra>`,
  };
}

export function gradFigure(frame) {
  const data = [];
  const annotations = [
    titleAnnotation('dlogits · dh · dhpreact (density)', 'x', 'y'),
    titleAnnotation('parameter gradients (density)', 'x2', 'y2'),
  ];
  const add = (names, axes, colors) => {
    for (const name of names) {
      const g = frame && frame.nodes[name] ? frame.nodes[name].grad : null;
      if (g && g.hist.counts.length) data.push(densityTrace(name, g, axes, colors[name]));
    }
  };
  add(ACT_GRADS, { xaxis: 'x', yaxis: 'y' }, ACT_COLORS);
  add(PARAM_GRADS, { xaxis: 'x2', yaxis: 'y2', legend: 'legend2' }, PARAM_COLORS);
  if (!data.length) annotations.push(emptyAnnotation('no gradients yet'));
  const axis = { gridcolor: COLORS.grid, zeroline: true, zerolinecolor: '#cbd2d9', exponentformat: 'e', nticks: 7 };
  return {
    data,
    layout: baseLayout(false, {
      height: 330,
      margin: { l: 46, r: 10, t: 26, b: 30 },
      showlegend: true,
      // one legend per panel, inside its top right corner
      legend: { x: 0.42, xanchor: 'right', y: 0.92, yanchor: 'top', bgcolor: 'rgba(255,255,255,0.8)', font: { family: MONO, size: 10 } },
      legend2: { x: 1, xanchor: 'right', y: 0.92, yanchor: 'top', bgcolor: 'rgba(255,255,255,0.8)', font: { family: MONO, size: 10 } },
      annotations,
      xaxis: { ...axis, domain: [0, 0.42], anchor: 'y' },
      yaxis: { ...axis, domain: [0, 0.92], anchor: 'x', rangemode: 'tozero' },
      xaxis2: { ...axis, domain: [0.5, 1], anchor: 'y2' },
      yaxis2: { ...axis, domain: [0, 0.92], anchor: 'x2', rangemode: 'tozero' },
    }),
    config: plotConfig('gradients'),
  };
}

/** Table: every gradient's size and its NaN / Inf counts (a row per node). */
export function gradTable(frame) {
  const head = h('tr', {}, ['gradient', 'numel', 'std', 'min', 'max', 'NaN', 'Inf'].map((t) => h('th', {}, t)));
  const rows = GRAD_NODES.map((name) => {
    const g = frame && frame.nodes[name] ? frame.nodes[name].grad : null;
    if (!g) return h('tr', {}, h('td', { class: 'mono' }, `d${name}`), h('td', { colspan: 6, class: 'muted' }, 'not computed'));
    return h('tr', { 'data-grad': name },
      h('td', { class: 'mono' }, `d${name}`),
      h('td', {}, g.numel.toLocaleString('en-US')),
      h('td', { 'data-testid': `std-${name}` }, fmt(g.std, 3)), h('td', {}, fmt(g.min, 3)), h('td', {}, fmt(g.max, 3)),
      h('td', { class: g.nan ? 'bad' : '', 'data-testid': `nan-${name}` }, String(g.nan)),
      h('td', { class: g.inf ? 'bad' : '', 'data-testid': `inf-${name}` }, String(g.inf)));
  });
  return [h('thead', {}, head), h('tbody', {}, rows)];
}
