// Colours, fonts, number formats and the Plotly mount shared by every view.
// Views build plain {data, layout} objects with these; only `mount` touches Plotly.
import { createFigHead } from './fighead.js';
import { MOVE, moveTo, moving, structureOf } from './livefig.js';

export const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
export const MONO = 'ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace';

// ColorBrewer RdBu (colour-blind safe), negative = blue, 0 = near white, positive = red.
export const DIVERGING = [
  [0.0, '#2166ac'], [0.17, '#4393c3'], [0.33, '#92c5de'], [0.5, '#f7f7f7'],
  [0.67, '#f4a582'], [0.83, '#d6604d'], [1.0, '#b2182b'],
];
// For magnitudes (|manual - autograd|): light to dark, one hue.
export const SEQUENTIAL = [[0, '#f7fbff'], [0.35, '#9ecae1'], [0.7, '#3182bd'], [1, '#08306b']];

export const COLORS = {
  ink: '#1f2933',
  muted: '#616e7c',
  grid: '#e4e7eb',
  pending: '#e4e7eb',
  pendingLine: '#9aa5b1',
  data: '#cbd2d9',
  flow: '#6a51a3', // gradient flowing backward along an edge
  current: '#f0b429', // the node just computed
  neg: '#2166ac',
  pos: '#b2182b',
  target: '#111111',
};

/** Numbers as a student reads them: 4 significant digits, exponent when tiny or huge. */
export function fmt(x, digits = 4) {
  if (x === null || x === undefined) return '–';
  if (typeof x !== 'number') return String(x);
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? '∞' : '−∞';
  if (x === 0) return '0';
  const a = Math.abs(x);
  const s = (a >= 1e-3 && a < 1e5) ? x.toPrecision(digits) : x.toExponential(digits - 2);
  return s.replace('-', '−');
}

/** Short scientific form for badges: 4.7e-10. */
export function sci(x) {
  if (x === 0) return '0';
  return x.toExponential(1).replace('-', '−');
}

export function baseLayout(present, extra = {}) {
  const size = present ? 17 : 12;
  return {
    font: { family: FONT, size, color: COLORS.ink },
    paper_bgcolor: 'rgba(0,0,0,0)',
    plot_bgcolor: 'rgba(0,0,0,0)',
    margin: { l: 40, r: 10, t: 28, b: 30 },
    hoverlabel: { font: { family: MONO, size: present ? 16 : 12 } },
    showlegend: false,
    dragmode: false,
    // Plotly's default ("hide past div") measures every tick label on every
    // redraw; with fixed margins none reaches the div's edge, and skipping it
    // made a redraw 10-45% cheaper (measured on the training page)
    template: FAST_AXES,
    ...extra,
  };
}

const FAST_AXES = { layout: { xaxis: { ticklabeloverflow: 'allow' }, yaxis: { ticklabeloverflow: 'allow' } } };

export const PLOT_CONFIG = { displayModeBar: false, responsive: true, scrollZoom: false, doubleClick: false };

/** Milliseconds every mount has spent waiting for an animation frame to
 * move traces in: idle time inside a draw, which the draw loop's pacing
 * (drawloop.js) does not count as work. */
export const waited = { ms: 0 };

/**
 * A thin mount around one div: the latest figure wins, Plotly.react only
 * (never newPlot), and a figure equal by identity to the last one is skipped.
 * `after(fig)` runs once the figure is on screen (for render markers);
 * `fig.head` is its title and colour key, drawn in HTML above it (fighead.js).
 * `move` (or a function saying when): a figure that differs from the last
 * only in its numbers moves the traces instead of redrawing (livefig.js), its
 * axes fitted with room to spare; `stats` counts
 * moves, moves that also refit an axis, and reacts.
 */
// plotly.js: on the training page a script tag loads it before the modules;
// the stepper asks for it with loadPlotly() once its first command to the
// server is on its way, so that parsing its 3.5 MB overlaps a shared link's
// replay instead of delaying it. Figures wait for it here.
let plotlyLoaded = null;
let plotlyArrived = null;
const plotlyReady = window.Plotly ? Promise.resolve() : new Promise((resolve) => { plotlyArrived = resolve; });

/** Load plotly.js from the server (once); resolves when it is there. */
export function loadPlotly() {
  if (window.Plotly) return Promise.resolve();
  if (!plotlyLoaded) {
    plotlyLoaded = new Promise((resolve, reject) => {
      const tag = document.createElement('script');
      tag.src = '/vendor/plotly.min.js';
      tag.onload = () => { plotlyArrived(); resolve(); };
      tag.onerror = () => reject(new Error('plotly.js could not be loaded from /vendor/plotly.min.js'));
      document.head.append(tag);
    });
  }
  return plotlyLoaded;
}

export function mount(el, { onClick, move = false } = {}) {
  let pending = null;
  let running = null;
  let shown = null;
  let wired = false;
  const head = createFigHead(el);
  const stats = { moves: 0, refits: 0, reacts: 0 };
  async function loop() {
    await null; // let `running` be assigned before the loop can finish
    await plotlyReady;
    try {
      while (pending) {
        const fig = pending;
        pending = null;
        if (fig !== shown) {
          head.show(fig.head);
          const frame = (typeof move === 'function' ? move() : move) && moving.on ? moveTo(el, shown, fig) : null;
          if (frame) {
            // Plotly moves the traces in the next animation frame: the wait
            // until then is idle, and is counted apart (see `waited`)
            let frameAt = 0;
            requestAnimationFrame(() => { frameAt = performance.now(); }); // runs before Plotly's
            const moved = window.Plotly.animate(el, frame, MOVE);
            const calledAt = performance.now();
            await moved;
            if (frameAt > calledAt) waited.ms += frameAt - calledAt;
            stats.moves += 1;
            if (frame.layout) stats.refits += 1;
          } else {
            // Plotly keeps the objects it is given and writes into them (the
            // ranges it chose into the layout; a later move's numbers into the
            // traces): a movable figure goes in as copies, so `fig` stays as
            // built and can be compared with the next (structureOf caches its key now)
            if (move) structureOf(fig);
            const data = move ? fig.data.map((t) => ({ ...t })) : fig.data;
            await window.Plotly.react(el, data, move ? structuredClone(fig.layout) : fig.layout,
              fig.config || PLOT_CONFIG);
            stats.reacts += 1;
          }
          shown = fig;
          if (!wired && onClick) {
            el.on('plotly_click', (ev) => onClick(ev));
            wired = true;
          }
        }
        if (fig.after) fig.after(fig);
      }
    } catch (err) {
      // a broken figure must not stop later ones from drawing
      console.error('plot failed', el.dataset.testid || el.id, err);
      shown = null;
    } finally {
      running = null;
    }
  }
  return {
    show(fig) {
      pending = fig;
      if (!running) running = loop();
      return running;
    },
    clear() {
      if (shown && window.Plotly) window.Plotly.purge(el);
      head.show(null);
      shown = null;
      wired = false;
    },
    get el() { return el; },
    stats,
  };
}

/** Memoise a pure figure function on the identity of its inputs. */
export function memo(fn) {
  let lastArgs = null;
  let last = null;
  return (...args) => {
    if (lastArgs && args.length === lastArgs.length && args.every((a, i) => a === lastArgs[i])) return last;
    lastArgs = args;
    last = fn(...args);
    return last;
  };
}

/** Tiny DOM builder: h('div', {class: 'x'}, child, 'text'). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
