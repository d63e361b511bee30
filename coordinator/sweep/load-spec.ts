// A sweep file from disk: YAML or JSON (JSON is YAML, so one parser gives both
// their line numbers), checked by shared/sweeps/spec-check.ts, every error
// turned into one line naming the file, the line and the field.

import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { MAX_SWEEP_SPEC_BYTES } from '../../shared/protocol/limits.ts';
import { checkSweepSpec, formatPath, SweepSpecError } from '../../shared/sweeps/spec-check.ts';
import type { OptionCatalog } from '../../shared/sweeps/spec-check.ts';
import type { SweepSpec } from '../../shared/sweeps/types.ts';
import { UsageError } from '../cli-common.ts';
import { CONTINUOUS_ONLY, FOURROOMS_ONLY, JOB_KEYS } from '../run-options.ts';
import type { JobOptions } from '../run-options.ts';


const flag = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** `plearn run` options by flag name, per experiment family. */
export function optionCatalog(): OptionCatalog {
  const without = (skip: readonly (keyof JobOptions)[]) => JOB_KEYS.filter((k) => !skip.includes(k)).map(flag);
  return { fourrooms: without(CONTINUOUS_ONLY), continuous: without(FOURROOMS_ONLY) };
}

/** Where a field path sits in the file, for error messages: "file line N: ". */
export interface SpecLocator {
  (path: readonly (string | number)[]): string;
}

export interface LoadedSweep {
  readonly spec: SweepSpec;
  readonly text: string;
  readonly file: string;
  readonly locate: SpecLocator;
}

export async function loadSweepFile(file: string): Promise<LoadedSweep> {
  let text: string;
  try {
    const buf = await readFile(file);
    if (buf.byteLength > MAX_SWEEP_SPEC_BYTES) throw new UsageError(`${file}: ${buf.byteLength} bytes exceeds the limit of ${MAX_SWEEP_SPEC_BYTES} for a sweep file`);
    text = buf.toString('utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read sweep file ${file}: ${(e as Error).message}`);
  }
  return parseSweepText(text, file);
}

export function parseSweepText(text: string, file: string): LoadedSweep {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const line = first.linePos?.[0]?.line ?? (first.pos ? lines.linePos(first.pos[0]).line : undefined);
    const what = first.code === 'DUPLICATE_KEY' ? 'a key appears twice (a duplicated axis?)' : first.message.split('\n', 1)[0];
    throw new UsageError(`${file}${line !== undefined ? ` line ${line}` : ''}: ${what}`);
  }
  const locate: SpecLocator = (path) => {
    // The deepest node of the path that exists: an unknown metric's list item, else its list.
    for (let n = path.length; n > 0; n--) {
      const node = doc.getIn(path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      const key = n === path.length ? findKey(doc, path.slice(0, n)) : undefined;
      const range = key?.range ?? node?.range;
      if (range) return `${file} line ${lines.linePos(range[0]).line}`;
    }
    return file;
  };
  try {
    return { spec: checkSweepSpec(doc.toJS(), optionCatalog()), text, file, locate };
  } catch (e) {
    if (e instanceof SweepSpecError) throw new UsageError(`${locate(e.path)}: ${formatPath(e.path)}: ${e.reason}`);
    throw e;
  }
}

/** The key node of a mapping entry (where "axes.goals" itself is written), when the path ends at a key. */
function findKey(doc: ReturnType<typeof parseDocument>, path: readonly (string | number)[]): { range?: [number, number, number] } | undefined {
  const last = path[path.length - 1];
  if (typeof last !== 'string') return undefined;
  const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
  const items = (parent as { items?: { key?: { value?: unknown; range?: [number, number, number] } }[] } | null)?.items;
  return items?.find((p) => p.key?.value === last)?.key;
}
