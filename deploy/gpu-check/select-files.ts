// Which files of node_modules a webgpu run loads, from strace logs of such runs
// (pack.sh makes them), copied into the folder the GPU archive is made of.
//
//   node --import tsx deploy/gpu-check/select-files.ts REPO STAGE TRACE…
//
// A package whose files were touched is copied whole when it is small (its
// lazily loaded files — an error path, a rarely taken branch — come along for
// almost nothing), else only the files the traces show plus its package.json:
// @tensorflow/tfjs alone is ~141 MB, of which a webgpu run reads a few, and
// webgpu ships Dawn for five platforms. Prints a JSON summary on stdout.

import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/** Packages at most this big (bytes, their own files, not nested node_modules) are copied whole. */
const WHOLE_PACKAGE_MAX = 1 << 20;
/** Files a run never reads: documentation, type declarations, source maps, tests. */
const JUNK = /(^|\/)(readme|changelog|history|authors|contributing)(\.[a-z]+)?$|\.(md|markdown|map|d\.ts|d\.mts|d\.cts|tsbuildinfo)$|(^|\/)(tests?|__tests__|docs?|examples?|\.github|benchmarks?)\//i;

const LICENCE = /^(licen[cs]e|copying|notice)(\.[a-z]+)?$/i;

const [repoArg, stageArg, ...traces] = process.argv.slice(2);
if (!repoArg || !stageArg || traces.length === 0) {
  process.stderr.write('usage: select-files.ts REPO STAGE TRACE…\n');
  process.exit(2);
}
const repo = resolve(repoArg);
const modules = join(repo, 'node_modules') + sep;
const stage = resolve(stageArg);

/** Every existing regular file under `prefix` that a trace names (opened, stat'ed, executed). */
function tracedFiles(prefix: string): Set<string> {
  const found = new Set<string>();
  for (const t of traces) {
    for (const m of readFileSync(t, 'utf8').matchAll(/"(\/[^"]+)"/g)) {
      const p = resolve(m[1]);
      if (!p.startsWith(prefix) || found.has(p)) continue;
      try {
        if (lstatSync(p).isFile()) found.add(p);
      } catch {
        // probed but absent: resolution tries many names
      }
    }
  }
  return found;
}

/** node_modules/a or node_modules/@s/a (nested ones too): the package a file belongs to. */
function packageRoot(file: string): string {
  const parts = relative(repo, file).split(sep);
  let end = -1;
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === 'node_modules' && i + 1 < parts.length) end = parts[i + 1].startsWith('@') ? i + 2 : i + 1;
  }
  return join(repo, ...parts.slice(0, end + 1));
}

/** A package's own files (not its nested node_modules), relative to its root. */
function ownFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules') walk(p);
      } else if (e.isFile()) {
        out.push(relative(root, p));
      }
    }
  };
  walk(root);
  return out;
}

function copy(file: string): number {
  const to = join(stage, relative(repo, file));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(file, to);
  return statSync(file).size;
}

const traced = tracedFiles(modules);
const byPackage = new Map<string, string[]>();
for (const f of traced) {
  const root = packageRoot(f);
  // A file right in node_modules (npm's .package-lock.json) belongs to no package.
  if (!statSync(root).isDirectory()) continue;
  byPackage.set(root, [...(byPackage.get(root) ?? []), f]);
}
const summary: { package: string; how: 'whole' | 'traced'; files: number; bytes: number }[] = [];
for (const [root, files] of [...byPackage].sort(([a], [b]) => a.localeCompare(b))) {
  const own = ownFiles(root);
  const size = own.reduce((s, f) => s + statSync(join(root, f)).size, 0);
  const whole = size <= WHOLE_PACKAGE_MAX;
  // Source maps are read (tsx turns source-mapped stack traces on) but never needed.
  const chosen = new Set(whole ? own.filter((f) => !JUNK.test(f)).map((f) => join(root, f)) : files.filter((f) => !JUNK.test(relative(root, f))));
  // Resolution reads package.json; the licences travel with the code they cover.
  for (const f of own) if (f === 'package.json' || LICENCE.test(f)) chosen.add(join(root, f));
  let bytes = 0;
  for (const f of chosen) bytes += copy(f);
  summary.push({ package: relative(repo, root), how: whole ? 'whole' : 'traced', files: chosen.size, bytes });
}
const total = summary.reduce((s, p) => s + p.bytes, 0);

// The project's own code the runs loaded must be in the stage already (pack.sh copies it first).
const CODE = /\.(ts|js|mjs|cjs|json|py)$/;
const missing = [...tracedFiles(repo + sep)]
  .filter((f) => !f.startsWith(modules) && !f.includes(`${sep}.git${sep}`) && CODE.test(f) && !existsSync(join(stage, relative(repo, f))))
  .map((f) => relative(repo, f));
process.stdout.write(JSON.stringify({ packages: summary.length, files: summary.reduce((s, p) => s + p.files, 0), bytes: total, missing, detail: summary }) + '\n');
if (missing.length > 0) {
  process.stderr.write(`select-files: the traced runs loaded project files the archive lacks: ${missing.join(', ')}\n`);
  process.exitCode = 1;
}
