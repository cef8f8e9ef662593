// The live stream: WebSocket /api/sessions/{id}/stream (server/routes/stream.py).
//
// Commands go out as JSON text. Every command is answered by a StreamReply
// (or a StreamError) immediately followed by the frame it causes; `send`
// resolves to both. Frames that are not such an answer (live training) go to
// `onFrame`. Binary frames are decoded without copying the float32 buffer.

import { decodeFrame, jsonFrame } from '../api.js';

export { decodeFrame, jsonFrame };

export class StreamError extends Error {
  constructor(message, cmd) {
    super(message);
    this.cmd = cmd;
  }
}

export class Stream {
  /** handlers: {onFrame({frame, tensors}), onError(StreamError), onClose(event)} */
  constructor(sessionId, handlers) {
    this.id = sessionId;
    this.h = handlers;
    this.queue = []; // commands sent, waiting for their reply: {cmd, resolve, reject}
    this.answered = null; // a command whose reply came, waiting for its frame
    this.ws = null;
    this.closed = false;
  }

  connect() {
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${proto}//${window.location.host}/api/sessions/${encodeURIComponent(this.id)}/stream`);
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev) => this.receive(ev.data);
    ws.onclose = (ev) => {
      const pending = [...this.queue, ...(this.answered ? [this.answered] : [])];
      this.queue = [];
      this.answered = null;
      for (const p of pending) p.reject(new StreamError(`the stream closed (${ev.code})`, p.cmd));
      if (!this.closed && this.h.onClose) this.h.onClose(ev);
    };
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(this);
      ws.onerror = () => reject(new StreamError('could not open the stream', null));
    });
  }

  /** Send one command; resolves to {reply, frame, tensors}. */
  send(msg) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject(new StreamError('the stream is not open', msg.cmd));
        return;
      }
      this.queue.push({ cmd: msg.cmd, resolve, reject });
      this.ws.send(JSON.stringify(msg));
    });
  }

  receive(data) {
    let decoded;
    if (typeof data === 'string') {
      const obj = JSON.parse(data);
      if (obj.type === 'reply') {
        const p = this.queue.shift();
        if (p) {
          p.reply = obj.result;
          this.answered = p;
        }
        return;
      }
      if (obj.type === 'error') {
        const err = new StreamError(obj.message, obj.cmd);
        // an answer to the oldest command, or news from live training
        if (this.queue.length && (obj.cmd === this.queue[0].cmd || obj.cmd === null)) this.queue.shift().reject(err);
        else if (this.h.onError) this.h.onError(err);
        return;
      }
      decoded = jsonFrame(obj);
    } else {
      decoded = decodeFrame(data);
    }
    if (this.answered) {
      const p = this.answered;
      this.answered = null;
      p.resolve({ reply: p.reply, ...decoded });
    } else if (this.h.onFrame) {
      this.h.onFrame(decoded);
    }
  }

  close() {
    this.closed = true;
    if (this.ws) this.ws.close();
  }
}
