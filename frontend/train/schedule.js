// The learning-rate schedule of a run, in words: by default the lecture's
// (0.1 for the first half of its 200,000 steps, then 0.01). Pure.
const LECTURE_STEPS = 200000;

const num = (x) => x.toLocaleString('en-US');

export function scheduleText(config) {
  if (!config) return '';
  const lr = config.lr;
  const after = lr / 10; // as the server computes it (model/mlp.py lr_at)
  const lecture = config.lr === 0.1 && config.lr_decay_step === LECTURE_STEPS / 2;
  if (config.lr_decay_step === null || config.lr_decay_step === undefined) {
    return `lr ${lr} at every step: no drop (the lecture drops it to 0.01 halfway through its ${num(LECTURE_STEPS)} steps).`;
  }
  const tail = lecture
    ? `: the lecture's schedule, whose drop comes halfway through its ${num(LECTURE_STEPS)} planned steps`
    : '';
  return `lr ${lr} for updates 1-${num(config.lr_decay_step)}, then ${after}${tail}.`;
}
