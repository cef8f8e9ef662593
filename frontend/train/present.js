// Presenter mode on the training page, as on the stepper: the same key (p), a
// control in the header and one to leave it, large type, the settings hidden.
// The figures stay the views' own; only their type is scaled on the way to
// Plotly (`presented`), so a class at the back of a room can read the axes.

const SCALE = 1.4; // 12 px tick labels -> ~17 px, as the stepper's 12 -> 17
const FONT_KEYS = new Set(['font', 'tickfont', 'textfont', 'titlefont', 'insidetextfont', 'outsidetextfont']);

function scaled(v, inFont) {
  if (Array.isArray(v)) return v.map((x) => scaled(x, false));
  if (!v || typeof v !== 'object' || ArrayBuffer.isView(v)) return v;
  const out = {};
  for (const [k, x] of Object.entries(v)) {
    if (inFont && k === 'size' && typeof x === 'number') out[k] = Math.round(x * SCALE);
    else out[k] = scaled(x, FONT_KEYS.has(k));
  }
  return out;
}

const cache = new WeakMap();
/** The figure with every font size scaled (a copy, kept per figure so an unchanged one is not redrawn). */
export function presented(fig) {
  let out = cache.get(fig);
  if (!out) {
    const layout = scaled(fig.layout, false);
    layout.font = { ...(layout.font || {}), size: Math.round(((fig.layout.font && fig.layout.font.size) || 12) * SCALE) };
    // the margins hold tick labels and axis titles: they grow with them
    if (layout.margin) layout.margin = Object.fromEntries(Object.entries(layout.margin).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * SCALE) : v]));
    out = { ...fig, data: fig.data.map((t) => scaled(t, false)), layout };
    cache.set(fig, out);
  }
  return out;
}

/** Wire the page's presenter controls; `onChange(present)` redraws. */
export function createPresenter(onChange) {
  let on = new URLSearchParams(window.location.search).get('present') === '1';
  const render = () => {
    document.body.classList.toggle('present', on);
    for (const b of document.querySelectorAll('[data-testid=present-toggle]')) b.setAttribute('aria-pressed', String(on));
  };
  const toggle = () => {
    on = !on;
    render();
    onChange(on);
  };
  for (const b of document.querySelectorAll('[data-action=togglePresent]')) b.addEventListener('click', toggle);
  render();
  return { toggle, get on() { return on; } };
}
