// The run's past on the client: one point per step from GET /history, plus a
// short "tail" of points taken from live frames that the next poll replaces.
// Columns are plain arrays; the smoothed loss reads a running prefix sum,
// so a redraw costs O(points drawn), not O(steps trained).

export const PARAMS = ['C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias'];

function sparse() {
  return { steps: [], values: [] };
}

export class Series {
  constructor() {
    this.clear();
  }

  clear() {
    this.steps = [];
    this.loss = [];
    this.lr = [];
    this.prefix = [0]; // prefix[i] = sum of the finite log10 losses of points 0..i-1
    this.prefixN = [0]; // how many of them were finite
    this.firstBad = null; // first step whose loss was NaN or Inf (a diverged run)
    this.val = sparse();
    this.sat = sparse();
    this.ratios = { steps: [], values: [] }; // values: {param: log10 update:data}
    this.tail = []; // {step, loss, sat, ratios} from frames, newer than the last poll
    this.lrChanges = [];
    this.fullSteps = [0, 0]; // [first, last] step kept in full on the server
    this.polledUntil = -1; // GET /history?since= this
    this.version = 0;
  }

  get lastStep() {
    const t = this.tail.length ? this.tail[this.tail.length - 1].step : -1;
    return Math.max(t, this.steps.length ? this.steps[this.steps.length - 1] : 0);
  }

  /** Merge a HistoryPublic. Points newer than what is held are appended;
   *  older ones (a thinned first load topped up at full resolution) rebuild. */
  addHistory(h) {
    const pts = h.points;
    this.lrChanges = h.lr_changes;
    if (h.full_steps.length) this.fullSteps = [h.full_steps[0], h.full_steps[h.full_steps.length - 1]];
    if (pts.length) {
      const last = this.steps.length ? this.steps[this.steps.length - 1] : -1;
      if (pts[0].step > last) for (const p of pts) this.push(p);
      else this.rebuild(pts);
      const newest = pts[pts.length - 1].step;
      this.polledUntil = Math.max(this.polledUntil, newest);
      this.tail = this.tail.filter((t) => t.step > newest);
    }
    this.version += 1;
  }

  push(p) {
    this.steps.push(p.step);
    this.loss.push(p.loss);
    this.lr.push(p.lr);
    const l = p.loss === null ? NaN : Math.log10(p.loss);
    const ok = Number.isFinite(l);
    this.prefix.push(this.prefix[this.prefix.length - 1] + (ok ? l : 0));
    this.prefixN.push(this.prefixN[this.prefixN.length - 1] + (ok ? 1 : 0));
    if (!ok && this.firstBad === null) this.firstBad = p.step;
    if (p.val_loss !== null && p.val_loss !== undefined) { this.val.steps.push(p.step); this.val.values.push(p.val_loss); }
    if (p.saturated !== null && p.saturated !== undefined) { this.sat.steps.push(p.step); this.sat.values.push(p.saturated); }
    const r = p.update_data_log10;
    if (r && PARAMS.some((k) => r[k] !== null && r[k] !== undefined)) { this.ratios.steps.push(p.step); this.ratios.values.push(r); }
  }

  rebuild(pts) {
    const byStep = new Map();
    for (let i = 0; i < this.steps.length; i += 1) byStep.set(this.steps[i], this.point(i));
    for (const p of pts) byStep.set(p.step, p);
    const all = [...byStep.values()].sort((a, b) => a.step - b.step);
    const { lrChanges, fullSteps, polledUntil, tail } = this;
    this.clear();
    Object.assign(this, { lrChanges, fullSteps, polledUntil, tail });
    for (const p of all) this.push(p);
  }

  /** The point at index i, shaped like a HistoryPoint. */
  point(i) {
    const step = this.steps[i];
    const at = (col) => { const j = bisect(col.steps, step); return col.steps[j] === step ? col.values[j] : null; };
    return { step, loss: this.loss[i], lr: this.lr[i], val_loss: at(this.val), saturated: at(this.sat),
      update_data_log10: at(this.ratios) || {} };
  }

  /** The HistoryPoint of `step`, or null when this client does not hold it. */
  at(step) {
    const i = bisect(this.steps, step);
    return this.steps[i] === step ? this.point(i) : null;
  }

  /** A live frame's numbers, shown until the next poll brings the real point. */
  addFrame(f) {
    if (f.step <= this.lastStep) return;
    const ratios = {};
    for (const k of PARAMS) ratios[k] = f.params[k] ? f.params[k].update_data_log10 : null;
    this.tail.push({ step: f.step, loss: f.loss, sat: f.tanh ? f.tanh.saturated : null, ratios });
    this.version += 1;
  }

  /** Forget everything after `step` (training again from a past step replaces that future). */
  truncateAfter(step) {
    const n = bisect(this.steps, step + 1);
    this.steps.length = n;
    this.loss.length = n;
    this.lr.length = n;
    this.prefix.length = n + 1;
    this.prefixN.length = n + 1;
    if (this.firstBad !== null && this.firstBad > step) this.firstBad = null;
    for (const col of [this.val, this.sat, this.ratios]) {
      const m = bisect(col.steps, step + 1);
      col.steps.length = m;
      col.values.length = m;
    }
    this.tail = this.tail.filter((t) => t.step <= step);
    this.lrChanges = this.lrChanges.filter((s) => s <= step);
    this.polledUntil = Math.min(this.polledUntil, step);
    this.version += 1;
  }

  /** Window for the smoothed curve: ~1/60 of the run, at most the lecture's 1000 steps. */
  window() {
    // about 1/60 of the run, snapped to 1, 2, 5, 10, ... 1000 (the lecture's):
    // a round number to read, and the curve's legend changes only at a snap
    const want = Math.min(1000, this.steps.length / 60);
    return [1000, 500, 200, 100, 50, 20, 10, 5, 2].find((w) => w <= want) || 1;
  }

  /** Loss curve data, at most `maxPoints` per trace: raw log10 loss and its trailing window mean. */
  lossCurve(maxPoints = 1200) {
    const n = this.steps.length;
    const stride = Math.max(1, Math.ceil(n / maxPoints));
    const W = this.window();
    const x = [];
    const raw = [];
    const smooth = [];
    for (let i = (n - 1) % stride; i < n; i += stride) {
      x.push(this.steps[i]);
      const l = this.loss[i] === null ? NaN : Math.log10(this.loss[i]);
      raw.push(Number.isFinite(l) ? l : null);
      const lo = Math.max(0, i + 1 - W);
      const k = this.prefixN[i + 1] - this.prefixN[lo];
      smooth.push(k ? (this.prefix[i + 1] - this.prefix[lo]) / k : null);
    }
    for (const t of this.tail) {
      x.push(t.step);
      const l = Math.log10(t.loss);
      raw.push(Number.isFinite(l) ? l : null);
      smooth.push(null);
    }
    return { x, raw, smooth, W };
  }

  /** Sparse column thinned to at most maxPoints (keeps the newest), plus the live tail. */
  thin(col, maxPoints, tailKey) {
    const n = col.steps.length;
    const stride = Math.max(1, Math.ceil(n / maxPoints));
    const steps = [];
    const values = [];
    for (let i = (n - 1) % stride; i < n; i += stride) { steps.push(col.steps[i]); values.push(col.values[i]); }
    if (tailKey) for (const t of this.tail) if (t[tailKey] !== null) { steps.push(t.step); values.push(t[tailKey]); }
    return { steps, values };
  }
}

/** First index i with arr[i] >= x (arr sorted ascending). */
export function bisect(arr, x) {
  let lo = 0;
  let hi = arr.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (arr[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
