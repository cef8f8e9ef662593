// The graph's two-branch callout (a node whose gradient is the sum of two
// parts): its text, broken into lines that fit the part of the graph on
// screen. On a phone the graph scrolls sideways and ~350 px of it show; the
// callout's two lines were ~520 px wide there, cut off at both sides. Pure.

export const calloutFontPx = (present) => (present ? 14 : 11);
const CHAR_EM = 0.62; // a monospace character's width, in font sizes
const LINE_EM = 1.3; // Plotly's line height in an annotation
const FRAME_PX = 10; // borderpad 4 on both sides and the border

/** Characters a line may hold when `seen` px of the graph are on screen. */
export function calloutChars(seen, present) {
  return Math.max(20, Math.floor((seen - 40) / (CHAR_EM * calloutFontPx(present))));
}

const plain = (s) => s.replace(/<[^>]+>/g, '');

/** Break each line at spaces so that none holds more than `chars` characters (tags not counted). */
export function wrapLines(lines, chars) {
  const out = [];
  for (const line of lines) {
    let cur = '';
    for (const word of line.split(' ')) {
      const next = cur ? `${cur} ${word}` : word;
      if (cur && plain(next).length > chars) {
        out.push(cur);
        cur = word;
      } else {
        cur = next;
      }
    }
    out.push(cur);
  }
  return out;
}

/**
 * The callout's lines for `name`, made of `first` and `second` (in the order
 * the code adds them); `waiting`: the lecture's order has only the first part
 * so far; norms: the two parts' and the sum's, formatted.
 */
export function calloutLines({ name, first, second, waiting, norms }, chars) {
  const nb = (...words) => words.join('\u00a0'); // kept on one line: a part's name with its norm
  const lines = waiting
    ? [`<b>d${name}</b> = ${nb('(from', `${first})`)} + ${nb('(from', `${second}:`)} still to come)`,
      'half finished: the check flags it until the second part is added']
    : [`<b>d${name}</b> = ${nb('(from', `${first})`)} + ${nb('(from', `${second})`)}`,
      `the tensors add up: ${nb('‖from', `${first}‖`, `${norms[0]},`)} ${nb('‖from', `${second}‖`, `${norms[1]},`)} `
      + nb('‖sum‖', norms[2])];
  return wrapLines(lines, chars);
}

/** The box's width in px for these lines. */
export function calloutWidthPx(lines, present) {
  return Math.max(...lines.map((l) => plain(l).length)) * CHAR_EM * calloutFontPx(present) + 2 * FRAME_PX;
}

/** The box's height in px for this many lines. */
export const calloutHeightPx = (n, present) => n * LINE_EM * calloutFontPx(present) + FRAME_PX;

/** The most lines any two-branch node of the layout can take at `chars` (norms at their widest): the graph's room for it. */
export function calloutLinesMax(lay, chars) {
  const widest = ['8.88e−10', '8.88e−10', '8.88e−10'];
  let most = 2;
  for (const n of lay.nodes) {
    if (n.branches !== 2 || !n.consumers) continue;
    const [first, second] = n.consumers;
    for (const waiting of [false, true]) {
      most = Math.max(most, calloutLines({ name: n.name, first, second, waiting, norms: widest }, chars).length);
    }
  }
  return most;
}
