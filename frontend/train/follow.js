// A follower of a training-page room: train.html?follow=CODE shows the
// teacher's live training instead of a run of its own. The room's socket
// (server/routes/rooms.py, kept open by ../followbar.js) sends the run
// (RoomTrain: config, play state, the history so far), then its frames
// (binary stream frames, as the page's own stream sends: a FramePublic header
// and float32 tensors), which the page draws as it draws its own; nothing
// here sends a command to the teacher's session.
import { followRoom } from '../followbar.js';

/** handlers: {graph(GraphPublic), train(RoomTrain), frame({frame, tensors})} */
export function createTrainFollow(handlers) {
  let playing = null; // the teacher's, once the room said
  const room = followRoom(`
    <span class="follow-playing" data-testid="follow-playing"></span>
    <span class="follow-actions">
      <a class="button-link" href="/static/train.html" data-testid="own-train" target="_blank" rel="noopener"
        title="A run of your own, in a new tab: this one keeps following">Train on my own ↗</a>
    </span>`, {
    what: () => `Following the teacher's training · room ${room.code}`,
    draw: () => {
      room.el('follow-playing').textContent = room.ended || playing === null ? '' : playing ? '▶ training' : '❚❚ paused';
    },
    frame: handlers.frame,
    message: (m) => {
      if (m.type === 'graph') handlers.graph(m.graph);
      else if (m.type === 'train') { playing = m.playing; handlers.train(m); }
    },
  });
  return room;
}
