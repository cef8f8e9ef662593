// Parameters: this step's grad:data ratio per parameter (how large the
// gradient is next to the values it will change), and over time log10 of
// update:data = std(lr·grad)/std(data), with the -3 reference line:
// far below it a parameter barely learns, far above it training is unstable.
import { h } from '../theme.js';
import { COLORS, MONO, PARAM_COLORS, baseLayout, emptyAnnotation, fmt, plotConfig, titleAnnotation } from './plots.js';
import { PARAMS } from './series.js';

export function paramsFigure(frame, series) {
  const ps = frame ? frame.params : null;
  const bars = PARAMS.map((k) => (ps && ps[k] ? ps[k].grad_data : null));
  const data = [{
    type: 'bar', orientation: 'h', y: PARAMS, x: bars.map((v) => (v > 0 ? v : null)), xaxis: 'x', yaxis: 'y',
    marker: { color: PARAMS.map((k) => PARAM_COLORS[k]) }, showlegend: false,
    customdata: PARAMS.map((k) => (ps && ps[k] ? [ps[k].grad_std, ps[k].data_std] : [null, null])),
    hovertemplate: '%{y}: grad:data %{x:.3g}<br>grad std %{customdata[0]:.3g} · data std %{customdata[1]:.3g}<extra></extra>',
  }];
  const r = series.thin(series.ratios, 500, 'ratios');
  for (const k of PARAMS) {
    data.push({
      type: 'scatter', mode: 'lines', x: r.steps, y: r.values.map((v) => (v && v[k] !== null && v[k] !== undefined ? v[k] : null)),
      name: k, xaxis: 'x2', yaxis: 'y2', line: { color: PARAM_COLORS[k], width: 1.6 }, connectgaps: true,
      // b1's gradient is ~0 (BatchNorm removes the mean right after it): ~-9 would squash the others
      visible: k === 'b1' ? 'legendonly' : true,
      hovertemplate: `${k} step %{x}: %{y:.2f}<extra></extra>`,
    });
  }
  const annotations = [
    titleAnnotation('grad : data (this step, log)', 'x', 'y'),
    titleAnnotation('log10 update : data over steps', 'x2', 'y2'),
    { text: '−3', xref: 'x2 domain', x: 1, xanchor: 'left', yref: 'y2', y: -3, showarrow: false, font: { size: 11, color: COLORS.muted } },
  ];
  if (!r.steps.length) annotations.push({ ...emptyAnnotation('recorded every 100 steps and with every frame'), xref: 'x2 domain', yref: 'y2 domain' });
  return {
    data,
    layout: baseLayout(false, {
      height: 320,
      margin: { l: 56, r: 24, t: 26, b: 40 },
      showlegend: true,
      legend: { x: 1.03, y: 1, font: { family: MONO, size: 11 } },
      shapes: [{ type: 'line', xref: 'x2 domain', x0: 0, x1: 1, yref: 'y2', y0: -3, y1: -3, line: { color: COLORS.ink, width: 1.2, dash: 'dash' } }],
      annotations,
      xaxis: { domain: [0, 0.3], type: 'log', gridcolor: COLORS.grid, exponentformat: 'power', anchor: 'y' },
      yaxis: { domain: [0, 0.92], autorange: 'reversed', tickfont: { family: MONO }, anchor: 'x' },
      xaxis2: { domain: [0.42, 0.92], title: { text: 'step', standoff: 4 }, gridcolor: COLORS.grid, zeroline: false, anchor: 'y2',
        ...(r.steps.length && r.steps[r.steps.length - 1] - r.steps[0] < 8 ? { dtick: 1 } : {}) },
      yaxis2: { domain: [0, 0.92], gridcolor: COLORS.grid, zeroline: false, anchor: 'x2' },
    }),
    config: plotConfig('parameters'),
  };
}

export function paramsNotes(frame) {
  const ps = frame && frame.params;
  const out = [];
  if (ps) {
    out.push(h('p', {}, ...PARAMS.map((k) => h('span', { class: 'stat', style: `border-left: 3px solid ${PARAM_COLORS[k]}` },
      `${k} ${ps[k] && ps[k].update_data_log10 !== null ? fmt(ps[k].update_data_log10, 3) : '–'}`))));
  }
  out.push(h('p', {}, 'Each step moves a parameter by lr · grad. Next to the parameter’s own spread that move should be small but not invisible: ',
    'about 1/1000 of it, −3 on the log scale, is the rule of thumb from part 3. Lines far below −3 learn slowly (raise lr); far above, the step overshoots. ',
    'b1 is hidden by default: BatchNorm subtracts each unit’s batch mean right after it, so b1 cannot change the loss and its gradient is ~0 ',
    '(click it in the legend to see). After the lr drop every line falls by exactly 1.'));
  return out;
}
