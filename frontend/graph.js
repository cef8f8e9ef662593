// The compute graph: a deterministic left-to-right layout of the registry
// (pure), the Plotly figure for one state (pure), and a thin mount.
import { calloutFontPx, calloutLines, calloutWidthPx } from './callout.js';
import { ROW_UNITS, frameLayout, graphSize, nodeLeft, pxPerUnit, pxPerUnitY, xLeft } from './graphframe.js';
import { COLORS, DIVERGING, MONO, fmt, memo, mount, sci } from './theme.js';

/** The fused group a drawn node stands for (exercises 2 and 3), or undefined. */
export function fusedGroup(graph, name) {
  return graph.fused_groups.find((g) => g.name === name);
}

/** The gradient a drawn node shows: a fused group's output (dlogits, dhprebn), else its own. */
export function gradNameOf(graph, name) {
  const g = fusedGroup(graph, name);
  return g ? g.output : name;
}

/** The nodes to draw: the registry, or with the two chains collapsed (from the server's groups). */
export function viewNodes(graph, fused) {
  const nodes = graph.nodes.map((n) => ({ ...n }));
  if (!fused) return nodes;
  const groupOf = {};
  for (const g of graph.fused_groups) for (const m of g.members) groupOf[m] = g;
  const out = [];
  const seen = new Set();
  for (const n of nodes) {
    const g = groupOf[n.name];
    if (!g) {
      out.push({ ...n, inputs: dedupe(n.inputs.map((i) => (groupOf[i] ? groupOf[i].name : i))) });
      continue;
    }
    if (seen.has(g.name)) continue;
    seen.add(g.name);
    const inputs = dedupe(g.members.flatMap((m) => graph.nodes.find((x) => x.name === m).inputs)
      .filter((i) => !g.members.includes(i)).map((i) => (groupOf[i] ? groupOf[i].name : i)));
    out.push({ name: g.name, kind: 'fused', inputs, shape: g.shape, members: g.members, output: g.output, branches: 1 });
  }
  return out;
}

function dedupe(xs) {
  return [...new Set(xs)];
}

const shapeText = (shape) => (shape.length ? `(${shape.join(',')})` : 'scalar');
// Rough label width in px at 12 px: used only to keep neighbouring labels apart.
const labelWidth = (n) => Math.max(n.name.length, shapeText(n.shape).length) * 7.2 + 10;

/**
 * Place every node: column = forward depth, row 0 = the main path back from
 * the loss, row -1 = side computations (drawn above), rows >= 1 = leaves
 * (drawn below, one column left of their first consumer). Pure and
 * deterministic: the same node list always gives the same picture.
 */
export function layoutGraph(nodes) {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const isLeaf = (n) => n.inputs.length === 0;
  const depth = new Map();
  for (const n of nodes) {
    if (isLeaf(n)) continue;
    const ds = n.inputs.map((i) => (isLeaf(byName.get(i)) ? 0 : depth.get(i)));
    depth.set(n.name, 1 + Math.max(0, ...ds));
  }
  // The main path: from the last node, always step to the shallowest computed input.
  const spine = new Set();
  let cur = nodes[nodes.length - 1];
  while (cur) {
    spine.add(cur.name);
    const ins = cur.inputs.map((i) => byName.get(i)).filter((x) => !isLeaf(x));
    if (!ins.length) break;
    cur = ins.reduce((a, b) => (depth.get(b.name) < depth.get(a.name) ? b : a));
  }
  const place = new Map(); // name -> {col, row}
  const taken = new Set();
  const key = (c, r) => `${c}:${r}`;
  for (const n of nodes) {
    if (isLeaf(n)) continue;
    const col = depth.get(n.name);
    let row = spine.has(n.name) ? 0 : -1;
    while (taken.has(key(col, row))) row -= 1;
    place.set(n.name, { col, row });
    taken.add(key(col, row));
  }
  for (const n of nodes) {
    if (isLeaf(n)) continue;
    const col = depth.get(n.name) - 1;
    for (const i of n.inputs) {
      if (!isLeaf(byName.get(i)) || place.has(i)) continue;
      let row = taken.has(key(col, 0)) ? 1 : 0;
      while (taken.has(key(col, row))) row += 1;
      place.set(i, { col, row });
      taken.add(key(col, row));
    }
  }
  // Columns as wide as their labels need, so long names do not collide.
  const ncol = Math.max(...[...place.values()].map((p) => p.col)) + 1;
  const widthAt = new Map();
  for (const n of nodes) widthAt.set(key(place.get(n.name).col, place.get(n.name).row), labelWidth(n));
  const xs = [0];
  for (let c = 1; c < ncol; c += 1) {
    let gap = 64;
    for (const r of [-3, -2, -1, 0, 1, 2, 3]) {
      const a = widthAt.get(key(c - 1, r));
      const b = widthAt.get(key(c, r));
      if (a && b) gap = Math.max(gap, (a + b) / 2 + 6);
    }
    xs.push(xs[c - 1] + gap);
  }
  const placed = nodes.map((n) => {
    const p = place.get(n.name);
    return { ...n, col: p.col, row: p.row, x: xs[p.col], y: -p.row * ROW_UNITS, label: shapeText(n.shape) };
  });
  const edges = [];
  for (const n of nodes) for (const i of n.inputs) edges.push({ src: i, dst: n.name });
  return { nodes: placed, edges, width: xs[ncol - 1], rows: [...place.values()].map((p) => p.row) };
}

/** Status of each drawn node: data, pending, done, current. */
export function nodeStatus(state, vnodes) {
  const done = new Set(state.computed);
  const last = state.computed[state.computed.length - 1] || null;
  const fused = state.mode === 'fused';
  const out = {};
  for (const n of vnodes) {
    if (n.kind === 'data') { out[n.name] = 'data'; continue; }
    const ref = n.kind === 'fused' ? n.output : n.name;
    let isDone = done.has(ref);
    // fused: the loss node and the cross-entropy group are done with dlogits, the first fused step
    if (fused && n.kind === 'loss') isDone = state.computed.length > 0;
    out[n.name] = ref === last ? 'current' : isDone ? 'done' : 'pending';
  }
  return out;
}

/** Signed statistic for the node colour: mean / rms of the gradient, in [-1, 1]. */
export function signedStat(summary) {
  if (!summary || summary.mean === null || !summary.norm) return 0;
  const rms = summary.norm / Math.sqrt(Math.max(1, summary.numel));
  return Math.max(-1, Math.min(1, summary.mean / rms));
}

const sizeFor = (norm) => (norm ? Math.max(14, Math.min(36, 22 + 3.2 * Math.log10(norm))) : 18);
const widthFor = (norm) => (norm ? Math.max(1, Math.min(8, 5 + 1.1 * Math.log10(norm))) : 1.5);

export function badgeText(check) {
  if (!check) return '';
  if (check.exact) return '✓ exact';
  return `${check.approx ? '≈' : '✗'} ${sci(check.maxdiff)}`;
}

const SYMBOL = { data: 'square', param: 'diamond', activation: 'circle', loss: 'circle', fused: 'hexagon' };

/**
 * The static layer: node names and shapes, and the colour bar. It changes only
 * with the layout, the size or presenter mode, never while stepping, so a
 * step does not pay for re-measuring 29 rich-text labels.
 */
export function labelsFigure(lay, present, size) {
  const vnodes = lay.nodes;
  const layout = frameLayout(lay, present, size);
  return {
    data: [
      {
        type: 'scatter', mode: 'markers+text', hoverinfo: 'skip', name: 'labels',
        x: vnodes.map((n) => n.x), y: vnodes.map((n) => n.y),
        marker: { size: size.clearance, opacity: 0 },
        // presenter mode: names only (the shape is in the inspector's title), so the
        // graph leaves the code and its explanation room on a 720 px screen
        text: vnodes.map((n) => (present ? `<b>${n.name}</b>` : `<b>${n.name}</b><br><span style="font-size:0.85em">${n.label}</span>`)),
        textposition: vnodes.map((n) => (n.row < 0 ? 'top center' : 'bottom center')),
        textfont: { family: MONO, size: size.px, color: COLORS.ink },
        cliponaxis: false,
      },
      {
        // one invisible point carries the colour bar of the node colours
        type: 'scatter', mode: 'markers', hoverinfo: 'skip', x: [lay.nodes[0].x], y: [lay.nodes[0].y],
        marker: {
          size: 1, opacity: 0, color: [0], colorscale: DIVERGING, cmin: -1, cmax: 1, showscale: true,
          colorbar: {
            title: { text: 'mean/rms<br>of the grad', font: { size: present ? 14 : 10 } }, thickness: 8, len: 0.8,
            tickvals: [-1, 0, 1], ticktext: ['−1', '0', '+1'], tickfont: { size: present ? 13 : 10 },
            x: 1.01, xanchor: 'left', xpad: 4,
          },
        },
      },
    ],
    layout,
  };
}

/** Colour of a signed statistic in [-1, 1] on the diverging scale. */
export function divergingColor(t) {
  const u = (Math.max(-1, Math.min(1, t)) + 1) / 2;
  for (let i = 1; i < DIVERGING.length; i += 1) {
    const [u1, c1] = DIVERGING[i];
    const [u0, c0] = DIVERGING[i - 1];
    if (u <= u1) {
      const f = (u - u0) / (u1 - u0);
      const a = hex(c0);
      const b = hex(c1);
      return `rgb(${a.map((v, k) => Math.round(v + f * (b[k] - v))).join(',')})`;
    }
  }
  return DIVERGING[DIVERGING.length - 1][1];
}
const hex = (c) => [1, 3, 5].map((i) => parseInt(c.slice(i, i + 2), 16));

/**
 * The figure for one state. Pure: reads only its arguments.
 * Edges: grey forward arrows while pending; once the gradient has flowed,
 * purple arrows pointing backward (into the input), width by log-norm.
 * Lines and arrowheads are layout shapes, a few paths (below); labels and the
 * colour bar live in `labelsFigure`.
 */
export function graphFigure(lay, state, size) {
  const { frame, checks, selected, present } = state;
  const summaries = (frame && frame.nodes) || {};
  const vnodes = lay.nodes;
  const status = nodeStatus(state, vnodes);
  const pos = new Map(vnodes.map((n) => [n.name, n]));
  const gradOf = (n) => {
    const ref = n.kind === 'fused' ? n.output : n.name;
    return summaries[ref] ? summaries[ref].grad : null;
  };
  const flows = new Map(((frame && frame.edges) || []).map((e) => [`${e.src}>${e.dst}`, e]));
  const fusedMembers = Object.fromEntries(vnodes.filter((n) => n.members).map((n) => [n.name, n.members]));
  const consumersShown = {};
  for (const e of lay.edges) (consumersShown[e.src] ||= []).push(e.dst);

  // Gradient carried by the edge src -> dst (backward: from dst into src).
  function edgeNorm(e) {
    const dsts = fusedMembers[e.dst] || [e.dst];
    let sq = 0;
    let found = false;
    for (const d of dsts) {
      const f = flows.get(`${e.src}>${d}`);
      if (f) { sq += f.norm * f.norm; found = true; }
    }
    if (found) return Math.sqrt(sq);
    const src = pos.get(e.src);
    const g = src && gradOf(src);
    return g && consumersShown[e.src].length === 1 ? g.norm : null;
  }

  const hover = (n) => {
    const ref = n.kind === 'fused' ? n.output : n.name;
    const s = summaries[ref] || {};
    const lines = [`<b>${n.name}</b> ${n.label}  <i>${n.kind}</i>`];
    if (s.value) lines.push(`value  mean ${fmt(s.value.mean)}  std ${fmt(s.value.std)}`);
    if (s.grad) {
      lines.push(`d${ref}  ‖·‖ ${fmt(s.grad.norm)}  mean ${fmt(s.grad.mean)}`);
      lines.push(`range [${fmt(s.grad.min)}, ${fmt(s.grad.max)}]`);
    }
    if (checks[ref]) lines.push(`vs autograd: ${badgeText(checks[ref])}`);
    lines.push(status[n.name] === 'data' ? 'data: no gradient' : `status: ${status[n.name]}`);
    return lines.join('<br>');
  };

  const scale = present ? 1.3 : 1;
  const isDone = (n) => status[n.name] === 'done' || status[n.name] === 'current';
  // a fused node is a whole chain: always drawn large
  const drawnSize = (n) => (n.kind === 'fused' ? 30 : isDone(n) ? sizeFor(gradOf(n) && gradOf(n).norm) : 18) * scale;
  const current = vnodes.filter((n) => status[n.name] === 'current');
  const sel = vnodes.filter((n) => n.name === selected);
  const last = current[0];

  // One marker trace for every node: colour, size, outline per node.
  const nodeTrace = {
    type: 'scatter', mode: 'markers', name: 'nodes',
    x: vnodes.map((n) => n.x), y: vnodes.map((n) => n.y),
    customdata: vnodes.map((n) => n.name),
    hovertext: vnodes.map(hover), hoverinfo: 'text',
    marker: {
      symbol: vnodes.map((n) => SYMBOL[n.kind] || 'circle'),
      size: vnodes.map(drawnSize),
      color: vnodes.map((n) => (status[n.name] === 'data' ? COLORS.data
        : isDone(n) ? divergingColor(signedStat(gradOf(n))) : COLORS.pending)),
      line: {
        color: vnodes.map((n) => (status[n.name] === 'current' ? COLORS.ink : isDone(n) ? '#52606d' : COLORS.pendingLine)),
        width: vnodes.map((n) => (status[n.name] === 'current' ? 3.5 : status[n.name] === 'data' ? 1 : 1.5)),
      },
    },
  };

  // Edges of one colour and width are one path shape, and the arrowheads of
  // one colour another (filled, no outline: a stroke would blunt their tips).
  // Plotly draws each shape on its own: a shape an edge and a marker an
  // arrowhead cost ~5 of a redraw's ~13 ms at the lecture's size.
  const lines = new Map();
  const tips = new Map();
  const pathOf = (map, key, shape) => {
    if (!map.has(key)) map.set(key, { ...shape, d: [] });
    return map.get(key).d;
  };
  const kx = pxPerUnit(lay, size, present);
  const ky = pxPerUnitY(size, present);
  const add = (color, width, tail, head) => {
    pathOf(lines, `${color}|${width}`, { color, width }).push(`M${tail.x},${tail.y}L${head.x},${head.y}`);
    // the arrowhead, in px so it keeps its shape however the axes scale: its
    // tip at the head node's edge, pointing away from the tail
    const dx = (head.x - tail.x) * kx;
    const dy = (head.y - tail.y) * ky;
    const len = Math.hypot(dx, dy) || 1;
    const [ux, uy] = [dx / len, dy / len];
    const stand = drawnSize(head) / 2 + 1;
    const long = 6 + 1.6 * width;
    const half = 2.5 + 0.8 * width;
    const at = (along, across) => `${head.x + (-ux * along - uy * across) / kx},${head.y + (-uy * along + ux * across) / ky}`;
    pathOf(tips, color, { color, width: 0 }).push(`M${at(stand, 0)}L${at(stand + long, half)}L${at(stand + long, -half)}Z`);
  };
  const annotations = [];
  for (const e of lay.edges) {
    const a = pos.get(e.src);
    const b = pos.get(e.dst);
    if (a.kind === 'data' || !isDone(a)) {
      add('#b8c2cc', 1.1, a, b);
      continue;
    }
    const norm = edgeNorm(e);
    const into = last && e.src === last.name;
    add(into ? COLORS.current : 'rgba(106,81,163,0.8)', Math.round(widthFor(norm) * scale * 2) / 2, b, a);
    if (into && norm !== null) {
      annotations.push({
        x: (a.x + b.x) / 2, y: (a.y + b.y) / 2, xref: 'x', yref: 'y', showarrow: false,
        text: `‖·‖ ${fmt(norm, 3)}`, font: { family: MONO, size: (present ? 14 : 11), color: COLORS.ink },
        bgcolor: 'rgba(255,255,255,0.85)', borderpad: 1, yshift: 11,
      });
    }
  }
  // A node fed by two branches: a callout above it says its gradient is their sum
  // (the tensors add; their norms do not), or, in the lecture's order, that only
  // the first part is in so far. Not in "Derive it" mode: it would tell the
  // learner the two-branch answer.
  const callout = Boolean(last && last.branches === 2 && state.mode !== 'fused' && !state.derive);
  let calloutBox = null;
  if (callout) {
    const [first, second] = last.consumers; // in the order the code adds them
    const waiting = Boolean(frame && frame.remaining && frame.remaining.includes(last.name));
    const total = gradOf(last) ? gradOf(last).norm : null;
    const norm = (d) => fmt(edgeNorm({ src: last.name, dst: d }), 3);
    const lines = calloutLines({ name: last.name, first, second, waiting, norms: [norm(first), norm(second), fmt(total, 3)] },
      size.calloutChars);
    const text = lines.join('<br>');
    // the box is centred over the node where it fits, else moved in from the graph's edge
    const fontPx = calloutFontPx(present);
    const half = calloutWidthPx(lines, present) / 2 / pxPerUnit(lay, size, present);
    const ax = Math.max(-50 + half, Math.min(lay.width + 60 - half, last.x));
    calloutBox = { x0: ax - half, x1: ax + half }; // a scrolled graph keeps it in view
    annotations.push({
      // the box sits at the top edge, above every label; its stem points at the node
      x: last.x, y: last.y, xref: 'x', yref: 'y', axref: 'x', ayref: 'y', ax,
      ay: size.calloutY, yanchor: 'middle',
      showarrow: true, arrowhead: 0, arrowwidth: 1.5, arrowcolor: COLORS.current, standoff: 16 * scale,
      text,
      font: { family: MONO, size: fontPx, color: COLORS.ink },
      bgcolor: 'rgba(255,248,225,0.97)', bordercolor: COLORS.current, borderwidth: 1, borderpad: 4,
    });
  }

  const data = [
    // a soft halo behind the node being computed
    {
      type: 'scatter', mode: 'markers', x: current.map((n) => n.x), y: current.map((n) => n.y), hoverinfo: 'skip',
      marker: { size: 54 * scale, color: 'rgba(240,180,41,0.35)', line: { width: 0 } },
    },
    nodeTrace,
    // the inspected node: an open ring
    {
      type: 'scatter', mode: 'markers', x: sel.map((n) => n.x), y: sel.map((n) => n.y), hoverinfo: 'skip',
      marker: { symbol: 'circle-open', size: 44 * scale, color: COLORS.flow, line: { width: 2.5, dash: 'dot' } },
    },
  ];
  if (state.derive) data.push(...deriveRings(vnodes, state.derive, scale));
  const shapes = [...lines.values(), ...tips.values()].map(({ color, width, d }) => ({
    type: 'path', layer: 'below', xref: 'x', yref: 'y', path: d.join(''), line: { color, width },
    ...(width ? {} : { fillcolor: color }),
  }));
  const layout = { ...frameLayout(lay, present, size), hovermode: 'closest', shapes, annotations };
  return { data, layout, calloutBox };
}

// "Derive it" mode (derive.js): a ring per node the learner solved, had
// revealed or got wrong, and a mark on the first wrong one.
const DERIVE_RING = { solved: '#2f9e44', revealed: '#f08c00', failing: '#e03131' };
function deriveRings(vnodes, derive, scale) {
  const ref = (n) => (n.kind === 'fused' ? n.output : n.name);
  const ringed = vnodes.filter((n) => DERIVE_RING[derive.status[ref(n)]]);
  const wrong = vnodes.filter((n) => ref(n) === derive.firstWrong);
  return [
    {
      type: 'scatter', mode: 'markers', name: 'derive', hoverinfo: 'skip',
      x: ringed.map((n) => n.x), y: ringed.map((n) => n.y),
      marker: { symbol: 'circle-open', size: 36 * scale, line: { width: 3.5 },
        color: ringed.map((n) => DERIVE_RING[derive.status[ref(n)]]) },
    },
    {
      type: 'scatter', mode: 'text', name: 'first wrong', hoverinfo: 'skip',
      // above the node, or below one of the top row, whose label is above it
      x: wrong.map((n) => n.x), y: wrong.map((n) => n.y + (n.row < 0 ? -30 : 30)), text: wrong.map(() => '<b>✗ first wrong</b>'),
      textfont: { family: MONO, size: 12 * scale, color: DERIVE_RING.failing }, cliponaxis: false,
    },
  ];
}

/** The node a scrolled graph keeps in view: the inspected one, else the one just computed, else the next. */
function focusOf(state) {
  if (state.selected) return state.selected;
  const last = state.computed[state.computed.length - 1];
  return last || state.next;
}

/**
 * The graph view: layout cached per (graph, mode); figure per state; labels
 * static. The two layers sit in `.graph-wrap`, inside a scroller (`.graph-scroll`)
 * that the graph outgrows where its labels need more room than the screen has.
 */
export function createGraphView(el, labelsEl, { onSelect }) {
  const m = mount(el, {
    onClick: (ev) => {
      const p = ev.points && ev.points.find((q) => q.customdata);
      if (p) onSelect(p.customdata);
    },
  });
  const labels = mount(labelsEl);
  const wrap = el.parentElement;
  const scroller = wrap.parentElement;
  const layoutFor = memo((graph, mode) => layoutGraph(viewNodes(graph, mode === 'fused')));
  const sizeFor = memo(graphSize);
  const figureFor = memo((lay, frame, computed, checks, selected, present, mode, derive, size) =>
    graphFigure(lay, { frame, computed, checks, selected, present, mode, derive }, size));
  const labelsFor = memo(labelsFigure);
  let focused = null;
  // The scroller's width, kept by a ResizeObserver (it reports after layout,
  // when reading it is free): read in render, after the other views' DOM
  // writes, it forced a layout of the whole page on every render (~14 ms a
  // key press at the lecture's size). A change of width draws the graph again.
  let width = scroller.clientWidth;
  let last = null;
  let view = null;
  new ResizeObserver(() => {
    if (scroller.clientWidth === width) return;
    width = scroller.clientWidth;
    if (last) view.render(last);
  }).observe(scroller);
  // keep the focused node on screen when the graph is wider than its scroller,
  // and the two-branch callout over it whole (its lines fit the screen's width)
  function follow(lay, size, present, name, box) {
    const seen = width;
    if (size.width <= seen || !name) return;
    const x = nodeLeft(lay, size, present, name);
    if (x === null) return;
    const left = scroller.scrollLeft;
    if (box) {
      const a = xLeft(lay, size, present, box.x0);
      const b = xLeft(lay, size, present, box.x1);
      if (a < left || b > left + seen) scroller.scrollTo({ left: Math.max(0, (a + b) / 2 - seen / 2) });
      focused = `${name}:${size.width}`;
      return;
    }
    const key = `${name}:${size.width}`;
    if (key === focused && x > left + 0.15 * seen && x < left + 0.85 * seen) return;
    focused = key;
    if (x < left + 0.15 * seen || x > left + 0.85 * seen) scroller.scrollTo({ left: Math.max(0, x - seen / 2) });
  }
  view = {
    render(state) {
      last = state;
      if (!state.graph) return Promise.resolve();
      const lay = layoutFor(state.graph, state.mode);
      // re-layout only on real size changes
      const avail = Math.max(240, Math.floor((width || 1500) / 20) * 20);
      const size = sizeFor(lay, state.present, avail);
      if (wrap.style.width !== `${size.width}px`) wrap.style.width = `${size.width}px`;
      scroller.classList.toggle('scrolls', size.width > avail); // style.css fades its edges: there is more
      const fig = figureFor(lay, state.frame, state.computed, state.checks, state.selected, state.present, state.mode,
        state.derive, size);
      const pos = state.computed.length;
      const key = `${state.step}:${state.batch}:${state.mode}:${pos}`;
      fig.after = () => {
        el.dataset.renderedPos = String(pos);
        el.dataset.renderedKey = key;
        el.dataset.labelPx = String(size.px);
        follow(lay, size, state.present, focusOf(state), state.selected ? null : fig.calloutBox);
      };
      const drawn = m.show(fig);
      labels.show(labelsFor(lay, state.present, size));
      return drawn;
    },
    layoutFor,
  };
  return view;
}
