#!/usr/bin/env node
// Builds the fast CPU addon (fastcpu.c → build/fastcpu.node) with the system C
// compiler against OpenBLAS. Run by the root package's `install` script, so it
// must never fail an install: anything missing (compiler, OpenBLAS headers,
// Node's headers) prints one line and exits 0, and plearn then uses the plain
// TensorFlow.js backends. `node shared/tensor/native/build.mjs --strict` exits
// non-zero instead, for CI steps that want to know.
//
// No node-gyp: it would need binding.gyp in the package root and, on machines
// without internet, Node's headers are already where `node` is installed.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'fastcpu.c');
// fastcpu.c includes these: a change to any of them rebuilds.
const sources = [src, join(here, 'gemm.c'), join(here, 'gridvi.c'), join(here, 'envstep.c')];
const newest = () => Math.max(...sources.map((f) => statSync(f).mtimeMs));
const outDir = join(here, 'build');
const out = join(outDir, 'fastcpu.node');
const strict = process.argv.includes('--strict');
const quiet = process.argv.includes('--quiet');

function skip(reason) {
  // An addon older than its source must not outlive a failed rebuild.
  if (existsSync(out) && statSync(out).mtimeMs < newest()) rmSync(out, { force: true });
  process.stdout.write(`plearn: fast CPU path not built (${reason}); the plain TensorFlow.js backend will be used\n`);
  process.exit(strict ? 1 : 0);
}

if (process.env.PLEARN_FAST_CPU === 'off') skip('PLEARN_FAST_CPU=off');
if (process.platform !== 'linux') skip(`platform ${process.platform} is not supported yet`);

const upToDate = existsSync(out) && statSync(out).mtimeMs >= newest() && !process.argv.includes('--force');
if (upToDate) {
  if (!quiet) process.stdout.write(`plearn: fast CPU addon up to date (${out})\n`);
  process.exit(0);
}

// Node's own headers: next to the running binary (official tarballs, NodeSource
// and Debian packages all install include/node under the same prefix).
const prefix = dirname(dirname(process.execPath));
const nodeInclude = [join(prefix, 'include', 'node'), '/usr/include/node', '/usr/local/include/node'].find((d) =>
  existsSync(join(d, 'node_api.h')),
);
if (!nodeInclude) skip(`node_api.h not found under ${prefix}/include/node`);

const cc = process.env.CC || 'cc';
function run(args) {
  return execFileSync(cc, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}
try {
  run(['--version']);
} catch {
  skip(`no C compiler (${cc}); install build-essential`);
}

// Debian's libopenblas-dev puts cblas.h on the default include path; some
// layouts keep it in an openblas subfolder.
const blasIncludes = ['/usr/include/openblas', '/usr/include/x86_64-linux-gnu/openblas-pthread'].filter((d) =>
  existsSync(join(d, 'cblas.h')),
);

mkdirSync(outDir, { recursive: true });
const tmp = `${out}.${process.pid}.tmp`;
const base = [
  // -fno-trapping-math: nothing reads the FP exception flags, and without it GCC keeps the
  // selects of exp/tanh/sigmoid as branches, so those loops ran scalar (10× slower).
  '-O3', '-std=gnu11', '-fPIC', '-shared', '-pthread', '-fno-math-errno', '-fno-trapping-math', '-fvisibility=hidden',
  '-Wall', '-Wno-unused-parameter',
  `-I${nodeInclude}`, ...blasIncludes.map((d) => `-I${d}`),
  src, '-o', tmp, '-lopenblas', '-lm',
];
// Per-ISA clones where the compiler supports them; plain -O3 otherwise.
const attempts = process.arch === 'x64' ? [['-DPLEARN_CLONES', ...base], base] : [base];
let lastError = '';
for (const args of attempts) {
  try {
    run(args);
    renameSync(tmp, out);
    if (!quiet) process.stdout.write(`plearn: built fast CPU addon ${out}\n`);
    process.exit(0);
  } catch (e) {
    const stderr = e && typeof e === 'object' && 'stderr' in e ? String(e.stderr) : String(e);
    lastError = stderr;
    rmSync(tmp, { force: true });
  }
}
const hint = /cblas\.h|lopenblas/.test(lastError) ? 'OpenBLAS missing; install libopenblas-dev' : lastError.split('\n').find((l) => /error/.test(l)) ?? 'compiler error';
skip(hint.trim());
