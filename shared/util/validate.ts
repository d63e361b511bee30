// Edge validation shared by the CLI and (later) the job API: every rejection names
// the field and the allowed range, so a user can fix the input without reading code.

export class ConfigError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** An integer in [min, max]; accepts numbers and decimal/scientific strings from the CLI ("1e6"). */
export function intIn(field: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || !Number.isInteger(n)) {
    throw new ConfigError(field, `expected an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  if (n < min || n > max) throw new ConfigError(field, `${n} is out of range [${min}, ${max}]`);
  return n;
}

export function numberIn(field: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) {
    throw new ConfigError(field, `expected a number in [${min}, ${max}], got ${JSON.stringify(value)}`);
  }
  if (n < min || n > max) throw new ConfigError(field, `${n} is out of range [${min}, ${max}]`);
  return n;
}

export function oneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(field, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

/** "x,y;x,y" → pairs of integers. */
export function cellList(field: string, value: unknown): Array<[number, number]> {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(field, 'expected cells as "x,y;x,y;…"');
  }
  return value.split(';').map((part) => {
    const m = /^\s*(-?\d+)\s*,\s*(-?\d+)\s*$/.exec(part);
    if (!m) throw new ConfigError(field, `"${part}" is not a cell "x,y"`);
    return [Number(m[1]), Number(m[2])] as [number, number];
  });
}

export interface Stat { mean: number; se: number; n: number }

/** Mean and standard error of the mean (sample standard deviation / √n; se = 0 for n = 1). */
export function stat(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: NaN, se: NaN, n: 0 };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, se: 0, n };
  const v = values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1);
  return { mean, se: Math.sqrt(v / n), n };
}
