// bpn.show(globals()): the lecture's compute graph with the learner's
// gradients, in a notebook (an anywidget module: one render({model, el})).
//
// Every figure is the pages' own (frontend/graph.js, deriveresult.js,
// dlogits.js and what they import). The kernel sends their sources and
// plotly.min.js once, in the `_Assets` widget this one refers to
// (notebook/widget.py); they are imported here from blob: URLs, each
// module's `./x.js` imports rewritten to the blob URL of x.js. Nothing is
// built, nothing comes from another host, and a page showing the graph
// several times imports them once (kept on `globalThis` under their version).

const IMPORT = /((?:from|import)\s*\(?\s*)(['"])\.\/([\w.-]+\.js)\2/g;
const KEPT = (globalThis.__backpropNinjaWidget ||= { loads: {}, times: [] });

const blobUrl = (data) => URL.createObjectURL(new Blob([data], { type: 'text/javascript' }));

/** Import modules given as {file name: source}, each once, dependencies first. */
async function importAll(sources) {
  const urls = {};
  const urlOf = (name, seen = []) => {
    if (urls[name]) return urls[name];
    if (!(name in sources)) throw new Error(`the module ${name} was not sent by the kernel`);
    if (seen.includes(name)) throw new Error(`an import cycle through ${name}`);
    const text = sources[name].replace(IMPORT, (_, pre, q, dep) => `${pre}${q}${urlOf(dep, [...seen, name])}${q}`);
    urls[name] = blobUrl(text);
    return urls[name];
  };
  const out = {};
  for (const name of Object.keys(sources)) out[name] = await import(urlOf(name));
  return out;
}

/** plotly.js sets window.Plotly itself; a page that has one already keeps it. */
async function loadPlotly(bytes) {
  if (globalThis.Plotly) return;
  // a classic script, as the pages load it: the browser compiles it off the main thread
  await new Promise((resolve, reject) => {
    const s = Object.assign(document.createElement('script'), { src: blobUrl(bytes), onload: resolve, onerror: reject });
    document.head.append(s);
  });
  if (!globalThis.Plotly) throw new Error('plotly.js did not load');
}

/** Start importing the assets of an _Assets model (once per version); resolves to the modules. */
function load(assets) {
  const version = assets.get('version');
  if (!KEPT.loads[version]) {
    const t = (KEPT.load = { start: performance.now() });
    KEPT.loads[version] = (async () => {
      await loadPlotly(assets.get('plotly')); // before theme.js: it looks for window.Plotly once, on import
      t.plotly = performance.now();
      const mods = await importAll(assets.get('modules'));
      t.modules = performance.now();
      return mods;
    })();
    KEPT.loads[version].catch(() => { delete KEPT.loads[version]; }); // the next widget tries again
  }
  return KEPT.loads[version];
}

/** `promise`, or an error saying `what` once `ms` have passed. */
function within(promise, ms, what) {
  let late;
  const wait = new Promise((_, reject) => { late = setTimeout(() => reject(new Error(what)), ms); });
  return Promise.race([promise, wait]).finally(() => clearTimeout(late));
}

/** The assets straight from the kernel, in reply to a message of this widget (widget.py `_on_msg`):
 * for a front end that does not give a widget the others (each output in a frame of its own). */
function askKernel(model) {
  return new Promise((resolve) => {
    const on = (msg, buffers) => {
      if (!msg || !msg.assets) return;
      model.off('msg:custom', on);
      const got = { ...msg.assets, plotly: buffers[0] };
      resolve({ get: (key) => got[key] });
    };
    model.on('msg:custom', on);
    model.send({ ask: 'assets' });
  });
}

/** The pages' modules: from the kernel's one _Assets widget (widget_manager resolves the reference),
 * else asked of the kernel (which answers once the running cell is done). */
async function modulesOf(model, times) {
  const ref = String(model.get('_assets') || '').replace(/^IPY_MODEL_/, '');
  let assets;
  try {
    if (KEPT.noRefs || !model.widget_manager || !ref) throw new Error('no reference');
    assets = await within(model.widget_manager.get_model(ref), 3000, 'no _Assets model');
    times.via = 'reference';
  } catch {
    assets = await within(askKernel(model), 120_000, 'the kernel did not send plotly.js and the figures');
    times.via = 'kernel';
  }
  return load(assets);
}

/** An _Assets model (this module is its _esm too) starts the imports as soon as it arrives,
 * while the kernel is still checking the gradients the graph will show. */
function initialize({ model }) {
  if (model.get('version') && model.get('modules')) load(model).catch(() => {});
}

/** Resolves once `el` is in the page (JupyterLab renders a view before attaching it). */
function attached(el) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const look = () => (el.isConnected || performance.now() - t0 > 5000 ? resolve() : requestAnimationFrame(look));
    look();
  });
}

const py = (b) => (b === null || b === undefined ? 'None' : b ? 'True' : 'False');

function node(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

function skeleton(info) {
  const head = node('div', { class: 'bpn-head' },
    node('div', { class: 'bpn-title', text: info.header }),
    node('div', { class: 'bpn-summary', 'data-testid': 'bpn-summary', text: info.summary }),
    info.first_wrong ? node('div', { class: 'bpn-first', 'data-testid': 'bpn-first-wrong',
      text: info.first_wrong_lines[0] }) : null);
  const legend = node('p', { class: 'bpn-legend' },
    node('span', { class: 'ring solved' }), ' right ',
    node('span', { class: 'ring failing' }), ' wrong ',
    node('span', { class: 'ring revealed' }), ' wrong only because it used a wrong gradient ',
    node('span', { class: 'lg pending' }), ' to do (or not checked here) ',
    node('span', { class: 'lg current' }), ' the last one you wrote · fill: the sign of your gradient (mean/rms), '
      + 'size: its norm · click a node for |yours − true|');
  const graph = node('div', { class: 'plot bpn-graph', 'data-testid': 'bpn-graph', role: 'img',
    'aria-label': 'The compute graph with your gradients, forward left to right' });
  const labels = node('div', { class: 'plot graph-labels', 'aria-hidden': 'true' });
  const scroll = node('div', { class: 'graph-scroll' }, node('div', { class: 'graph-wrap' }, graph, labels));
  const panel = node('div', { class: 'bpn-node', 'data-testid': 'bpn-node', hidden: true });
  return { root: node('div', { class: 'bpn-root' }, head, legend, scroll, panel), graph, labels, panel };
}

/** The dlogits inspector's elements, as frontend/dlogits.js's createDlogitsView finds them. */
function dlogitsBox() {
  return node('section', { class: 'bpn-dlogits', 'data-testid': 'bpn-dlogits' },
    node('div', { class: 'bpn-dlogits-head' },
      node('b', { text: 'dlogits, row by row' }),
      node('button', { type: 'button', class: 'small', 'data-action': 'sort', 'aria-pressed': 'false' }, 'Worst rows first')),
    node('p', { class: 'empty', 'data-field': 'dlogits-empty', text: 'No probs in this forward pass.' }),
    node('div', { 'data-field': 'dlogits-body', hidden: true },
      node('p', { class: 'source', 'data-field': 'source' }),
      node('div', { class: 'plot', 'data-plot': 'dlogits', 'data-testid': 'bpn-plot-dlogits' }),
      node('p', { class: 'hint', 'data-field': 'row-hint', text: 'Click a row to see how it pulls on each character.' }),
      node('div', { class: 'row-info', 'data-field': 'row-info' }),
      node('div', { 'data-box': 'row', hidden: true },
        node('p', { class: 'hint', text: 'Descent moves each logit against its bar: each wrong character goes down by '
          + 'its probability, the target goes up by 1 − p, and the two sides cancel (a row of dlogits sums to 0).' }),
        node('div', { class: 'plot', 'data-plot': 'row', 'data-testid': 'bpn-plot-row' }))));
}

/** Rows of a float32 block (one node's |yours − true|) as plain arrays, as derive's AttemptPublic.absdiff. */
function absdiff(view, at) {
  const aligned = view.byteOffset % 4 === 0;
  const all = aligned ? new Float32Array(view.buffer, view.byteOffset, view.byteLength / 4)
    : new Float32Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
  const out = [];
  for (let i = 0; i < at.rows; i += 1) out.push(Array.from(all.subarray(at.offset + i * at.cols, at.offset + (i + 1) * at.cols)));
  return out;
}

/** One node's panel: its verdict, message, cmp line, |yours − true| and, at logits, the dlogits rows. */
function showNode(ctx, name) {
  const panel = ctx.ui.panel;
  if (!name) { panel.hidden = true; return Promise.resolve(); }
  const ref = ctx.G.gradNameOf(ctx.graph, name);
  const n = ctx.graph.nodes.find((x) => x.name === ref);
  const row = ctx.rows[ref];
  panel.hidden = false;
  panel.dataset.node = ref;
  const title = node('h3', { class: 'bpn-node-title' }, node('code', { text: n.kind === 'data' ? ref : `d${ref}` }),
    ` (${n.shape.join(', ')})`, row ? node('span', { class: `bpn-badge ${row.status}`, 'data-testid': 'bpn-verdict',
      text: row.verdict }) : null);
  const parts = [title];
  if (n.kind === 'data') {
    parts.push(node('p', { text: `${ref} is data (the batch's character indices): no gradient flows into it.` }));
  } else if (!row) {
    parts.push(node('p', { text: `${ctx.info.title}: this check covers ${ctx.info.order.map((x) => `d${x}`).join(', ')}. `
      + `d${ref} is not checked here.` }));
  } else {
    if (row.message) parts.push(node('p', { class: 'bpn-message', text: row.message }));
    if (row.diagnosis) parts.push(node('p', { class: 'bpn-diagnosis', 'data-testid': 'bpn-diagnosis', text: row.diagnosis }));
    if (row.note) parts.push(node('p', { class: 'bpn-note', text: row.note }));
    if (row.status !== 'todo' && !row.given) {
      parts.push(node('p', { class: 'bpn-cmp', text: `exact: ${py(row.exact)} | approximate: ${py(row.approx)} | `
        + `maxdiff: ${row.maxdiff_text}` }));
    }
  }
  const at = ctx.model.get('diff_index')[ref];
  // |yours − true| where there is one: not for a value that is no float tensor or has another shape (the message says)
  const written = Boolean(at) && row && row.status !== 'todo' && !row.given;
  const plot = node('div', { class: 'plot bpn-diff', 'data-testid': 'bpn-diff' });
  if (written) parts.push(plot);
  const showDl = ref === 'logits' && ctx.dlState.rowData;
  if (showDl) {
    const box = dlogitsBox();
    parts.push(box);
    ctx.dl = { box, view: null };
  } else ctx.dl = null;
  // the last node's figures go: Plotly keeps a window listener per plot until it is purged
  for (const gd of panel.querySelectorAll('.js-plotly-plot')) globalThis.Plotly.purge(gd);
  panel.replaceChildren(...parts);
  const jobs = [];
  if (written) {
    const diffMount = ctx.theme.mount(plot);
    const r = { absdiff: absdiff(ctx.model.get('diffs'), at), maxdiff: at.maxdiff,
      verdict: row.status === 'correct' ? 'correct' : 'wrong', fromCell: false };
    jobs.push(diffMount.show(ctx.R.diffFigure(r, ref, ctx.ctxState, false)).then(() => { plot.dataset.rendered = ref; }));
  }
  if (showDl) jobs.push(drawDlogits(ctx));
  return Promise.all(jobs);
}

/** The dlogits heatmap and row inspector in the open logits panel (ctx.dl), made on first use. */
function drawDlogits(ctx) {
  if (!ctx.dl) return Promise.resolve();
  if (!ctx.dl.view) {
    ctx.dl.view = ctx.D.createDlogitsView(ctx.dl.box, { onRow: (i) => { ctx.dlState.row = i; drawDlogits(ctx); } });
    ctx.dl.box.querySelector('[data-action=sort]').addEventListener('click', () => {
      ctx.dlState.sortByLoss = !ctx.dlState.sortByLoss;
      drawDlogits(ctx);
    });
    if (ctx.dlState.row === null) { // open on the row the net gets most wrong
      const m = ctx.D.dlogitsModel(ctx.dlState.rowData, ctx.batch.vocab);
      ctx.dlState.row = m ? m.byLoss[0] : null;
    }
  }
  const done = ctx.dl.view.render(ctx.dlState);
  // the pages' caption speaks of the stepper's backward pass; here it is the exercise 2 formula on your probs
  ctx.dl.box.querySelector('[data-field=source]').textContent = 'the true dlogits, (probs − onehot(Yb)) / n from your '
    + 'forward pass\'s probs: what yours should be, and the push and pull each row puts on the characters';
  return done;
}

async function render({ model, el }) {
  const t0 = performance.now();
  const times = { start: t0 };
  KEPT.times.push(times);
  el.classList.add('bpn-widget');
  const info = model.get('info');
  const ui = skeleton(info);
  el.replaceChildren(ui.root);
  let mods;
  try {
    [mods] = await Promise.all([modulesOf(model, times), attached(el)]);
  } catch (err) {
    el.replaceChildren(node('p', { class: 'bpn-error', 'data-testid': 'bpn-error',
      text: `The graph could not be drawn here: ${err.message}. Run the cell again; if it stays, `
        + 'the notebook may block blob: scripts (the graph needs them, and nothing else).' }));
    throw err;
  }
  times.assets = performance.now();
  const G = mods['graph.js'];
  const R = mods['deriveresult.js'];
  const D = mods['dlogits.js'];
  const theme = mods['theme.js'];
  const graph = model.get('graph');
  const view = model.get('view');
  const rows = Object.fromEntries(model.get('rows').map((r) => [r.node, r]));
  const batch = model.get('batch');
  const dims = info.dims;
  const ctxState = { present: false, config: { batch_size: dims.n, n_hidden: dims.hidden, n_embd: dims.embd },
    session: { vocab: batch.vocab } };
  const state = { graph, mode: view.mode, frame: view.frame, computed: view.computed, checks: view.checks,
    derive: view.derive, selected: model.get('selected') || null, present: false, step: 0, batch: 0 };

  const dlState = { session: { vocab: batch.vocab }, rowData: batch.probs ? { probs: batch.probs, Yb: batch.Yb, Xb: batch.Xb } : null,
    sortByLoss: false, row: null, present: false };
  // what a node's panel needs (showNode, drawDlogits); dl: the open dlogits box, if any
  const ctx = { model, ui, info, graph, rows, batch, ctxState, dlState, dl: null, G, R, D, theme };


  const graphView = G.createGraphView(ui.graph, ui.labels, {
    onSelect: (name) => {
      state.selected = name;
      model.set('selected', name);
      model.save_changes();
      graphView.render(state);
      showNode(ctx, name);
    },
  });
  const onSelected = () => {
    const name = model.get('selected') || null;
    if (name === state.selected) return;
    state.selected = name;
    graphView.render(state);
    showNode(ctx, name);
  };
  model.on('change:selected', onSelected);
  await graphView.render(state);
  times.drawn = performance.now();
  el.dataset.firstDrawMs = String(Math.round(times.drawn - t0));
  el.dataset.assetsMs = String(Math.round(times.assets - t0));
  if (state.selected) await showNode(ctx, state.selected);
  // anywidget scopes off() to this view already; the handler named says so here too: other views keep theirs
  return () => { model.off('change:selected', onSelected); };
}

export default { initialize, render };
