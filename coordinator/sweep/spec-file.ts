// A sweep spec file (YAML, or JSON, which the same parser reads) into a validated
// SweepSpec and its resolved cells. The YAML parser keeps positions, so every
// error, whether from the schema (shared/sweeps/spec.ts) or from a cell the job
// validators refuse (./cells.ts), comes out with the file and line of the field it
// names: `sweeps/x.yaml line 7: axes.goals[9]: 69 is out of range [1, 68] (cell 29: …)`.

import { readFile, stat } from 'node:fs/promises';
import type { Document, Node as YamlNode } from 'yaml';
import { isMap, isNode, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import type { ExperimentName, JobSpec } from '../../shared/experiments/jobs.ts';
import { EXPERIMENTS } from '../../shared/experiments/jobs.ts';
import { MAX_SWEEP_SPEC_BYTES } from '../../shared/protocol/limits.ts';
import type { CellWork } from '../../shared/sweeps/cells.ts';
import { metricNames } from '../../shared/sweeps/rows.ts';
import type { FieldPath, SweepCatalog } from '../../shared/sweeps/spec.ts';
import { parseSweepSpec, SweepSpecError } from '../../shared/sweeps/spec.ts';
import type { SweepCell, SweepSpec } from '../../shared/sweeps/types.ts';
import { CONTINUOUS_ONLY, FOURROOMS_ONLY, JOB_KEYS } from '../run-options.ts';
import type { LayoutReader } from '../run-options.ts';
import { resolveSweep } from './cells.ts';

export interface LoadedSweep {
  readonly spec: SweepSpec;
  /** The file as written (kept in sweep.json and the report). */
  readonly text: string;
  readonly cells: SweepCell[];
  /** Per cell, in cell order: the agent tasks and fits its job plans (what --dry-run prints). */
  readonly work: CellWork[];
  /** Per cell, in cell order: the job it stands for. */
  readonly jobs: JobSpec[];
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The `plearn run` flags that apply to each experiment, and the metrics each result carries. */
export function sweepCatalog(): SweepCatalog {
  const optionsOf = (foreign: readonly string[]) => JOB_KEYS.filter((k) => !foreign.includes(k)).map(kebab);
  const options = {} as Record<ExperimentName, readonly string[]>;
  const metrics = {} as Record<ExperimentName, readonly string[]>;
  for (const e of EXPERIMENTS) {
    options[e] = optionsOf(e === 'fourrooms' ? CONTINUOUS_ONLY : FOURROOMS_ONLY);
    metrics[e] = metricNames(e);
  }
  return { options, metrics };
}

type Parsed = Document.Parsed;

/** Line of the deepest node on `path` that the document has (a range form has no [i] to descend into). */
function lineOf(doc: Parsed, lines: LineCounter, path: FieldPath): number | undefined {
  const lineAt = (n: YamlNode) => (n.range ? lines.linePos(n.range[0]).line : undefined);
  let node: unknown = doc.contents;
  let line = isNode(node) ? lineAt(node) : undefined;
  for (const seg of path) {
    if (isMap(node) && typeof seg === 'string') {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === seg);
      if (pair === undefined) break;
      if (isNode(pair.key)) line = lineAt(pair.key) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item: unknown = node.items[seg];
      if (!isNode(item)) break;
      line = lineAt(item) ?? line;
      node = item;
    } else {
      break;
    }
  }
  return line;
}

/**
 * Repeated keys, which YAML parsers usually resolve silently to the last one: in a
 * sweep that is an axis given twice, so it is an error naming both lines.
 */
function checkDuplicateKeys(node: unknown, path: (string | number)[], lines: LineCounter, source: string): void {
  if (isMap(node)) {
    const first = new Map<string, number | undefined>();
    for (const pair of node.items) {
      if (!isScalar(pair.key)) throw new SweepSpecError(path, 'keys must be plain names, not lists or mappings');
      const key = String(pair.key.value);
      const line = pair.key.range ? lines.linePos(pair.key.range[0]).line : undefined;
      if (first.has(key)) {
        const what = path.length === 1 && path[0] === 'axes' ? 'axis' : 'key';
        const at = first.get(key);
        throw new SweepSpecError([...path, key], `duplicated ${what}${at !== undefined ? ` (first at line ${at})` : ''}`,
          line === undefined ? source : `${source} line ${line}`);
      }
      first.set(key, line);
      checkDuplicateKeys(pair.value, [...path, key], lines, source);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => checkDuplicateKeys(item, [...path, i], lines, source));
  }
}

/**
 * Parse and validate a spec's text; `source` names it in errors (the path as the
 * user gave it). Layout files its cells name are read through `readLayout` (the
 * file system by default; on the coordinator, the layouts the client sent).
 */
export async function parseSweepText(text: string, source: string, readLayout?: LayoutReader): Promise<LoadedSweep> {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false, prettyErrors: false });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const line = lines.linePos(err.pos[0]).line;
    throw new SweepSpecError([], `not valid YAML or JSON: ${err.message.split('\n')[0]}`, `${source} line ${line}`);
  }
  const locate = (e: unknown): unknown => {
    if (!(e instanceof SweepSpecError) || e.where !== undefined) return e;
    const line = lineOf(doc, lines, e.path);
    return e.at(line === undefined ? source : `${source} line ${line}`);
  };
  try {
    checkDuplicateKeys(doc.contents, [], lines, source);
    const spec = parseSweepSpec(doc.toJS(), sweepCatalog());
    const { cells, work, jobs } = await resolveSweep(spec, readLayout);
    return { spec, text, cells, work, jobs };
  } catch (e) {
    throw locate(e);
  }
}

/** Read, parse and validate a sweep spec file; every error is a SweepSpecError (exit 2) naming the field and line. */
export async function loadSweepFile(file: string): Promise<LoadedSweep> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > MAX_SWEEP_SPEC_BYTES) {
      throw new SweepSpecError([], `${size} bytes exceeds the limit of ${MAX_SWEEP_SPEC_BYTES} bytes for a sweep spec`, file);
    }
    text = await readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof SweepSpecError) throw e;
    throw new SweepSpecError([], `cannot read the sweep spec: ${(e as Error).message}`, file);
  }
  return parseSweepText(text, file);
}
