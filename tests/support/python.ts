// Where the tests find Python for their cross-checks: the one virtualenv that
// tests/support/python-env.sh makes (npm test's set-up runs it), or
// $PLEARN_PYTHON. A test that needs Python and finds none skips with one line
// saying how to get it — except under CI=true, where the set-up made the venv
// and a missing one must fail the run rather than quietly skip the checks.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const PYTHON_VENV = process.env.PLEARN_PYTHON_VENV ?? join(homedir(), '.cache', 'plearn', 'python-venv');

export type PythonFound = { python: string } | { skip: string };

/** The venv of Debian's torch plus PyPI's onnx (tests/support/torch-env.sh makes it). */
export const TORCH_VENV = process.env.PLEARN_TORCH_VENV ?? join(homedir(), '.cache', 'plearn', 'torch-venv');

/** A Python that imports every module in `modules`, or why there is none; `venv` is where the set-up makes it. */
export function findPython(modules: readonly string[], venv = PYTHON_VENV): PythonFound {
  const candidates = [venv === PYTHON_VENV ? process.env.PLEARN_PYTHON : process.env.PLEARN_TORCH_PYTHON, join(venv, 'bin', 'python')]
    .filter((p): p is string => typeof p === 'string' && p !== '' && existsSync(p));
  const probe = `import ${modules.join(', ')}`;
  const tried: string[] = [];
  for (const python of candidates) {
    const r = spawnSync(python, ['-c', probe], { encoding: 'utf8' });
    if (r.status === 0) return { python };
    tried.push(`${python}: ${(r.stderr || r.error?.message || '').trim().split('\n').pop()}`);
  }
  const why = `no Python with ${modules.join(', ')} (${tried.length > 0 ? tried.join('; ') : `no venv at ${venv}`}); `
    + `make it with: bash tests/support/${venv === PYTHON_VENV ? 'python-env.sh' : 'torch-env.sh'}`;
  if (process.env.CI === 'true') throw new Error(`CI=true and ${why}`);
  return { skip: why };
}
