// How big to draw the compute graph, and the axes both of its layers share
// (graph.js): pure functions of the layout (layoutGraph), presenter mode and
// the width there is.
import { calloutChars, calloutHeightPx, calloutLinesMax } from './callout.js';
import { COLORS, FONT, baseLayout } from './theme.js';

export const ROW_UNITS = 64; // layoutGraph's row spacing (graph.js), in x/y units
const MARGIN = (present) => ({ l: 12, r: present ? 112 : 86, t: 8, b: 8 }); // the right one holds the colour bar
const xUnits = (lay) => lay.width + 110; // the x range below: [-50, width + 60]

// Labels are spaced for 12 px text at 1 px a unit (labelWidth); text of px
// pixels needs px / 12 px a unit, with 10% to spare (measured in the browser:
// at that scale no two labels' boxes touch).
const unitsPerLabelPx = 0.9 / 12;
const LABEL_CLEARANCE = 32; // px: labels sit clear of a node up to this size
const clearance = (present) => LABEL_CLEARANCE * (present ? 1.2 : 1);

/**
 * How big to draw the graph in an area `avail` px wide: {width, height, px},
 * px the labels' font size. Presenter mode keeps its labels at 18 px, readable
 * from the back of a room; elsewhere they shrink to fit down to 10 px. A graph
 * that needs more than `avail` is drawn wider and the page scrolls it
 * sideways (a phone, a projector), labels never printed over each other.
 * The height gives each row room for its label under (or over) its node. Pure.
 */
export function graphSize(lay, present, avail) {
  const m = MARGIN(present);
  const widthFor = (px) => Math.ceil(m.l + m.r + px * unitsPerLabelPx * xUnits(lay));
  const fit = (avail - m.l - m.r) / (unitsPerLabelPx * xUnits(lay));
  let px = present ? Math.min(22, Math.max(18, fit)) : Math.min(12, fit);
  if (!present && px < 10) px = 11; // it scrolls anyway: a size one can read on a phone
  px = Math.round(px * 10) / 10;
  // vertically in px: a label (the name; outside presenter mode its shape below it, at 0.85 of it) below
  // or above its node, clear of the next row's node; the callout above the top row
  const label = clearance(present) / 2 + (present ? 1.25 : 2.4) * px;
  const rowPx = label + (present ? 14 : 12); // a node up to 24 px (28 in presenter mode) clears the label above it
  const k = rowPx / ROW_UNITS; // px a unit
  const top = -Math.min(...lay.rows) * ROW_UNITS;
  // the two-branch callout: broken into lines that fit the graph on screen (callout.js)
  const chars = calloutChars(avail, present);
  const calloutPx = calloutHeightPx(calloutLinesMax(lay, chars), present);
  const y1 = top + (label + calloutPx + 6) / k;
  const y0 = -Math.max(...lay.rows) * ROW_UNITS - (label + 6) / k;
  const height = Math.round((y1 - y0) * k + m.t + m.b);
  return {
    width: Math.max(avail, widthFor(px)), height, px, y0, y1, clearance: clearance(present),
    calloutY: top + (label + calloutPx / 2 + 4) / k, calloutChars: chars,
  };
}

/** Axes, size and margins shared by the graph and its label overlay, so the two line up. */
export function frameLayout(lay, present, size) {
  return baseLayout(present, {
    width: size.width,
    height: size.height,
    margin: { ...MARGIN(present), autoexpand: false },
    xaxis: { visible: false, range: [-50, lay.width + 60], fixedrange: true },
    yaxis: { visible: false, range: [size.y0, size.y1], fixedrange: true },
    font: { family: FONT, size: present ? 16 : 12, color: COLORS.ink },
  });
}

/** Where a node sits, in px from the graph's left edge (to scroll it into view). */
export function nodeLeft(lay, size, present, name) {
  const n = lay.nodes.find((x) => x.name === name);
  return n ? xLeft(lay, size, present, n.x) : null;
}

/** Where x (in x units) sits, in px from the graph's left edge. */
export function xLeft(lay, size, present, x) {
  return MARGIN(present).l + (x + 50) * pxPerUnit(lay, size, present);
}

/** Horizontal px per x unit at this size. */
export function pxPerUnit(lay, size, present) {
  const m = MARGIN(present);
  return (size.width - m.l - m.r) / xUnits(lay);
}

/** Vertical px per y unit at this size (the graph's rows and columns scale apart). */
export function pxPerUnitY(size, present) {
  const m = MARGIN(present);
  return (size.height - m.t - m.b) / (size.y1 - size.y0);
}
