// The Helm chart on a real one-node Kubernetes cluster (deploy/k8s-local): built
// from the Go module proxy, started as plain processes, the project's cpu image
// and a NATS image imported into its containerd. Opt-in: PLEARN_K8S_TEST=1 (root;
// .ci/run sets it). Every pod must pass its real probes under the chart's
// securityContext; a job submitted from inside the cluster must equal `plearn
// run`; a busy worker pod deleted, a `helm upgrade` and the active coordinator
// deleted, each mid-job, must lose nothing; `helm uninstall` plus `plearn cleanup`
// must leave nothing behind. Timings go to stderr.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { callApi } from '../../coordinator/cluster-cli.ts';
import type { ApiOp } from '../../shared/protocol/subjects.ts';
import { createNatsTransport } from '../../coordinator/nats/transport.ts';
import type { FourRoomsResult } from '../../shared/experiments/jobs.ts';
import { decodeJson } from '../../shared/protocol/codec.ts';
import type { JobView } from '../../shared/protocol/records.ts';
import { freePort } from '../support/nats-server.ts';
import { plearn, runProcess } from '../support/run-cli.ts';
import { eventually } from '../support/services.ts';

const IMAGE = 'localhost/plearn:ci-cpu';
const NS = 'plearn';
const timings: Record<string, number> = {};

function blocker(): string | false {
  if (process.env.PLEARN_K8S_TEST !== '1') return 'Kubernetes test: set PLEARN_K8S_TEST=1 (root; builds Kubernetes from the Go module proxy, ~10 min cold; .ci/run sets it)';
  if (process.getuid?.() !== 0) return 'Kubernetes test: needs root';
  return false;
}

let env: NodeJS.ProcessEnv = { ...process.env };
const run = (cmd: string, args: string[], timeoutMs = 120_000) => runProcess(cmd, args, { env, timeoutMs });

async function ok(cmd: string, args: string[], timeoutMs = 120_000): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')} failed:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

const kubectl = (args: string[], timeoutMs?: number) => ok('kubectl', args, timeoutMs);
const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
  const t0 = Date.now();
  try {
    return await fn();
  } finally {
    timings[name] = Number(((Date.now() - t0) / 1000).toFixed(1));
  }
};

interface Pod { metadata: { name: string; labels: Record<string, string>; deletionTimestamp?: string }; status: { phase: string; containerStatuses?: { ready: boolean }[] } }
async function pods(selector: string): Promise<Pod[]> {
  return (JSON.parse(await kubectl(['-n', NS, 'get', 'pods', '-l', selector, '-o', 'json'])) as { items: Pod[] }).items;
}
/** A coordinator pod's role, from its own /readyz (read inside the pod). */
const ROLE_SCRIPT = 'fetch("http://127.0.0.1:8081/readyz").then(r=>r.json()).then(j=>console.log(j.detail.role))';
const roleOf = async (pod: string): Promise<string> => (await kubectl(['-n', NS, 'exec', pod, '--', 'node', '-e', ROLE_SCRIPT])).trim();
const ready = (p: Pod) => p.status.phase === 'Running' && (p.status.containerStatuses ?? []).every((c) => c.ready);

const SPEC = (seed: number) => ({
  experiment: 'fourrooms',
  options: { agent: 'qlearning', steps: 30_000_000, goals: 4, goalsPerAgent: 1, reward: 'generic', fit: 'closed', support: 'full', seed },
});

describe('the chart on a one-node Kubernetes cluster', { skip: blocker() }, () => {
  let forward: ChildProcess | undefined;
  let natsUrl = '';
  let nc: NatsConnection;
  let installed = false;

  // The CLI's own call: with two coordinator replicas a write may reach the standby first, and is sent again.
  const api = <T>(op: ApiOp, body: unknown): Promise<T> => callApi<T>(nc, op, body);
  const finished = (id: string) => eventually(`job ${id} to end`, async () => {
    const v = (await api<{ job: JobView }>('get', { id })).job;
    return ['completed', 'failed', 'cancelled'].includes(v.status) ? v : undefined;
  }, 300_000, 1000);
  const shards = async (id: string): Promise<number[]> => {
    const info = await api<{ blob: string }>('result', { id });
    const t = await createNatsTransport(nc);
    try {
      const res = decodeJson((await t.blobs.get(info.blob))!) as FourRoomsResult;
      return res.seeds[0].agents.map((a) => a.shardIndex).sort();
    } finally {
      await t.close();
    }
  };
  const busyWorkerPod = async (id: string): Promise<string> => eventually('a busy worker pod', async () => {
    const v = (await api<{ job: JobView }>('get', { id })).job;
    const w = v.pending.find((p) => p.status === 'running')?.worker;
    return w && (await pods('app.kubernetes.io/component=worker')).some((p) => p.metadata.name === w) ? w : undefined;
  }, 120_000, 250);

  before(async () => {
    const bin = await timed('k8s binaries (build or cache)', async () => (await ok('bash', ['deploy/k8s-local/build.sh'], 1_800_000)).trim().split('\n').pop()!);
    env = { ...process.env, PATH: `${bin}:${process.env.PATH}` };
    // What a killed earlier run left: its processes, mounts, chains and bridge.
    await run('bash', ['deploy/k8s-local/down.sh'], 120_000);
    const kc = await timed('cluster up', async () => (await ok('bash', ['deploy/k8s-local/up.sh'], 300_000)).trim().split('\n').pop()!);
    env.KUBECONFIG = kc;
    await timed('images into containerd', async () => {
      await ok('podman', ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', 'image', 'exists', IMAGE]).catch(() => {
        throw new Error(`${IMAGE} missing: the image test (tests/image.test.ts, PLEARN_IMAGE_TEST=1) builds it`);
      });
      await ok('podman', ['--runtime', 'runc', '--cgroup-manager', 'cgroupfs', 'tag', IMAGE, 'localhost/plearn:ci2-cpu']);
      await ok('bash', ['deploy/k8s-local/images.sh', 'nats'], 300_000);
      await ok('bash', ['deploy/k8s-local/images.sh', 'import', IMAGE, 'localhost/plearn:ci2-cpu'], 300_000);
    });
    await timed('nats up', async () => {
      await kubectl(['apply', '-f', 'deploy/k8s-local/nats.yaml']);
      await kubectl(['-n', 'nats', 'rollout', 'status', 'deployment/nats', '--timeout=120s'], 150_000);
    });
    await timed('helm install --wait', async () => {
      await ok('helm', ['install', 'plearn', 'helm/plearn', '-n', NS, '--create-namespace', '-f', 'helm/values/cpu.yaml',
        '-f', 'deploy/k8s-local/values.yaml', '--wait', '--timeout', '5m'], 360_000);
      installed = true;
    });
    const port = await freePort();
    forward = spawn('kubectl', ['-n', 'nats', 'port-forward', 'svc/nats', `${port}:4222`], { env, stdio: 'ignore' });
    natsUrl = `nats://127.0.0.1:${port}`;
    nc = await eventually('NATS through port-forward', async () => connect({ servers: natsUrl, maxReconnectAttempts: -1 }), 30_000, 500);
  });

  after(async () => {
    await nc?.close().catch(() => undefined);
    forward?.kill();
    if (installed) await run('helm', ['uninstall', 'plearn', '-n', NS, '--wait'], 120_000);
    await timed('cluster down', () => run('bash', ['deploy/k8s-local/down.sh'], 120_000));
    process.stderr.write(`k8s test: timings (s) ${JSON.stringify(timings)}\n`);
  });

  test('every pod Ready through its real probes, as shipped (non-root, read-only root filesystem); one coordinator active', async () => {
    const all = await pods('app.kubernetes.io/instance=plearn');
    assert.equal(all.filter((p) => p.metadata.labels['app.kubernetes.io/component'] === 'coordinator').length, 2);
    assert.equal(all.filter((p) => p.metadata.labels['app.kubernetes.io/component'] === 'worker').length, 2);
    assert.ok(all.every(ready), JSON.stringify(all.map((p) => [p.metadata.name, p.status.phase])));
    const roles = await Promise.all(all.filter((p) => p.metadata.labels['app.kubernetes.io/component'] === 'coordinator').map((p) => roleOf(p.metadata.name)));
    assert.deepEqual(roles.sort(), ['active', 'standby']);
  });

  test('a job submitted from inside the cluster equals `plearn run`', async () => {
    const args = ['fourrooms', '--agent', 'qlearning', '--steps', '20000', '--goals', '6', '--goals-per-agent', '2', '--seed', '5',
      '--reward', 'generic', '--fit', 'closed', '--support', 'full'];
    const local = await plearn(['run', ...args, '--json'], 120_000);
    assert.equal(local.code, 0, local.stderr);
    const inCluster = await timed('in-cluster submit --watch', () => kubectl(['-n', NS, 'run', 'plearn-submit', '--rm', '-i', '--restart=Never',
      `--image=${IMAGE}`, '--image-pull-policy=Never', '--env=PLEARN_NATS_URL=nats://nats.nats.svc.cluster.local:4222',
      '--override-type=strategic', '--overrides={"spec":{"containers":[{"name":"plearn-submit","resources":{"requests":{"cpu":"100m","memory":"128Mi"}}}]}}',
      '--', 'submit', ...args, '--watch', '--json'], 300_000));
    const doc = JSON.parse(inCluster.slice(inCluster.indexOf('{'), inCluster.lastIndexOf('}') + 1)) as { summary: unknown };
    assert.deepEqual(doc.summary, (JSON.parse(local.stdout) as { summary: unknown }).summary);
  });

  test('deleting a busy worker pod mid-job loses nothing', async () => {
    const { id } = await api<{ id: string }>('submit', SPEC(1));
    const victim = await busyWorkerPod(id);
    await timed('worker pod deleted → job done', async () => {
      await kubectl(['-n', NS, 'delete', 'pod', victim, '--wait=false']);
      assert.equal((await finished(id)).status, 'completed');
    });
    assert.deepEqual(await shards(id), [0, 1, 2, 3]);
  });

  test('helm upgrade to a new image tag mid-job: the job completes', async () => {
    const { id } = await api<{ id: string }>('submit', SPEC(2));
    await busyWorkerPod(id);
    await timed('helm upgrade mid-job → job done', async () => {
      await ok('helm', ['upgrade', 'plearn', 'helm/plearn', '-n', NS, '-f', 'helm/values/cpu.yaml', '-f', 'deploy/k8s-local/values.yaml',
        '--set', 'image.tag=ci2', '--wait', '--timeout', '5m'], 360_000);
      assert.equal((await finished(id)).status, 'completed');
    });
    assert.deepEqual(await shards(id), [0, 1, 2, 3]);
  });

  test('deleting the active coordinator pod: the standby takes over and the job completes', async () => {
    const { id } = await api<{ id: string }>('submit', SPEC(3));
    await busyWorkerPod(id);
    // After the upgrade the old pods may still be terminating: ask the live, ready ones, until one says active.
    const active = await eventually('a live coordinator pod that is active', async () => {
      const live = (await pods('app.kubernetes.io/component=coordinator')).filter((p) => !p.metadata.deletionTimestamp && ready(p));
      for (const p of live) {
        const r = await run('kubectl', ['-n', NS, 'exec', p.metadata.name, '--', 'node', '-e', ROLE_SCRIPT]);
        if (r.code === 0 && r.stdout.trim() === 'active') return p.metadata.name;
      }
      return undefined;
    }, 60_000, 1000);
    await timed('active coordinator deleted → job done', async () => {
      await kubectl(['-n', NS, 'delete', 'pod', active, '--wait=false']);
      assert.equal((await finished(id)).status, 'completed');
    });
    assert.deepEqual(await shards(id), [0, 1, 2, 3]);
  });

  test('helm uninstall and plearn cleanup leave nothing behind', async () => {
    await timed('helm uninstall', () => ok('helm', ['uninstall', 'plearn', '-n', NS, '--wait'], 180_000));
    installed = false;
    await eventually('no plearn pods', async () => ((await pods('app.kubernetes.io/instance=plearn')).length === 0 ? true : undefined), 120_000, 1000);
    const left = await kubectl(['-n', NS, 'get', 'all,secrets,configmaps,serviceaccounts,pdb', '-l', 'app.kubernetes.io/instance=plearn', '-o', 'name']);
    assert.equal(left.trim(), '', `left behind: ${left}`);
    const url = natsUrl;
    const gone = await plearn(['cleanup', '--yes', '--json', '--nats', url], 60_000);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal((JSON.parse(gone.stdout) as { streams: unknown[] }).streams.length, 4);
    const again = await plearn(['cleanup', '--json', '--nats', url], 60_000);
    assert.deepEqual((JSON.parse(again.stdout) as { streams: unknown[] }).streams, []);
  });
});
