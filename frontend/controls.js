// The control bar and the status line: buttons call actions by name; render
// only sets what the state implies (disabled, pressed, numbers).
import { bound } from './configspec.js';
import { tapeOrder } from './tape.js';
import { fmt } from './theme.js';

export function statusModel(state) {
  const order = tapeOrder(state);
  const pos = state.forwarded ? order.length - state.remaining.length : 0;
  return {
    step: state.step,
    loss: state.forwarded && state.loss !== null ? fmt(state.loss, 6) : '–',
    next: !state.forwarded ? 'forward (f)' : state.next ? `d${state.next}` : 'done: update (u)',
    pos: `${pos}/${order.length}`,
    dtype: state.config.dtype,
    mode: state.mode,
    params: state.session ? state.session.n_params.toLocaleString('en-US') : '–',
  };
}

export function createControls(root, statusEl, actions) {
  for (const btn of root.querySelectorAll('[data-action]')) {
    btn.addEventListener('click', () => actions[btn.dataset.action]());
  }
  for (const btn of root.querySelectorAll('[data-mode]')) {
    btn.addEventListener('click', () => actions.setMode(btn.dataset.mode));
  }
  for (const btn of document.querySelectorAll('[data-top-action]')) {
    btn.addEventListener('click', () => actions[btn.dataset.topAction]());
  }
  const form = root.querySelector('form[data-testid=config]');
  bound(form); // min/max as the server allows them
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    actions.applyConfig({
      seed: Number(f.get('seed')), dtype: f.get('dtype'),
      n_hidden: Number(f.get('n_hidden')), batch_size: Number(f.get('batch_size')),
    });
  });
  const upload = root.querySelector('input[type=file]');
  upload.addEventListener('change', () => {
    if (upload.files && upload.files[0]) actions.upload(upload.files[0]);
    upload.value = '';
  });
  let shownConfig = null;
  return {
    render(state) {
      const s = statusModel(state);
      for (const [k, v] of Object.entries(s)) {
        const el = statusEl.querySelector(`[data-status=${k}]`);
        if (el && el.textContent !== String(v)) el.textContent = v;
      }
      const busy = state.slow && !state.playing;
      const can = {
        forward: !state.forwarded,
        back: state.computed.length > 0,
        next: !state.forwarded || state.remaining.length > 0,
        toEnd: state.forwarded && state.remaining.length > 0,
        update: state.forwarded,
        fullStep: true,
        togglePlay: true,
        reset: true,
      };
      for (const btn of root.querySelectorAll('[data-action]')) {
        const a = btn.dataset.action;
        if (a in can) btn.disabled = busy || !can[a];
      }
      const play = root.querySelector('[data-action=togglePlay]');
      play.setAttribute('aria-pressed', state.playing ? 'true' : 'false');
      play.querySelector('span').textContent = state.playing ? 'Pause' : 'Play';
      for (const btn of root.querySelectorAll('[data-mode]')) {
        btn.setAttribute('aria-pressed', btn.dataset.mode === state.mode ? 'true' : 'false');
      }
      if (shownConfig !== state.config) {
        const c = state.config;
        form.elements.seed.value = c.seed;
        form.elements.dtype.value = c.dtype;
        form.elements.n_hidden.value = c.n_hidden;
        form.elements.batch_size.value = c.batch_size;
        shownConfig = c;
      }
      document.body.classList.toggle('present', state.present);
      document.getElementById('graph').classList.toggle('busy', Boolean(state.slow)); // one element's style, not the whole page's
      const p = document.querySelector('[data-top-action=togglePresent]');
      if (p) p.setAttribute('aria-pressed', state.present ? 'true' : 'false');
    },
  };
}
