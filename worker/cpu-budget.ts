// How many CPUs this process may really use: Node's availableParallelism() sees
// the machine's cores (and the affinity mask), not a container's CPU quota or a
// Kubernetes pod's CPU request. A worker that starts one thread per host core in
// a pod that asked for two starves everything else on the node (the CLI pods of
// an in-cluster `plearn submit` printed nothing for minutes).

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** CPUs allowed by the cgroup's quota (v2 cpu.max, else v1 cfs quota/period), or undefined when unlimited or unreadable. */
export function cgroupCpus(read: (path: string) => string | undefined = readText): number | undefined {
  const v2 = read('/sys/fs/cgroup/cpu.max')?.trim().split(/\s+/);
  if (v2 && v2.length === 2 && v2[0] !== 'max') return quotaCpus(Number(v2[0]), Number(v2[1]));
  const quota = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim());
  const period = Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim());
  return quota > 0 ? quotaCpus(quota, period) : undefined;
}

function quotaCpus(quota: number, period: number): number | undefined {
  if (!(quota > 0) || !(period > 0)) return undefined;
  // A fraction of a CPU still runs one thread.
  return Math.max(1, Math.floor(quota / period));
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * The CPUs a worker should plan its threads for: the cores it sees, capped by the
 * cgroup quota (a CPU limit) and by PLEARN_CPU_REQUEST (the pod's CPU request in
 * whole cores; the chart passes it through the downward API).
 */
export function usableCpus(env: NodeJS.ProcessEnv, cores = availableParallelism(), quota = cgroupCpus()): number {
  const request = Number(env.PLEARN_CPU_REQUEST ?? '');
  let n = cores;
  if (quota !== undefined) n = Math.min(n, quota);
  if (Number.isInteger(request) && request > 0) n = Math.min(n, request);
  return Math.max(1, n);
}
