// dlogits: the batch x vocab picture of exercise 2 and, for one row, the
// push/pull forces on each character. Pure model + figures, thin mount.
import { exampleLabel } from './tensorplot.js';
import { COLORS, DIVERGING, MONO, baseLayout, fmt, memo, mount } from './theme.js';

/**
 * Per-row numbers from the batch. dlogits comes from the server once the
 * backward has reached logits; before that it is (probs - onehot) / n, the
 * exercise 2 formula, computed here from the forward's probabilities.
 */
export function dlogitsModel(rowData, vocab) {
  if (!rowData || !rowData.probs || !rowData.Yb || !vocab) return null;
  const { probs, Yb, Xb } = rowData;
  const n = probs.length;
  const dl = rowData.dlogits || probs.map((r, i) => r.map((p, j) => (p - (j === Yb[i] ? 1 : 0)) / n));
  const rows = probs.map((p, i) => {
    const t = Yb[i];
    let top = 0;
    for (let j = 1; j < p.length; j += 1) if (p[j] > p[top]) top = j;
    return { i, target: t, p: p[t], loss: -Math.log(p[t]), top, ptop: p[top], wrong: top !== t };
  });
  const byLoss = [...rows].sort((a, b) => b.loss - a.loss || a.i - b.i).map((r) => r.i);
  const worst = new Set(byLoss.slice(0, Math.min(3, n)));
  return { n, probs, Yb, Xb, dl, rows, byLoss, worst, vocab, fromServer: Boolean(rowData.dlogits) };
}

export function rowOrder(model, sortByLoss) {
  return sortByLoss ? model.byLoss : model.rows.map((r) => r.i);
}

/** The heatmap: rows in display order, target cells boxed, the selection outlined. */
export function heatmapFigure(model, sortByLoss, row, present) {
  const order = rowOrder(model, sortByLoss);
  const { vocab, n } = model;
  const ctx = { Xb: model.Xb, Yb: model.Yb, vocab };
  const z = order.map((i) => model.dl[i]);
  // the example's words once a row, not once a cell (256 x 27 cells at batch 256)
  const text = order.map((i) => {
    const ex = `example ${i}: ${exampleLabel(ctx, i)}<br>char '`;
    const p = model.probs[i];
    return model.dl[i].map((v, j) => `${ex}${vocab[j]}'${j === model.Yb[i] ? ' (target)' : ''}`
      + `<br>dlogits = ${fmt(v, 4)}<br>n·dlogits = ${fmt(v * n, 4)}<br>p = ${fmt(p[j], 4)}`);
  });
  const m = Math.max(1e-12, ...z.map((r) => Math.max(...r.map(Math.abs))));
  const ticktext = order.map((i) => {
    const lab = `${i} ${exampleLabel(ctx, i)}`;
    return model.worst.has(i) ? `<b>! ${lab}</b>` : lab;
  });
  const every = n > 48 ? Math.ceil(n / 48) : 1;
  const sel = row === null || row === undefined ? -1 : order.indexOf(row);
  const shapes = sel < 0 ? [] : [{
    type: 'rect', xref: 'x', yref: 'y', x0: -0.5, x1: vocab.length - 0.5, y0: sel - 0.5, y1: sel + 0.5,
    line: { color: COLORS.flow, width: 2.5 }, fillcolor: 'rgba(0,0,0,0)',
  }];
  const cell = Math.max(4, Math.min(14, 420 / n));
  return {
    data: [
      {
        type: 'heatmap', z, x: vocab.map((_, j) => j), y: order.map((_, r) => r), text,
        hovertemplate: '%{text}<extra></extra>', colorscale: DIVERGING, zmin: -m, zmax: m,
        colorbar: { thickness: 8, len: 0.9, exponentformat: 'e', title: { text: 'dlogits', side: 'right' }, ticklabeloverflow: 'allow' },
      },
      {
        type: 'scatter', mode: 'markers', hoverinfo: 'skip', name: 'target',
        x: order.map((i) => model.Yb[i]), y: order.map((_, r) => r),
        marker: { symbol: 'square-open', size: cell, color: COLORS.target, line: { width: 1.6 } },
      },
    ],
    layout: baseLayout(present, {
      height: Math.max(260, Math.min(640, n * (present ? 17 : 14) + 70)),
      margin: { l: 118, r: 10, t: 8, b: 34 },
      xaxis: {
        tickvals: vocab.map((_, j) => j), ticktext: vocab, tickfont: { family: MONO, size: present ? 14 : 11 },
        side: 'bottom', showgrid: false, zeroline: false, ticks: '', range: [-0.5, vocab.length - 0.5], fixedrange: true,
      },
      yaxis: {
        tickvals: order.map((_, r) => r).filter((r) => r % every === 0),
        ticktext: ticktext.filter((_, r) => r % every === 0),
        tickfont: { family: MONO, size: present ? 13 : 10 },
        autorange: 'reversed', showgrid: false, zeroline: false, ticks: '', fixedrange: true,
      },
      shapes,
      hovermode: 'closest',
    }),
  };
}

/** One row: probabilities, and n·dlogits as pulls (what descent does to each logit). */
export function rowModel(model, row) {
  if (!model || row === null || row === undefined || row < 0 || row >= model.n) return null;
  const { vocab, n } = model;
  const ctx = { Xb: model.Xb, Yb: model.Yb, vocab };
  const r = model.rows[row];
  const force = model.dl[row].map((v) => v * n);
  const sum = force.reduce((a, b) => a + b, 0);
  return {
    row, label: exampleLabel(ctx, row), context: model.Xb ? model.Xb[row].map((j) => vocab[j]).join('') : '',
    target: vocab[r.target], targetIndex: r.target, p: r.p, loss: r.loss,
    top: vocab[r.top], ptop: r.ptop, wrong: r.wrong, force, sum, probs: model.probs[row], vocab,
  };
}

export function rowFigure(rm, present) {
  const xs = rm.vocab.map((_, j) => j);
  const t = rm.targetIndex;
  const fs = present ? 14 : 11;
  const probColors = xs.map((j) => (j === t ? COLORS.target : '#9aa5b1'));
  const forceColors = rm.force.map((v, j) => (j === t ? COLORS.neg : COLORS.pos));
  return {
    data: [
      {
        type: 'bar', x: xs, y: rm.probs, marker: { color: probColors }, name: 'probs', xaxis: 'x', yaxis: 'y',
        text: rm.vocab.map((c, j) => `'${c}'${j === t ? ' (target)' : ''}<br>p = ${fmt(rm.probs[j], 4)}`),
        hovertemplate: '%{text}<extra></extra>', textposition: 'none',
      },
      {
        type: 'bar', x: xs, y: rm.force, marker: { color: forceColors, line: { color: xs.map((j) => (j === t ? COLORS.target : 'rgba(0,0,0,0)')), width: 2 } },
        name: 'n·dlogits', xaxis: 'x2', yaxis: 'y2',
        text: rm.vocab.map((c, j) => (j === t
          ? `'${c}' (target)<br>n·dlogits = p − 1 = ${fmt(rm.force[j], 4)}<br>descent pulls this logit up`
          : `'${c}'<br>n·dlogits = p = ${fmt(rm.force[j], 4)}<br>descent pushes this logit down`)),
        hovertemplate: '%{text}<extra></extra>', textposition: 'none',
      },
    ],
    layout: baseLayout(present, {
      height: present ? 400 : 320,
      margin: { l: 48, r: 10, t: 22, b: 30 },
      bargap: 0.15,
      xaxis: { domain: [0, 1], anchor: 'y', tickvals: xs, ticktext: rm.vocab, tickfont: { family: MONO, size: fs }, showticklabels: false, fixedrange: true },
      yaxis: { domain: [0.6, 1], title: { text: 'probs' }, range: [0, Math.min(1, 1.3 * Math.max(...rm.probs))], gridcolor: COLORS.grid, fixedrange: true },
      xaxis2: { domain: [0, 1], anchor: 'y2', tickvals: xs, ticktext: rm.vocab, tickfont: { family: MONO, size: fs }, fixedrange: true },
      yaxis2: { domain: [0, 0.5], title: { text: 'n·dlogits' }, range: [-1.05, 1.05], zeroline: true, zerolinecolor: '#52606d', gridcolor: COLORS.grid, fixedrange: true },
      annotations: [
        {
          x: t, y: rm.probs[t], xref: 'x', yref: 'y', text: `target '${rm.vocab[t]}' p=${fmt(rm.p, 3)}`,
          showarrow: true, arrowhead: 0, ax: 0, ay: -18, font: { family: MONO, size: fs },
        },
        {
          x: t, y: rm.force[t], xref: 'x2', yref: 'y2', text: `pulled up by 1−p = ${fmt(-rm.force[t], 3)}`,
          showarrow: true, arrowhead: 2, ax: 0, ay: 22, font: { family: MONO, size: fs, color: COLORS.neg },
        },
      ],
    }),
  };
}

export function createDlogitsView(root, { onRow }) {
  const heat = mount(root.querySelector('[data-plot=dlogits]'), {
    onClick: (ev) => {
      const p = ev.points && ev.points[0];
      if (!p || current === null) return;
      const order = rowOrder(current.model, current.sortByLoss);
      const r = Math.round(Number(p.y));
      if (r >= 0 && r < order.length) onRow(order[r]);
    },
  });
  const bars = mount(root.querySelector('[data-plot=row]'));
  let current = null;
  const modelFor = memo(dlogitsModel);
  const heatFor = memo(heatmapFigure);
  const rowFor = memo(rowModel);
  const rowFigFor = memo(rowFigure);
  const $ = (sel) => root.querySelector(sel);
  return {
    render(state) {
      const vocab = state.session ? state.session.vocab : null;
      const model = modelFor(state.rowData, vocab);
      const empty = $('[data-field=dlogits-empty]');
      const body = $('[data-field=dlogits-body]');
      empty.hidden = Boolean(model);
      body.hidden = !model;
      if (!model) return Promise.resolve();
      current = { model, sortByLoss: state.sortByLoss };
      $('[data-field=source]').textContent = model.fromServer
        ? 'the hand-written dlogits from the backward pass'
        : 'the backward has not reached logits yet: shown from (probs − onehot)/n';
      $('[data-action=sort]').setAttribute('aria-pressed', state.sortByLoss ? 'true' : 'false');
      $('[data-action=sort]').textContent = state.sortByLoss ? 'Batch order' : 'Worst rows first';
      const jobs = [heat.show(heatFor(model, state.sortByLoss, state.row, state.present))];
      const rm = rowFor(model, state.row);
      const info = $('[data-field=row-info]');
      const rowBox = $('[data-box=row]');
      rowBox.hidden = !rm;
      if (!rm) {
        info.replaceChildren();
        $('[data-field=row-hint]').hidden = false;
      } else {
        $('[data-field=row-hint]').hidden = true;
        const span = (cls, text) => Object.assign(document.createElement('span'), { className: cls, textContent: text });
        const parts = [
          ['row-title', 'row-title', `example ${rm.row}: `],
          ['ctx mono', 'row-context', rm.context],
          ['arrow', null, ' → '],
          ['tgt mono', 'row-target', rm.target],
          ['stat', 'row-p', `p(target) = ${fmt(rm.p, 4)}`],
          ['stat', 'row-loss', `loss −log p = ${fmt(rm.loss, 4)}`],
          ['stat', 'row-sum', `Σ n·dlogits = ${fmt(rm.sum, 2)}`],
          ['stat', 'row-top', rm.wrong ? `net's top guess '${rm.top}' (p = ${fmt(rm.ptop, 3)}): wrong` : 'top guess is right'],
        ];
        info.replaceChildren(...parts.map(([cls, id, text]) => {
          const el = span(cls, text);
          if (id) el.setAttribute('data-testid', id);
          return el;
        }));
        info.dataset.rowSum = String(rm.sum);
        info.dataset.row = String(rm.row);
        info.dataset.target = rm.target;
        jobs.push(bars.show(rowFigFor(rm, state.present)));
      }
      return Promise.all(jobs).then(() => {
        root.dataset.renderedRow = String(state.row ?? '');
        root.dataset.renderedSort = String(Boolean(state.sortByLoss)); // (a test hook: the heatmap is drawn in this order)
      });
    },
  };
}
