// The page's draw loop, apart from what it draws.
//
// Each panel names the inputs it is drawn from and is stale when one of them
// changed (by identity). A redraw, one requestAnimationFrame, replaces stale
// panels that are open and on screen, the longest-waiting first, until its
// time budget is spent; the rest wait for the next redraw. While training,
// redraws are spaced to a frame-rate cap and to a share of the page's time,
// so the browser leaves the CPU to the trainer; each panel always jumps to
// the newest inputs (latest wins, nothing queues behind a slow figure).

const BUDGET_BUSY_MS = 16; // while training: at least one figure a redraw, rarely more
const BUDGET_IDLE_MS = 120; // paused: everything at once
const sameInputs = (a, b) => a && b && a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * panels: {name: {inputs() -> array, draw(...inputs) -> Promise, el}} (el: observed for visibility);
 * opts: {busy() -> bool, maxFps() -> number, duty (share of time while busy),
 *        isOpen(name) -> bool, before() (cheap DOM updates each redraw), canDraw() -> bool,
 *        idleMs() -> ms spent so far idle inside draws (waiting for a frame), not counted as work}.
 * Returns {invalidate, stats, setEnabled}.
 */
export function createDrawLoop(panels, opts) {
  const list = Object.entries(panels).map(([name, p]) => ({ name, ...p, drawn: null, at: 0, visible: true, count: 0, ms: 0 }));
  const stats = { redraws: 0, reacts: 0, drawMs: 0, drawTotalMs: 0, panels: {}, panelMs: {} };
  let drawing = false;
  let scheduled = false;
  let enabled = true;
  let lastStart = 0;
  let lastMs = 0;

  const drawable = (p) => p.visible && opts.isOpen(p.name);
  const stale = (p) => !sameInputs(p.drawn, p.inputs());

  function invalidate() {
    if (scheduled || drawing) return;
    scheduled = true;
    const gap = opts.busy() ? Math.max(1000 / opts.maxFps(), lastMs / opts.duty) : 0;
    const wait = lastStart + gap - performance.now();
    if (wait > 2) setTimeout(() => requestAnimationFrame(draw), wait);
    else requestAnimationFrame(draw);
  }

  async function draw() {
    scheduled = false;
    if (!enabled || !opts.canDraw()) return;
    drawing = true;
    const t0 = performance.now();
    const idle0 = opts.idleMs ? opts.idleMs() : 0;
    lastStart = t0;
    const budget = opts.busy() ? BUDGET_BUSY_MS : BUDGET_IDLE_MS;
    let n = 0;
    try {
      opts.before();
      const todo = list.filter((p) => drawable(p) && stale(p)).sort((a, b) => a.at - b.at);
      for (const p of todo) {
        const inputs = p.inputs();
        p.drawn = inputs;
        p.at = performance.now();
        await p.draw(...inputs);
        p.count += 1;
        p.ms += performance.now() - p.at;
        n += 1;
        if (performance.now() - t0 > budget) break;
      }
    } catch (err) {
      console.error('draw failed', err);
    } finally {
      stats.reacts += n;
      if (n) stats.redraws += 1; // a redraw: at least one figure replaced
      stats.drawMs = performance.now() - t0;
      stats.drawTotalMs += stats.drawMs;
      // the duty is a share of the main thread's time: a wait for the next
      // animation frame inside the draw leaves the CPU free, so it does not count
      if (n) lastMs = stats.drawMs - (opts.idleMs ? opts.idleMs() - idle0 : 0);
      for (const p of list) { stats.panels[p.name] = p.count; stats.panelMs[p.name] = p.ms; }
      drawing = false;
      if (list.some((p) => drawable(p) && stale(p))) invalidate();
    }
  }

  // Panels off screen wait until they are scrolled into view.
  const byEl = new Map(list.map((p) => [p.el, p]));
  const seen = new IntersectionObserver((entries) => {
    for (const e of entries) {
      const p = byEl.get(e.target);
      if (p) p.visible = e.isIntersecting;
    }
    invalidate();
  }, { rootMargin: '200px 0px' });
  for (const p of list) seen.observe(p.el);

  return {
    invalidate,
    stats,
    /** Benchmark hook: off = frames still arrive and decode, nothing is drawn. */
    setEnabled(on) { enabled = on; invalidate(); },
  };
}
