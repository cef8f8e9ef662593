// A shared link being rebuilt: how far the server's replay of its training
// has come (StreamProgress messages, server/sessions/replay.py), over the graph.
import { memo } from './theme.js';

const num = (n) => n.toLocaleString('en-US');

/** The sentence and the bar's fill for state.replay = {done, total, shared}, or null (pure).
 * `shared`: those updates were trained once for everyone opening this link (server/sessions/trajectories.py). */
export function replayModel(replay) {
  if (!replay || !replay.total) return null;
  const share = Math.min(1, replay.done / replay.total);
  const where = `update ${num(replay.done)} of ${num(replay.total)} (${Math.floor(share * 100)} %)`;
  return {
    share,
    text: replay.shared
      ? `Rebuilding the shared view: ${where}, trained once on the server for everyone who opens this link.`
      : `Rebuilding the shared view: replaying its training, ${where}.`,
  };
}

export function createReplayView(root) {
  const text = root.querySelector('[data-field=text]');
  const bar = root.querySelector('progress');
  const modelFor = memo(replayModel);
  return {
    render(state) {
      const m = modelFor(state.replay);
      root.hidden = !m;
      if (!m) return;
      text.textContent = m.text;
      bar.value = m.share;
      root.dataset.done = String(state.replay.done);
      root.dataset.shared = String(Boolean(state.replay.shared));
    },
  };
}
