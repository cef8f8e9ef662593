// The three views of the backward pass, and the sentence that says what a
// switch did (the place is kept: the new view has what the old one finished).
import { tapeOrder } from './tape.js';

export const MODES = {
  atomic: 'Atomic view (exercise 1): every node its own step.',
  lecture: 'Lecture order: exercise 1 line by line as the notebook writes it; a node used twice gets its first part early and is checked half finished until the second arrives.',
  fused: 'Fused view (exercises 2 and 3): cross-entropy and BatchNorm are one step each, dlogits and dhprebn in one expression.',
};

/** Where a state stands on its tape: "12/27". */
export function place(state) {
  const order = tapeOrder(state);
  return `${state.forwarded ? order.length - state.remaining.length : 0}/${order.length}`;
}

/** What a switch did, in one or two sentences (pure). */
export function switchMessage(before, after) {
  const intro = MODES[after.mode];
  if (!after.forwarded) return `${intro} No batch drawn yet: press f.`;
  const kept = `You were at ${place(before)}; here you are at ${place(after)}, with the same gradients finished`;
  const lost = after.computed.length === 0 && before.computed.length > 0 && after.mode === 'fused'
    ? ' (none yet: the fused view computes the whole cross-entropy chain in its first step, and switching straight back returns you to where you were)'
    : '';
  return `${intro} ${kept}${lost}.`;
}
