// Loss curve: log10 of every batch loss (faint), its trailing window mean
// (the lecture's smoothing), the val loss when it was evaluated, the steps
// where lr dropped, and the step on screen.
import { BAD, COLORS, VAL_COLOR, baseLayout, emptyAnnotation, fmt, plotConfig } from './plots.js';

/**
 * series: Series; viewStep: the update on screen (null = live);
 * vocabSize: for the "uniform guess" line at log10(ln V).
 */
export function lossFigure(series, viewStep, vocabSize) {
  const { x, raw, smooth, W } = series.lossCurve(800);
  const val = series.thin(series.val, 600);
  const data = [
    { type: 'scatter', mode: 'lines', x, y: raw, name: 'batch loss', line: { color: '#9aa5b1', width: 1 }, opacity: 0.55,
      hovertemplate: 'step %{x}<br>log10 loss %{y:.4f}<extra>batch</extra>' },
    { type: 'scatter', mode: 'lines', x, y: smooth, name: `mean of ${W} step${W > 1 ? 's' : ''}`, connectgaps: false,
      line: { color: COLORS.flow, width: 2.4 }, hovertemplate: 'step %{x}<br>mean %{y:.4f}<extra>smoothed</extra>' },
    { type: 'scatter', mode: 'lines+markers', x: val.steps, y: val.values.map(Math.log10), name: 'val loss (running BN stats)',
      line: { color: VAL_COLOR, width: 1.5, dash: 'dot' }, marker: { color: VAL_COLOR, size: 7, symbol: 'diamond' },
      hovertemplate: 'step %{x}<br>val loss %{customdata:.4f}<extra></extra>', customdata: val.values },
  ];
  const shapes = [];
  const annotations = [];
  const uniform = Math.log10(Math.log(vocabSize || 27));
  shapes.push({ type: 'line', xref: 'paper', x0: 0, x1: 1, yref: 'y', y0: uniform, y1: uniform,
    line: { color: COLORS.muted, width: 1, dash: 'dash' } });
  annotations.push({ text: `uniform guess: ln ${vocabSize || 27}`, xref: 'paper', x: 1, xanchor: 'right', yref: 'y', y: uniform,
    yanchor: 'bottom', showarrow: false, font: { size: 11, color: COLORS.muted } });
  for (const s of series.lrChanges) {
    const i = series.steps.indexOf(s);
    const lr = i >= 0 ? series.lr[i] : null;
    shapes.push({ type: 'line', xref: 'x', x0: s, x1: s, yref: 'paper', y0: 0, y1: 1, line: { color: '#0072B2', width: 1.5, dash: 'dash' } });
    annotations.push({ text: lr === null ? 'lr changes' : `lr → ${fmt(lr, 3)}`, xref: 'x', x: s, yref: 'paper', y: 1, xanchor: 'left',
      yanchor: 'top', showarrow: false, font: { size: 11, color: '#0072B2' } });
  }
  if (viewStep !== null && viewStep !== undefined) {
    shapes.push({ type: 'line', xref: 'x', x0: viewStep, x1: viewStep, yref: 'paper', y0: 0, y1: 1,
      line: { color: COLORS.current, width: 3 } });
    annotations.push({ text: `update ${viewStep}`, xref: 'x', x: viewStep, yref: 'paper', y: 0, xanchor: 'left', yanchor: 'bottom',
      showarrow: false, bgcolor: 'rgba(255,255,255,0.8)', font: { size: 11, color: COLORS.ink } });
  }
  if (series.firstBad !== null) {
    // never dropped silently: a diverged run says where it went
    shapes.push({ type: 'line', xref: 'x', x0: series.firstBad, x1: series.firstBad, yref: 'paper', y0: 0, y1: 1, line: { color: BAD, width: 2 } });
    annotations.push({ text: `loss is NaN or Inf from step ${series.firstBad}: the run diverged (lr too large?)`, xref: 'x', x: series.firstBad,
      xanchor: 'right', yref: 'paper', y: 0.5, showarrow: false, bgcolor: '#fbe3e5', font: { size: 12, color: BAD } });
  }
  if (!x.length) annotations.push(emptyAnnotation('Press Play (space) to train: the loss appears here'));
  else if (series.steps.length && series.steps[0] > 1) { // resumed
    annotations.push({ text: `no losses before step ${series.steps[0].toLocaleString('en-US')} here: resumed from a snapshot (it holds no history), or beyond what the server keeps`,
      xref: 'paper', x: 0, xanchor: 'left', yref: 'paper', y: 0.02, yanchor: 'bottom', showarrow: false, font: { size: 11, color: COLORS.muted } });
  }
  const resumed = series.steps.length > 0 && series.steps[0] > 1;
  const span = x.length ? x[x.length - 1] - (resumed ? x[0] : 0) : 0;
  return {
    data,
    layout: baseLayout(false, {
      height: 300,
      margin: { l: 52, r: 12, t: 30, b: 40 },
      showlegend: true,
      legend: { orientation: 'h', x: 0, y: 1.02, yanchor: 'bottom', font: { size: 11 } },
      xaxis: { title: { text: 'step', standoff: 4 }, gridcolor: COLORS.grid, zeroline: false, rangemode: resumed ? 'normal' : 'tozero',
        ...(span < 8 ? { dtick: 1 } : {}) },
      yaxis: { title: { text: 'log10 loss' }, gridcolor: COLORS.grid, zeroline: false },
      hovermode: 'x',
      shapes,
      annotations,
    }),
    config: plotConfig('loss-curve'),
  };
}
