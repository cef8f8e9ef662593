// Shared pieces of this page's figures: palette, histogram bars, config with
// a PNG button, and a panel mount that exports its figure.
import { COLORS, FONT, MONO, baseLayout, fmt, mount } from '../theme.js';
import { presented } from './present.js';

// Okabe-Ito: distinguishable with every common colour-vision deficiency.
export const PARAM_COLORS = {
  C: '#0072B2', W1: '#D55E00', b1: '#999999', W2: '#009E73', b2: '#56B4E9', bngain: '#CC79A7', bnbias: '#E69F00',
};
export const ACT_COLOR = COLORS.flow; // activations and their gradients
export const RUNNING_COLOR = COLORS.ink;
export const VAL_COLOR = '#D55E00';
export const SAT_BAND = 'rgba(213, 94, 0, 0.13)';
export const BAD = '#b2182b';

export { COLORS, FONT, MONO, baseLayout, fmt };

export function plotConfig(filename) {
  return {
    displayModeBar: 'hover',
    displaylogo: false,
    modeBarButtons: [['toImage']],
    toImageButtonOptions: { format: 'png', filename, scale: 2 },
    responsive: true,
    scrollZoom: false,
    doubleClick: false,
  };
}

/** A server histogram ({counts, edges}) as one filled step line: a single SVG
 *  path instead of a bar per bin, which keeps Plotly.react fast at 20 frames/s. */
export function histTrace(hist, { xaxis = 'x', yaxis = 'y', color = ACT_COLOR, name = '' } = {}) {
  const { counts, edges } = hist;
  const y = counts.length ? [...counts, counts[counts.length - 1]] : [];
  return {
    type: 'scatter', mode: 'lines', x: edges, y, xaxis, yaxis, name,
    line: { shape: 'hv', color, width: 1 }, fill: 'tozeroy', fillcolor: color,
    hovertemplate: `${name ? `${name}<br>` : ''}from %{x:.3g}: %{y}<extra></extra>`,
  };
}

export function titleAnnotation(text, xref, yref, { x = 0, y = 1, size = 12, color = COLORS.ink } = {}) {
  return {
    text, xref: `${xref} domain`, yref: `${yref} domain`, x, y, xanchor: 'left', yanchor: 'bottom',
    showarrow: false, font: { family: MONO, size, color },
  };
}

export function emptyAnnotation(text) {
  return { text, xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, showarrow: false, font: { size: 13, color: COLORS.muted } };
}

/** A mount (latest figure wins, Plotly.react only) that can also save its figure as PNG. */
export function panelPlot(el, opts = {}) {
  const m = mount(el, { move: true, ...opts });
  // `responsive` follows the window only; a panel also changes width when its
  // neighbours fill in or a scrollbar appears
  let width = el.clientWidth;
  new ResizeObserver(() => {
    if (el.clientWidth !== width && el.data) {
      width = el.clientWidth;
      // the new width only: Plotly.Plots.resize also drops the figure's own
      // height and measures the div instead, which is 0 px tall while a redraw
      // is under way (the panel then stayed empty after presenter mode changed the widths)
      window.Plotly.relayout(el, { width });
    }
  }).observe(el);
  return {
    ...m,
    // presenter mode (present.js): the same figure, its type scaled
    show: (fig) => m.show(document.body.classList.contains('present') ? presented(fig) : fig),
    png(filename) {
      if (!el.data) return Promise.resolve();
      return window.Plotly.downloadImage(el, { format: 'png', filename, scale: 2, width: el.clientWidth || 900, height: el.clientHeight || 400 });
    },
  };
}
