// The word list the stepper trains on: its file name, the way back to the
// built-in names, the notice for a link whose list this server has not got
// (upload it again, or use the built-in names), and an upload's progress:
// the bytes sent, then the server checking them, then the examples built.
import { api } from './api.js';

const MB = (bytes) => `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
const words = (n) => `${n.toLocaleString('en-US')} words`;

/** What the bar under the controls says about the data set (pure). */
export function datasetLine(state) {
  const info = state.datasetInfo;
  if (!info || info.id !== state.config.dataset) return state.config.dataset === 'default' ? 'built-in names' : '';
  return `${info.name}: ${words(info.words)}, ${info.vocab.length} characters`;
}

export function createDatasetView({ label, toDefault, notice, bar }, { onUpload, onDefault }) {
  toDefault.addEventListener('click', onDefault);
  notice.querySelector('[data-action=use-default]').addEventListener('click', onDefault);
  const again = notice.querySelector('input[type=file]');
  again.addEventListener('change', () => {
    if (again.files && again.files[0]) onUpload(again.files[0]);
    again.value = '';
  });
  const meter = bar.querySelector('progress');
  const phase = bar.querySelector('[data-field=upload-phase]');

  /** fraction in [0, 1], or null for "working, no measure". */
  function show(text, fraction) {
    bar.hidden = false;
    if (fraction === null) meter.removeAttribute('value');
    else meter.value = fraction;
    phase.textContent = text;
  }

  return {
    render(state) {
      const line = datasetLine(state);
      if (label.textContent !== line) label.textContent = line;
      toDefault.hidden = state.config.dataset === 'default';
      const gone = state.datasetMissing;
      notice.hidden = !gone;
      if (gone) {
        notice.querySelector('[data-field=missing-text]').textContent = `This link trains on an uploaded word list `
          + `(id ${gone.id}) that this server does not have: it was uploaded to another server, or removed `
          + 'to make room. Upload the same file again to open the link exactly (the same words get the same id), '
          + 'or start with the built-in names.';
      }
    },

    /** Send a file with progress shown; resolves to its DatasetPublic. */
    async upload(file) {
      show(`Sending ${file.name}: 0% of ${MB(file.size)}`, 0);
      try {
        return await api.uploadDataset(file, (sent, total) => {
          if (sent < total) show(`Sending ${file.name}: ${Math.floor((100 * sent) / total)}% of ${MB(total)}`, sent / total);
          else show(`Checking the words of ${file.name} (${MB(total)}) on the server…`, null);
        });
      } catch (err) {
        bar.hidden = true;
        throw err;
      }
    },

    building(ds) { show(`Building the examples of ${words(ds.words)} and a fresh network…`, null); },
    done() { bar.hidden = true; },
  };
}
