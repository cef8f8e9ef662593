// A figure's title and colour key, in HTML above its plot instead of in
// Plotly's SVG. Plotly lays out, measures and draws its title and colour bar
// again on every react, ~20% of the inspector's value and gradient heatmaps'
// time, and a key press redraws two to four heatmaps
// (benchmarks/frontend_latency.py times the key press). A figure says what to
// show in `fig.head`: {title, key: {gradient, labels: [low, middle, high]}}.

/** A CSS gradient for a Plotly colour scale ([[0, '#..'], ..., [1, '#..']]). */
export const cssGradient = (scale) => `linear-gradient(to right, ${scale.map(([u, c]) => `${c} ${u * 100}%`).join(', ')})`;

const span = (cls) => Object.assign(document.createElement('span'), { className: cls });

/** The header before `el`, made on first use; `show(head)` writes only what changed. */
export function createFigHead(el) {
  let box = null;
  let parts = null;
  let shown = [];
  return {
    show(head) {
      if (!head && !box) return;
      if (!box) {
        parts = { title: span('fig-title'), key: span('fig-key'), low: span('fig-key-label'), bar: span('fig-key-bar'),
          mid: span('fig-key-mid'), high: span('fig-key-label') };
        parts.bar.append(parts.mid);
        parts.key.append(parts.low, parts.bar, parts.high);
        parts.key.dataset.testid = 'fig-key';
        box = Object.assign(document.createElement('div'), { className: 'fig-head' });
        box.append(parts.title, parts.key);
        el.before(box);
      }
      const key = head && head.key;
      const want = [head ? head.title || '' : '', key ? key.gradient : '', ...(key ? key.labels : ['', '', ''])];
      if (want.every((v, i) => v === shown[i])) return;
      const [title, gradient, low, mid, high] = want;
      parts.title.textContent = title;
      parts.bar.style.background = gradient;
      parts.key.hidden = !gradient;
      parts.low.textContent = low;
      parts.mid.textContent = mid;
      parts.high.textContent = high;
      box.hidden = !title && !gradient;
      shown = want;
    },
  };
}
