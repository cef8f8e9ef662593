// BatchNorm, per hidden unit: this batch's mean and variance beside the
// running averages that evaluation will use, and the layer's own numbers
// (bnvar_inv, bngain, bnbias), all on one shared unit axis.
import { h } from '../theme.js';
import { COLORS, PARAM_COLORS, RUNNING_COLOR, ACT_COLOR, baseLayout, emptyAnnotation, fmt, plotConfig, titleAnnotation } from './plots.js';

const row = (t) => (t ? Array.from(t.data) : null);

export function bnFigure(frame, tensors) {
  const bn = frame ? frame.batchnorm : null;
  const units = bn ? bn.running_mean.map((_, i) => i) : [];
  const data = [];
  // no batch yet: no panel titles either, as Plotly makes no axes for empty
  // panels and would print their titles over each other
  const annotations = bn ? [
    titleAnnotation('mean of hprebn', 'x', 'y'),
    titleAnnotation('variance of hprebn (unbiased, 1/(n−1))', 'x', 'y2'),
    titleAnnotation('bnvar_inv · bngain · bnbias', 'x', 'y3'),
  ] : [];
  // lines, not 2 x n_hidden markers: one SVG path each keeps a redraw cheap
  const batch = (y, name, yaxis, color) => ({
    type: 'scatter', mode: 'lines', x: units, y, name, yaxis, legendgroup: name,
    line: { color, width: 1.1, shape: 'hvh' }, opacity: 0.9, hovertemplate: `unit %{x}<br>${name} %{y:.4g}<extra></extra>`,
  });
  const line = (y, name, yaxis, color, extra = {}) => ({
    type: 'scatter', mode: 'lines', x: units, y, name, yaxis, line: { color, width: 1.6, shape: 'hvh', ...extra },
    hovertemplate: `unit %{x}<br>${name} %{y:.4g}<extra></extra>`,
  });
  if (bn) {
    if (bn.batch_mean) data.push(batch(bn.batch_mean, 'this batch', 'y', ACT_COLOR));
    data.push(line(bn.running_mean, 'running', 'y', RUNNING_COLOR, { width: 2.2 }));
    if (bn.batch_var) data.push({ ...batch(bn.batch_var, 'this batch', 'y2', ACT_COLOR), showlegend: false });
    data.push({ ...line(bn.running_var, 'running', 'y2', RUNNING_COLOR, { width: 2.2 }), showlegend: false });
    const inv = tensors && tensors['bnvar_inv.value'];
    const gain = tensors && tensors['bngain.value'];
    const bias = tensors && tensors['bnbias.value'];
    if (inv) data.push(line(row(inv), 'bnvar_inv', 'y3', '#0072B2'));
    if (gain) data.push(line(row(gain), 'bngain', 'y3', PARAM_COLORS.bngain, { dash: 'dot' }));
    if (bias) data.push(line(row(bias), 'bnbias', 'y3', PARAM_COLORS.bnbias, { dash: 'dash' }));
  } else {
    annotations.push(emptyAnnotation('no batch yet'));
  }
  return {
    data,
    layout: baseLayout(false, {
      height: 460,
      margin: { l: 56, r: 12, t: 34, b: 40 },
      showlegend: true,
      legend: { orientation: 'h', x: 0, y: 1.0, yanchor: 'bottom', font: { size: 11 } },
      hovermode: 'closest',
      xaxis: { anchor: 'y3', title: { text: 'hidden unit', standoff: 4 }, gridcolor: COLORS.grid, zeroline: false },
      yaxis: { domain: [0.7, 0.95], gridcolor: COLORS.grid, zeroline: true, zerolinecolor: '#cbd2d9' },
      yaxis2: { domain: [0.36, 0.61], rangemode: 'tozero', gridcolor: COLORS.grid },
      yaxis3: { domain: [0, 0.27], gridcolor: COLORS.grid, zeroline: true, zerolinecolor: '#cbd2d9' },
      annotations,
    }),
    config: plotConfig('batchnorm'),
  };
}

function median(a) {
  const s = [...a].filter(Number.isFinite).sort((x, y) => x - y);
  return s.length ? s[s.length >> 1] : null;
}

/** The explanation under the figure, with this frame's numbers. */
export function bnNotes(frame, cfg) {
  const n = cfg.batch_size;
  const bessel = n / (n - 1);
  const out = [
    h('p', {}, h('b', {}, 'Bessel’s correction. '),
      `The batch variance here (and in the forward, bnvar) divides by n − 1 = ${n - 1}, not by n = ${n}: `,
      `over a batch the mean is fitted to the same ${n} numbers, so their spread around it is a little too small, `,
      `and n/(n − 1) = ${bessel.toFixed(3)} puts it right. Training and evaluation then use the same estimate; `,
      'PyTorch’s BatchNorm1d instead normalises a training batch with 1/n and keeps the running variance with 1/(n − 1), ',
      'a mismatch the lecture avoids on purpose.'),
  ];
  const bn = frame && frame.batchnorm;
  if (bn && bn.batch_mean && bn.batch_var) {
    const k = bn.running_mean.length;
    let dm = 0;
    const ratio = [];
    for (let i = 0; i < k; i += 1) {
      dm += Math.abs(bn.batch_mean[i] - bn.running_mean[i]) / Math.sqrt(bn.running_var[i] + 1e-5);
      ratio.push(bn.batch_var[i] / bn.running_var[i]);
    }
    const r = median(ratio);
    const steps = frame.step;
    const weight = Math.pow(1 - 0.001, steps);
    out.push(h('p', {},
      h('b', {}, 'Running averages. '),
      `Each step they move 0.1% of the way toward the batch (momentum 0.001), so after ${steps.toLocaleString('en-US')} steps `,
      `their starting values (mean 0, variance 1) still weigh ${(100 * weight).toFixed(weight < 0.01 ? 2 : 0)}%. `,
      `This batch’s means sit on average ${fmt(dm / k, 3)} running standard deviations from the running means; `,
      `the median batch variance is ${fmt(r, 3)}× the running one.`));
  }
  return out;
}
