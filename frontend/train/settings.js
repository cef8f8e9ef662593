// The run's settings on the training page: its defaults, the address bar
// (which names the session, so a reload picks the run up where it was) and
// the settings form (a new run).
import { allowed, defaults, intFrom } from '../configspec.js';

// The lecture's training run (exercise 4): 200 hidden units, lr 0.1, /10 halfway through 200k steps;
// everything else as the server's defaults.
export const DEFAULTS = Object.freeze(defaults({ n_hidden: 200, lr_decay_step: 100000 }));

const form = () => document.querySelector('form.config');

/** The config and the session the address asks for (what it says wrong is left out). */
export function readUrl() {
  const q = new URLSearchParams(window.location.search);
  const cfg = {};
  const set = (k, v) => { if (v !== undefined) cfg[k] = v; };
  set('seed', intFrom('seed', q.get('seed')));
  set('n_hidden', intFrom('n_hidden', q.get('n_hidden')));
  set('batch_size', intFrom('batch_size', q.get('batch')));
  const lr = Number(q.get('lr'));
  if (q.get('lr') && allowed('lr', lr)) cfg.lr = lr;
  if (q.get('decay') === 'never') cfg.lr_decay_step = null;
  else set('lr_decay_step', intFrom('lr_decay_step', q.get('decay')));
  if (allowed('dtype', q.get('dtype'))) cfg.dtype = q.get('dtype');
  const sid = q.get('session');
  return { cfg, session: sid && /^[\w-]{1,64}$/.test(sid) ? sid : null };
}

/** session: {id, config}, the one on screen. */
export function syncUrl(session) {
  const c = session.config;
  const q = new URLSearchParams({
    session: session.id, seed: c.seed, n_hidden: c.n_hidden, batch: c.batch_size, lr: c.lr,
    decay: c.lr_decay_step === null ? 'never' : c.lr_decay_step, dtype: c.dtype,
  });
  window.history.replaceState(null, '', `?${q}`);
}

export function fillConfigForm(c) {
  const f = form();
  f.seed.value = c.seed;
  f.n_hidden.value = c.n_hidden;
  f.batch_size.value = c.batch_size;
  f.lr.value = c.lr;
  f.lr_decay_step.value = c.lr_decay_step === null ? '' : c.lr_decay_step;
  f.dtype.value = c.dtype;
}

export function readConfigForm() {
  const f = form();
  const num = (v) => (v === '' ? null : Number(v));
  return {
    seed: num(f.seed.value) ?? DEFAULTS.seed, n_hidden: num(f.n_hidden.value) ?? DEFAULTS.n_hidden,
    batch_size: num(f.batch_size.value) ?? DEFAULTS.batch_size, lr: num(f.lr.value) ?? DEFAULTS.lr,
    lr_decay_step: num(f.lr_decay_step.value), dtype: f.dtype.value,
  };
}
