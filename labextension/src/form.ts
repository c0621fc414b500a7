/**
 * The form built from a model's INPUT_SCHEMA: which control each input gets, its
 * starting value (the example), and the JSON value a control's content is sent as.
 */
import type { InputSpec } from './types';

export type FieldValue = string | boolean;
export type ControlKind = 'number' | 'integer' | 'checkbox' | 'text';

/** Which control an input gets. */
export function controlKind(spec: InputSpec): ControlKind {
  const type = spec.datatype.toUpperCase();
  if (!isScalar(spec)) {
    return 'text'; // a list, typed as JSON
  }
  if (type === 'BOOL') {
    return 'checkbox';
  }
  if (/^U?INT\d+$/.test(type)) {
    return 'integer';
  }
  if (/^(FP\d+|BF16)$/.test(type)) {
    return 'number';
  }
  return 'text';
}

/** The form's starting value for an input: its example, else empty. */
export function initialValue(spec: InputSpec): FieldValue {
  const kind = controlKind(spec);
  let example: unknown = spec.example;
  if (Array.isArray(example) && isScalar(spec)) {
    example = example[0];
  }
  if (kind === 'checkbox') {
    return example === true || example === 'true' || example === 1;
  }
  if (example === undefined || example === null) {
    return '';
  }
  return isScalar(spec) ? String(example) : JSON.stringify(example);
}

/**
 * The JSON value sent for a form value, or undefined to leave the input out.
 * Values that do not parse are sent as typed, so the server's 400 names the problem.
 */
export function encodeValue(spec: InputSpec, value: FieldValue): unknown {
  if (typeof value === 'boolean') {
    return value;
  }
  if (value.trim() === '' && controlKind(spec) !== 'text') {
    return undefined;
  }
  if (value === '' && !spec.required) {
    return undefined;
  }
  if (!isScalar(spec)) {
    try {
      return JSON.parse(value);
    } catch {
      return value;
    }
  }
  if (controlKind(spec) === 'integer' || controlKind(spec) === 'number') {
    const number = Number(value);
    return Number.isFinite(number) ? number : value;
  }
  return value;
}

export function isScalar(spec: InputSpec): boolean {
  return spec.shape.length === 1 && spec.shape[0] === 1;
}
