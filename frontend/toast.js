// The one-line message at the bottom of both pages (#toast), and how a
// failed action is reported there: the server's own sentence when it sent one.
import { ApiError } from './api.js';

let timer = null;

export function toast(text, isError = false, ms = 3400) {
  const el = document.getElementById('toast');
  el.textContent = text;
  el.className = isError ? 'toast show error' : 'toast show';
  clearTimeout(timer);
  timer = setTimeout(() => { el.className = 'toast'; }, ms);
}

/** Show a failed action. A warning, not an error: a refused action is part of normal use. */
export function reportError(err, tag) {
  const msg = err instanceof ApiError
    ? (typeof err.detail === 'string' ? err.detail : err.message)
    : String(err && err.message ? err.message : err);
  const gone = err instanceof ApiError && err.status === 0; // no server at all: leave the sentence up
  toast(msg, true, gone ? 60000 : undefined);
  console.warn(`[${tag}]`, msg);
}
