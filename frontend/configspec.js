// The model's configuration as the server defines it (GET /api/config):
// every field's default and bounds, read once when a page loads, so that no
// page copies them. Forms get their inputs' min/max from here too.
import { api } from './api.js';

const { fields } = await api.config();

/** The lecture's config (the server's defaults), with `overrides`. */
export function defaults(overrides = {}) {
  const out = {};
  for (const [name, f] of Object.entries(fields)) out[name] = f.default;
  return { ...out, ...overrides };
}

/** True when `value` is allowed for the field `name`. */
export function allowed(name, value) {
  const f = fields[name];
  if (!f) return false;
  if (value === null) return f.nullable;
  if (f.choices) return f.choices.includes(value);
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  if (f.minimum !== null && value < f.minimum) return false;
  if (f.exclusive_minimum !== null && value <= f.exclusive_minimum) return false;
  if (f.maximum !== null && value > f.maximum) return false;
  return Number.isInteger(f.default) || f.default === null ? Number.isInteger(value) : true;
}

/** A whole number from text, if it is allowed for `name`; else undefined. */
export function intFrom(name, text) {
  if (text === null || text === undefined || !/^\d{1,19}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) && allowed(name, n) ? n : undefined;
}

/** Set min/max of a form's number inputs named after config fields. */
export function bound(form) {
  for (const input of form.querySelectorAll('input[type=number]')) {
    const f = fields[input.name];
    if (!f) continue;
    const lo = f.minimum ?? f.exclusive_minimum;
    if (lo !== null) input.min = String(lo);
    if (f.maximum !== null && f.maximum <= Number.MAX_SAFE_INTEGER) input.max = String(f.maximum);
  }
}
