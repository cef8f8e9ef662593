// Exercise 4 in "Derive it": once every node of the fused backward is solved
// (or revealed), the learner's own expressions train a fresh network in the
// server's sandbox, drawn beside the lecture's fused backward from the same seed.
import { api } from './api.js';
import * as P from './deriveprogress.js';
import { COLORS, baseLayout, h, mount } from './theme.js';
import { reportError } from './toast.js';

/** The code the learner's d<node> trains with: the newest accepted attempt, else (revealed) the lecture's. */
export function acceptedCode(progress, node) {
  const e = P.entry(progress, 'fused', node);
  const ok = e.history.find((a) => a.verdict === 'correct');
  return ok ? ok.code : null;
}

/** Both loss curves, raw (thin) and as a running mean over `window` steps (thick). */
export function curveFigure(r, present, window = 25) {
  const smooth = (xs) => xs.map((_, i) => {
    const a = xs.slice(Math.max(0, i - window + 1), i + 1);
    return a.reduce((s, x) => s + x, 0) / a.length;
  });
  const steps = (xs) => xs.map((_, i) => i + 1);
  const line = (ys, name, color, width, opacity) => ({
    type: 'scatter', mode: 'lines', x: steps(ys), y: ys, name, opacity, line: { color, width }, hoverinfo: 'x+y+name',
  });
  return {
    data: [
      line(r.reference, 'lecture (raw)', COLORS.muted, 1, 0.35), line(r.losses, 'yours (raw)', COLORS.flow, 1, 0.35),
      line(smooth(r.reference), 'lecture\'s fused backward', COLORS.muted, 3, 1),
      line(smooth(r.losses), 'your backward', COLORS.flow, 2, 1),
    ],
    layout: baseLayout(present, {
      height: present ? 340 : 260, showlegend: true, legend: { orientation: 'h', y: 1.12 },
      margin: { l: 48, r: 10, t: 30, b: 36 },
      xaxis: { title: { text: 'step' }, gridcolor: COLORS.grid }, yaxis: { title: { text: 'batch loss' }, gridcolor: COLORS.grid },
    }),
  };
}

export function createTrainSection(root, { get, progress, order }) {
  const steps = h('input', { type: 'number', min: '1', max: '3000', step: '1', value: '500', 'data-testid': 'derive-train-steps' });
  const button = h('button', { type: 'button', class: 'primary', 'data-testid': 'derive-train' }, 'Train with my backward');
  const status = h('p', { class: 'hint', 'data-testid': 'derive-train-status' });
  const plotEl = h('div', { class: 'plot', 'data-testid': 'derive-train-plot', hidden: true });
  root.replaceChildren(h('h3', {}, 'Exercise 4: train with your backward'), status,
    h('div', { class: 'derive-actions' }, h('label', {}, 'steps ', steps), button), plotEl);
  const plot = mount(plotEl);
  let running = false;
  let result = null;

  async function codes() {
    const out = {};
    for (const node of order()) {
      out[node] = acceptedCode(progress(), node)
        ?? (await api.answer(get().session.id, 'fused', node)).code; // revealed: the lecture's line
    }
    return out;
  }

  button.addEventListener('click', async () => {
    if (running) return;
    running = true;
    render(get());
    try {
      result = await api.deriveTrain(get().session.id, Math.max(1, Math.min(3000, Number(steps.value) || 500)), await codes());
    } catch (err) {
      reportError(err, 'derive');
    } finally {
      running = false;
      render(get());
    }
  });

  function render(s) {
    const nodes = order();
    const open = nodes.filter((n) => !P.unlocked(progress(), 'fused', n));
    root.hidden = s.mode !== 'fused';
    button.disabled = running || open.length > 0;
    if (running) status.textContent = `Training ${steps.value} steps in the sandbox with your ${nodes.length} expressions…`;
    else if (result) status.textContent = result.message;
    else if (open.length) status.textContent = `Solve (or reveal) every node of the fused backward first: ${open.map((n) => `d${n}`).join(', ')} left.`;
    else status.textContent = 'Every fused node is done: train a fresh network (this session\'s seed) with your expressions only.';
    plotEl.hidden = !result || !result.losses.length;
    if (result && result.losses.length) plot.show(curveFigure(result, s.present));
  }

  return { render };
}
