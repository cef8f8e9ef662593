// The graph, compact: every node that received a gradient this step, in the
// order the backward pass reaches it (loss at the top, C at the bottom), with
// the std of that gradient on a log axis. A node whose bar shrinks by orders
// of magnitude is where the signal dies; NaN and Inf are written on the bar.
import { ACT_COLOR, BAD, COLORS, MONO, PARAM_COLORS, baseLayout, emptyAnnotation, plotConfig } from './plots.js';

/** order: backward order of node names (GraphPublic.backward_order). */
export function flowFigure(frame, order) {
  const names = [];
  const x = [];
  const colors = [];
  const text = []; // only for NaN / Inf: changing numbers on every bar would cost a text measurement each
  const custom = [];
  for (const name of order) {
    const g = frame && frame.nodes[name] ? frame.nodes[name].grad : null;
    if (!g) continue;
    const bad = g.nan + g.inf;
    if (!(g.std > 0) && !bad) continue; // the loss: one element, no spread
    names.push(`d${name}`);
    x.push(g.std > 0 ? g.std : null);
    colors.push(bad ? BAD : PARAM_COLORS[name] || ACT_COLOR);
    text.push(bad ? `NaN ${g.nan} · Inf ${g.inf}` : '');
    custom.push([g.numel, g.nan, g.inf, g.norm]);
  }
  const n = names.length;
  return {
    data: [{
      type: 'bar', orientation: 'h', y: names, x, marker: { color: colors }, text, textposition: 'outside',
      textfont: { family: MONO, size: 10, color: COLORS.muted }, cliponaxis: false, customdata: custom,
      hovertemplate: '%{y}: std %{x:.3g}<br>numel %{customdata[0]} · ‖·‖ %{customdata[3]:.3g}<br>NaN %{customdata[1]} · Inf %{customdata[2]}<extra></extra>',
    }],
    layout: baseLayout(false, {
      height: 400, // fixed: 13 fused or 27 atomic nodes, the layout does not jump
      margin: { l: 92, r: 16, t: 8, b: 36 },
      bargap: 0.25,
      xaxis: { type: 'log', title: { text: 'std of the gradient (log)', standoff: 4 }, gridcolor: COLORS.grid, exponentformat: 'power' },
      yaxis: { autorange: 'reversed', tickfont: { family: MONO, size: 11 }, type: 'category' },
      annotations: n ? [] : [emptyAnnotation('no gradients yet')],
    }),
    config: plotConfig('gradient-flow'),
  };
}
