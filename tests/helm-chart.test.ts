// The Helm chart, checked offline: `helm lint`, `helm template` with the default
// values and each file under helm/values/, every rendered object validated
// against the Kubernetes OpenAPI schemas (kubernetes-models, KEDA's for the
// ScaledObject), the wiring between objects (selectors, ports, Secret keys,
// scale targets) and the security settings, and bad values refused by
// values.schema.json before anything renders.
// helm comes from $HELM_BIN, PATH or ~/go/bin (tests/support/ensure-helm.sh builds it).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, resolveNatsOptions } from '../coordinator/nats/connect.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import { assertDenied, writeRoleConfig } from './support/nats-auth.ts';
import { ROOT } from './support/run-cli.ts';

const CHART = join(ROOT, 'helm', 'plearn');
const VALUES = join(ROOT, 'helm', 'values');
// The newest Kubernetes whose schemas kubernetes-models 4.5 carries; fixed so that
// the render does not depend on how the helm binary was built.
const KUBE_VERSION = '1.32.0';

function findHelm(): string | null {
  const candidates = [process.env.HELM_BIN, 'helm', join(homedir(), 'go', 'bin', 'helm')];
  for (const c of candidates) {
    if (!c) continue;
    if (c.includes('/') ? existsSync(c) : spawnSync(c, ['version', '--short']).status === 0) return c;
  }
  return null;
}

const helm = findHelm();
const skip = helm ? false : 'helm not found: run tests/support/ensure-helm.sh (or set HELM_BIN)';

interface Helm { code: number | null; stdout: string; stderr: string }

function runHelm(args: string[]): Helm {
  const r = spawnSync(helm!, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

type Obj = Record<string, any>;

function render(args: string[], chart = CHART): Obj[] {
  const r = runHelm(['template', 'rel', chart, '--namespace', 'ml', '--kube-version', KUBE_VERSION, ...args]);
  assert.equal(r.code, 0, `helm template ${args.join(' ')} failed:\n${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  const out: Obj[] = [];
  for (const d of docs) {
    assert.deepEqual(d.errors, [], `YAML errors in the rendered chart: ${d.errors.join('; ')}`);
    const js = d.toJS() as Obj | null;
    if (js) out.push(js);
  }
  return out;
}

/** The kubernetes-models class for an object, or a failure naming what has no schema. */
async function modelFor(apiVersion: string, kind: string): Promise<new (data: Obj) => { validate(): void }> {
  const slash = apiVersion.indexOf('/');
  const group = slash < 0 ? '' : apiVersion.slice(0, slash);
  const version = slash < 0 ? apiVersion : apiVersion.slice(slash + 1);
  const spec = group === 'keda.sh' ? `@kubernetes-models/keda/keda.sh/${version}/${kind}`
    : group === '' ? `kubernetes-models/${version}/${kind}`
      : `kubernetes-models/${group}/${version}/${kind}`;
  let mod: Obj;
  try {
    mod = await import(spec) as Obj;
  } catch (e) {
    throw new Error(`no schema for ${apiVersion} ${kind} (${spec}): ${(e as Error).message}`);
  }
  return mod[kind];
}

async function validateAll(objs: Obj[]): Promise<void> {
  for (const o of objs) {
    const where = `${o.kind}/${o.metadata?.name}`;
    const Model = await modelFor(o.apiVersion, o.kind);
    try {
      new Model(o).validate();
    } catch (e) {
      throw new Error(`${where} does not match the ${o.apiVersion} ${o.kind} schema: ${(e as Error).message}`);
    }
  }
}

/** A null in the output is nearly always an empty template block (`annotations:` with nothing under it). */
function assertNoNulls(v: unknown, path: string): void {
  assert.notEqual(v, null, `null at ${path}`);
  if (Array.isArray(v)) v.forEach((x, i) => assertNoNulls(x, `${path}[${i}]`));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) assertNoNulls(x, `${path}.${k}`);
}

const byKind = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);
const argValue = (args: string[], flag: string) => args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);

/** Everything that must hold whatever the values: wiring, probes, security. */
/** existingSecret: every pod's Secret is that one; userSecrets: Secrets the user manages that pods may name besides the rendered ones. */
function checkInvariants(objs: Obj[], opts: { existingSecret?: string; userSecrets?: string[] } = {}): void {
  for (const o of objs) assertNoNulls(o, `${o.kind}/${o.metadata?.name}`);
  const deployments = byKind(objs, 'Deployment');
  assert.ok(deployments.length >= 2, 'a coordinator and at least one worker pool');
  const secrets = new Map(byKind(objs, 'Secret').map((s) => [s.metadata.name as string, s]));
  const accounts = byKind(objs, 'ServiceAccount').map((s) => s.metadata.name as string);
  const podLabels = deployments.map((d) => d.spec.template.metadata.labels as Record<string, string>);

  for (const d of deployments) {
    const name = d.metadata.name as string;
    const pod = d.spec.template.spec;
    assert.ok(matches(d.spec.selector.matchLabels, d.spec.template.metadata.labels), `${name}: selector matches its pods`);
    assert.equal(pod.automountServiceAccountToken, false, `${name}: no API token`);
    if (accounts.length > 0) assert.ok(accounts.includes(pod.serviceAccountName), `${name}: its ServiceAccount is rendered`);
    assert.equal(pod.securityContext.runAsNonRoot, true, `${name}: pod runAsNonRoot`);
    assert.ok(pod.securityContext.runAsUser > 0, `${name}: non-zero uid`);
    assert.equal(pod.containers.length, 1);
    const c = pod.containers[0];
    assert.equal(c.securityContext.readOnlyRootFilesystem, true, `${name}: read-only root`);
    assert.equal(c.securityContext.allowPrivilegeEscalation, false, `${name}: no privilege escalation`);
    assert.equal(c.securityContext.privileged, false, `${name}: not privileged`);
    assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], `${name}: capabilities dropped`);
    // tsx writes its compile cache under the OS tmpdir: it must be writable.
    const tmp = c.volumeMounts.find((m: Obj) => m.mountPath === '/tmp');
    assert.ok(tmp, `${name}: /tmp mounted`);
    assert.ok(pod.volumes.find((v: Obj) => v.name === tmp.name)?.emptyDir, `${name}: /tmp is an emptyDir`);

    assert.equal(c.args[0] === 'coordinator' || c.args[0] === 'worker', true, `${name}: runs a service`);
    const healthPort = Number(argValue(c.args, '--health-port'));
    const portDef = c.ports.find((p: Obj) => p.name === 'health');
    assert.equal(portDef?.containerPort, healthPort, `${name}: the health port named in the probes is the one it serves`);
    for (const [probe, path] of [['livenessProbe', '/healthz'], ['readinessProbe', '/readyz'], ['startupProbe', '/healthz']] as const) {
      assert.equal(c[probe]?.httpGet?.path, path, `${name}: ${probe} on ${path}`);
      assert.equal(c[probe].httpGet.port, 'health', `${name}: ${probe} on the health port`);
    }
    if (c.args[0] === 'worker') {
      const drainMs = Number(argValue(c.args, '--drain-timeout-ms'));
      assert.ok(pod.terminationGracePeriodSeconds * 1000 > drainMs, `${name}: grace period outlasts the drain`);
      assert.equal(argValue(c.args, '--id'), '$(POD_NAME)');
      assert.ok(c.env.some((e: Obj) => e.name === 'POD_NAME' && e.valueFrom?.fieldRef?.fieldPath === 'metadata.name'));
    } else {
      // Replicas elect one active coordinator by lease: an update rolls one pod at a time, never below the current count.
      assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
      assert.ok(Number(argValue(c.args, '--leader-ttl-ms')) >= 1000, `${name}: a leader lease TTL`);
      const anti = pod.affinity?.podAntiAffinity;
      if (d.spec.replicas >= 2) {
        assert.ok(anti?.preferredDuringSchedulingIgnoredDuringExecution?.length, `${name}: replicas spread over nodes where possible`);
        assert.equal(anti.requiredDuringSchedulingIgnoredDuringExecution, undefined, `${name}: never required (one node must still run them all)`);
      }
    }

    // NATS settings: the URL always, from the Secret unless given as a value.
    const env = new Map<string, Obj>(c.env.map((e: Obj) => [e.name, e]));
    const url = env.get('PLEARN_NATS_URL');
    assert.ok(url, `${name}: PLEARN_NATS_URL set`);
    for (const e of c.env as Obj[]) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref) continue;
      if (opts.existingSecret) {
        assert.equal(ref.name, opts.existingSecret, `${name}: ${e.name} from the existing Secret`);
      } else if (!opts.userSecrets?.includes(ref.name)) {
        const s = secrets.get(ref.name);
        assert.ok(s, `${name}: ${e.name} refers to the rendered Secret ${ref.name}`);
        assert.ok(ref.optional === true || ref.key in s.stringData, `${name}: ${e.name} key ${ref.key} exists or is optional`);
      }
    }
    const mountable = opts.existingSecret ? [opts.existingSecret] : [...secrets.keys(), ...(opts.userSecrets ?? [])];
    for (const v of pod.volumes as Obj[]) {
      if (!v.secret) continue;
      assert.ok(mountable.includes(v.secret.secretName), `${name}: volume ${v.name} from ${v.secret.secretName}, one of ${mountable.join(', ')}`);
    }

    if (c.image.endsWith('-gpu')) {
      const gpu = c.resources.limits['nvidia.com/gpu'];
      assert.ok(Number(gpu) >= 1, `${name}: asks for a GPU`);
      assert.equal(c.resources.requests['nvidia.com/gpu'], gpu, 'GPU request equals limit');
      assert.ok(pod.tolerations.some((t: Obj) => t.key === 'nvidia.com/gpu'), `${name}: tolerates GPU taints`);
      assert.ok(Object.keys(pod.nodeSelector).length > 0, `${name}: pinned to GPU nodes`);
    }
    if (c.image.endsWith('-cpu')) assert.equal(c.resources.limits?.['nvidia.com/gpu'], undefined, `${name}: no GPU for the cpu image`);
  }

  for (const pdb of byKind(objs, 'PodDisruptionBudget')) {
    const n = podLabels.filter((l) => matches(pdb.spec.selector.matchLabels, l)).length;
    assert.equal(n, 1, `PDB ${pdb.metadata.name} selects exactly one Deployment's pods`);
  }
  for (const svc of byKind(objs, 'Service')) {
    const target = deployments.find((d) => matches(svc.spec.selector, d.spec.template.metadata.labels));
    assert.ok(target, `Service ${svc.metadata.name} selects pods`);
    for (const p of svc.spec.ports) {
      assert.ok(target.spec.template.spec.containers[0].ports.some((cp: Obj) => cp.name === p.targetPort), `Service port ${p.name} targets a named container port`);
    }
  }
  const names = new Set(deployments.map((d) => d.metadata.name));
  for (const a of [...byKind(objs, 'ScaledObject'), ...byKind(objs, 'HorizontalPodAutoscaler')]) {
    assert.ok(names.has(a.spec.scaleTargetRef.name), `${a.kind} ${a.metadata.name} targets a rendered Deployment`);
    const target = deployments.find((d) => d.metadata.name === a.spec.scaleTargetRef.name)!;
    assert.equal(target.spec.replicas, undefined, `${target.metadata.name}: replicas left to the autoscaler`);
  }
  for (const np of byKind(objs, 'NetworkPolicy')) {
    assert.ok(podLabels.every((l) => matches(np.spec.podSelector.matchLabels, l)), 'the NetworkPolicy covers every plearn pod');
  }
}

const kinds = (objs: Obj[]) => objs.map((o) => o.kind).sort();

describe('helm chart', { skip }, () => {
  test('helm lint --strict: default values and every values file', () => {
    for (const file of [null, 'gpu', 'cpu', 'keda', 'existing-secret']) {
      const args = ['lint', '--strict', CHART, ...(file ? ['-f', join(VALUES, `${file}.yaml`)] : [])];
      const r = runHelm(args);
      assert.equal(r.code, 0, `helm ${args.join(' ')}:\n${r.stdout}${r.stderr}`);
    }
  });

  test('the validator itself rejects broken objects and unknown kinds', async () => {
    const objs = render([]);
    const coord = structuredClone(byKind(objs, 'Deployment')[0]);
    coord.spec.replicas = 'one';
    await assert.rejects(validateAll([coord]), /spec\/replicas must be integer/);
    const noSelector = structuredClone(byKind(objs, 'Deployment')[0]);
    delete noSelector.spec.selector;
    await assert.rejects(validateAll([noSelector]), /must have required property selector/);
    const badProbe = structuredClone(byKind(objs, 'Deployment')[0]);
    badProbe.spec.template.spec.containers[0].livenessProbe.periodSeconds = '10s';
    await assert.rejects(validateAll([badProbe]), /livenessProbe\/periodSeconds must be integer/);
    await assert.rejects(validateAll([{ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }]), /no schema for example\.com\/v1 Widget/);
  });

  test('default values: GPU workers, chart-made Secret, all objects valid', async () => {
    const objs = render([]);
    await validateAll(objs);
    checkInvariants(objs);
    assert.deepEqual(kinds(objs), ['Deployment', 'Deployment', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Secret', 'Service', 'ServiceAccount']);
    const secret = byKind(objs, 'Secret')[0];
    assert.equal(secret.stringData.url, 'nats://nats.nats.svc.cluster.local:4222');
    const coord = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-coordinator')!;
    const args = coord.spec.template.spec.containers[0].args as string[];
    assert.deepEqual(args.slice(0, 1), ['coordinator']);
    assert.equal(argValue(args, '--replicas'), '3');
    assert.equal(argValue(args, '--storage'), 'file');
    assert.equal(argValue(args, '--health-port'), '8081');
    assert.equal(coord.spec.template.spec.containers[0].image, 'plearn:0.1.0-cpu');
    const gpu = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-worker-gpu')!;
    assert.equal(gpu.spec.template.spec.containers[0].image, 'plearn:0.1.0-gpu');
    assert.equal(argValue(gpu.spec.template.spec.containers[0].args, '--health-port'), '8080');
    assert.equal(argValue(gpu.spec.template.spec.containers[0].args, '--threads'), undefined, 'one thread per GPU: the worker decides');
  });

  test('gpu.yaml: GPU pool with runtime class and spread, coordinator on a GPU, NetworkPolicy to NATS', async () => {
    const objs = render(['-f', join(VALUES, 'gpu.yaml')]);
    await validateAll(objs);
    checkInvariants(objs);
    const coord = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-coordinator')!;
    assert.equal(coord.spec.template.spec.containers[0].image, 'registry.example.com/ml/plearn:0.1.0-gpu');
    assert.equal(coord.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'], 1);
    const gpu = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-worker-gpu')!;
    const pod = gpu.spec.template.spec;
    assert.equal(gpu.spec.replicas, 4);
    assert.equal(pod.runtimeClassName, 'nvidia');
    assert.equal(pod.containers[0].image, 'registry.example.com/ml/plearn:0.1.0-gpu');
    assert.equal(pod.terminationGracePeriodSeconds, 75);
    // The webgpu backend runs on NVIDIA's Vulkan driver, which the runtime mounts only with `graphics`.
    const capabilities = (c: Obj) => (c.env as { name: string; value?: string }[]).find((e) => e.name === 'NVIDIA_DRIVER_CAPABILITIES')?.value;
    assert.equal(capabilities(pod.containers[0]), 'compute,utility,graphics');
    assert.equal(capabilities(coord.spec.template.spec.containers[0]), 'compute,utility,graphics');
    const cpuPool = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-worker-cpu');
    if (cpuPool) assert.equal(capabilities(cpuPool.spec.template.spec.containers[0]), undefined, 'no NVIDIA capabilities on the cpu pool');
    const np = byKind(objs, 'NetworkPolicy')[0];
    assert.deepEqual(np.spec.policyTypes, ['Ingress', 'Egress']);
    assert.equal(np.spec.egress[0].ports[0].port, 4222);
    assert.equal(np.spec.ingress[0].ports[0].port, 'health');
  });

  test('cpu.yaml: no GPU anywhere, CPU pool on the cpu image, single-replica JetStream', async () => {
    const objs = render(['-f', join(VALUES, 'cpu.yaml')]);
    await validateAll(objs);
    checkInvariants(objs);
    const names = byKind(objs, 'Deployment').map((d) => d.metadata.name).sort();
    assert.deepEqual(names, ['rel-plearn-coordinator', 'rel-plearn-worker-cpu']);
    for (const d of byKind(objs, 'Deployment')) {
      const c = d.spec.template.spec.containers[0];
      assert.match(c.image, /-cpu$/);
      assert.equal(JSON.stringify(c.resources).includes('nvidia.com/gpu'), false);
      assert.equal(d.spec.template.spec.tolerations, undefined);
    }
    const coord = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-coordinator')!;
    assert.equal(argValue(coord.spec.template.spec.containers[0].args, '--replicas'), '1');
    // For kind/k3d/minikube: every CPU request together fits a 2-core node, and no worker runs more threads than its request.
    const cpus = (q: string) => (q.endsWith('m') ? Number(q.slice(0, -1)) / 1000 : Number(q));
    const total = byKind(objs, 'Deployment').reduce((n, d) => n + d.spec.replicas * cpus(d.spec.template.spec.containers[0].resources.requests.cpu), 0);
    assert.ok(total <= 2, `cpu.yaml requests ${total} CPUs`);
    const worker = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-worker-cpu')!.spec.template.spec.containers[0];
    assert.ok(Number(argValue(worker.args, '--threads')) <= Math.ceil(cpus(worker.resources.requests.cpu)));
    assert.ok(worker.env.some((e: Obj) => e.name === 'PLEARN_CPU_REQUEST' && e.valueFrom?.resourceFieldRef?.resource === 'requests.cpu'),
      'workers learn their CPU request (their default thread count stays within it)');
  });

  test('keda.yaml: one ScaledObject per pool on the PLEARN_TASKS backlog', async () => {
    const objs = render(['-f', join(VALUES, 'keda.yaml')]);
    await validateAll(objs);
    checkInvariants(objs);
    const scaled = byKind(objs, 'ScaledObject');
    assert.deepEqual(scaled.map((s) => s.metadata.name).sort(), ['rel-plearn-worker-cpu', 'rel-plearn-worker-gpu']);
    for (const s of scaled) {
      const t = s.spec.triggers[0];
      assert.equal(t.type, 'nats-jetstream');
      assert.equal(t.metadata.stream, 'PLEARN_TASKS');
      assert.equal(t.metadata.consumer, 'plearn-workers');
      assert.equal(t.metadata.lagThreshold, '4');
      assert.equal(t.metadata.natsServerMonitoringEndpoint, 'nats-headless.nats.svc.cluster.local:8222');
      assert.equal(s.spec.fallback.replicas, 2);
    }
    assert.equal(byKind(objs, 'HorizontalPodAutoscaler').length, 0, 'KEDA makes its own HPA');
  });

  test('autoscaling mode auto: KEDA where the API exists, an HPA fallback where not', async () => {
    const base = ['-f', join(VALUES, 'keda.yaml'), '--set', 'workers.autoscaling.mode=auto'];
    const without = render(base);
    await validateAll(without);
    checkInvariants(without);
    assert.equal(byKind(without, 'ScaledObject').length, 0);
    const hpas = byKind(without, 'HorizontalPodAutoscaler');
    assert.equal(hpas.length, 2);
    for (const h of hpas) {
      assert.equal(h.apiVersion, 'autoscaling/v2');
      assert.equal(h.spec.metrics[0].resource.name, 'cpu');
      assert.ok(h.spec.minReplicas >= 1 && h.spec.maxReplicas >= h.spec.minReplicas);
    }
    const withKeda = render([...base, '--api-versions', 'keda.sh/v1alpha1']);
    assert.equal(byKind(withKeda, 'ScaledObject').length, 2);
    assert.equal(byKind(withKeda, 'HorizontalPodAutoscaler').length, 0);
  });

  test('existing-secret.yaml: no Secret rendered, URL and credential files from the user\'s Secret', async () => {
    const objs = render(['-f', join(VALUES, 'existing-secret.yaml')]);
    await validateAll(objs);
    checkInvariants(objs, { existingSecret: 'plearn-nats' });
    assert.equal(byKind(objs, 'Secret').length, 0);
    assert.equal(byKind(objs, 'ServiceAccount').length, 0, 'serviceAccount.create=false');
    for (const d of byKind(objs, 'Deployment')) {
      const pod = d.spec.template.spec;
      assert.equal(pod.serviceAccountName, 'plearn-runner');
      assert.equal(d.spec.template.metadata.annotations?.['checksum/nats-secret'], undefined, 'no checksum of a Secret the chart does not own');
      const env = new Map<string, Obj>(pod.containers[0].env.map((e: Obj) => [e.name, e]));
      assert.deepEqual(env.get('PLEARN_NATS_URL')!.valueFrom.secretKeyRef, { name: 'plearn-nats', key: 'url' });
      assert.equal(env.get('PLEARN_NATS_CREDS')!.value, '/etc/plearn/nats/nats.creds');
      assert.equal(env.get('PLEARN_NATS_TLS_CA')!.value, '/etc/plearn/nats/ca.crt');
      const vol = pod.volumes.find((v: Obj) => v.name === 'nats-files');
      assert.deepEqual(vol.secret.items.map((i: Obj) => i.path).sort(), ['ca.crt', 'nats.creds', 'tls.crt', 'tls.key']);
      assert.ok(pod.containers[0].volumeMounts.some((m: Obj) => m.name === 'nats-files' && m.readOnly === true));
    }
  });

  test('chart-made Secret carries the credentials given as values, and pods roll when it changes', async () => {
    const set = ['--set', 'nats.auth.user=plearn', '--set', 'nats.auth.password=s3cret', '--set-string', 'nats.auth.creds=-----BEGIN NATS USER JWT-----'];
    const objs = render(set);
    await validateAll(objs);
    checkInvariants(objs);
    const secret = byKind(objs, 'Secret')[0];
    assert.deepEqual(Object.keys(secret.stringData).sort(), ['nats.creds', 'password', 'url', 'user']);
    const coord = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-coordinator')!;
    const env = coord.spec.template.spec.containers[0].env.map((e: Obj) => e.name);
    assert.ok(env.includes('PLEARN_NATS_CREDS'), 'creds given: the file is mounted and named');
    const sum = (o: Obj[]) => byKind(o, 'Deployment')[0].spec.template.metadata.annotations['checksum/nats-secret'];
    assert.notEqual(sum(objs), sum(render([])));
  });

  test('every optional knob renders valid objects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plearn-values-'));
    try {
      const file = join(dir, 'knobs.yaml');
      await writeFile(file, [
        'imagePullSecrets: [{name: regcred}]',
        'commonLabels: {team: rl}',
        'tmpVolume: {sizeLimit: 4Gi}',
        'coordinator:',
        '  replicaCount: 0',
        '  extraArgs: ["--log-level=debug"]',
        '  extraEnv: [{name: NODE_OPTIONS, value: "--max-old-space-size=3072"}]',
        '  podAnnotations: {prometheus.io/scrape: "false"}',
        '  podLabels: {tier: control}',
        '  priorityClassName: high',
        '  service: {type: NodePort, port: 18081, annotations: {a: b}}',
        '  podDisruptionBudget: {enabled: true, minAvailable: 0}',
        '  affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: pool, operator: In, values: [ctl]}]}]}}}',
        'workers:',
        '  extraEnv: [{name: PLEARN_GPUS, value: "2"}]',
        '  taskTimeoutMs: 600000',
        '  taskHeapMb: 2048',
        '  taskMemoryMb: 6144',
        '  gpu: {gpusPerPod: 2, threads: 3, podDisruptionBudget: {enabled: false}, strategy: {type: Recreate}}',
        '  cpu: {enabled: true, podDisruptionBudget: {enabled: true, maxUnavailable: "50%"},',
        '        topologySpreadConstraints: [{maxSkew: 1, topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {plearn.io/pool: cpu}}}]}',
        'networkPolicy:',
        '  enabled: true',
        '  allowDns: false',
        '  healthFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]',
        '  extraEgress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}}], ports: [{port: 443, protocol: TCP}]}]',
      ].join('\n') + '\n');
      const objs = render(['-f', file]);
      await validateAll(objs);
      checkInvariants(objs);
      const gpu = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-worker-gpu')!;
      assert.equal(gpu.spec.template.spec.containers[0].resources.limits['nvidia.com/gpu'], 2);
      assert.equal(argValue(gpu.spec.template.spec.containers[0].args, '--threads'), '3');
      for (const [flag, v] of [['--task-timeout-ms', '600000'], ['--task-heap-mb', '2048'], ['--task-memory-mb', '6144']]) {
        assert.equal(argValue(gpu.spec.template.spec.containers[0].args, flag), v, `workers get ${flag}`);
      }
      assert.deepEqual(gpu.spec.template.spec.imagePullSecrets, [{ name: 'regcred' }]);
      assert.equal(byKind(objs, 'PodDisruptionBudget').length, 2, 'GPU pool PDB turned off');
      const coord = byKind(objs, 'Deployment').find((d) => d.metadata.name === 'rel-plearn-coordinator')!;
      assert.equal(coord.spec.replicas, 0);
      assert.equal(coord.metadata.labels.team, 'rl');
      assert.ok(coord.spec.template.spec.containers[0].args.includes('--log-level=debug'));
      const np = byKind(objs, 'NetworkPolicy')[0];
      assert.equal(np.spec.egress.length, 2, 'NATS and the extra rule, no DNS');
      assert.deepEqual(np.spec.ingress[0].from, [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('metrics: scrape annotations on both pods by default (a pool\'s own annotations win); an optional ServiceMonitor', async () => {
    const plain = render([]);
    const deps = byKind(plain, 'Deployment');
    const coord = deps.find((d) => d.metadata.name === 'rel-plearn-coordinator')!;
    const worker = deps.find((d) => d.metadata.name === 'rel-plearn-worker-gpu')!;
    for (const [d, port] of [[coord, '8081'], [worker, '8080']] as const) {
      const ann = d.spec.template.metadata.annotations;
      assert.deepEqual([ann['prometheus.io/scrape'], ann['prometheus.io/port'], ann['prometheus.io/path']], ['true', port, '/metrics'], d.metadata.name);
    }
    const off = byKind(render(['--set', 'metrics.scrapeAnnotations=false', '--set-string', 'coordinator.podAnnotations.prometheus\\.io/scrape=false']), 'Deployment');
    assert.equal(off.find((d) => d.metadata.name === 'rel-plearn-coordinator')!.spec.template.metadata.annotations['prometheus.io/scrape'], 'false');
    assert.equal(off.find((d) => d.metadata.name === 'rel-plearn-worker-gpu')!.spec.template.metadata.annotations?.['prometheus.io/scrape'], undefined);
    assert.equal(byKind(plain, 'ServiceMonitor').length, 0);
    const withSm = render(['--set', 'metrics.serviceMonitor.enabled=true', '--set', 'metrics.serviceMonitor.labels.release=prom']);
    const [sm] = byKind(withSm, 'ServiceMonitor');
    assert.equal(sm.metadata.labels.release, 'prom');
    assert.deepEqual(sm.spec.endpoints, [{ port: 'health', path: '/metrics', interval: '30s' }]);
    const services = byKind(withSm, 'Service');
    const selected = services.filter((svc) => Object.entries(sm.spec.selector.matchLabels).every(([k, v]) => svc.metadata.labels[k] === v));
    assert.deepEqual(selected.map((svc) => svc.metadata.name).sort(), ['rel-plearn-coordinator', 'rel-plearn-workers']);
    await validateAll(withSm.filter((o) => o.kind !== 'ServiceMonitor'));
  });

  test('NOTES.txt says how to submit a job', async () => {
    // helm only prints NOTES on install, which needs a cluster: render it through tpl in a copy of the chart.
    const dir = await mkdtemp(join(tmpdir(), 'plearn-notes-'));
    try {
      const chart = join(dir, 'plearn');
      await cp(CHART, chart, { recursive: true });
      await cp(join(chart, 'templates', 'NOTES.txt'), join(chart, 'notes.txt'));
      await writeFile(join(chart, 'templates', 'zz-notes.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n');
      const notes = (args: string[]) => render(['--show-only', 'templates/zz-notes.yaml', ...args], chart)[0].data.notes as string;
      const plain = notes([]);
      assert.match(plain, /plearn submit fourrooms .*--nats nats:\/\/127\.0\.0\.1:4222 --watch/);
      assert.match(plain, /kubectl -n ml run plearn-submit/);
      assert.match(plain, /PLEARN_NATS_URL=nats:\/\/nats\.nats\.svc\.cluster\.local:4222/);
      assert.match(plain, /deployment\/rel-plearn-worker-gpu \(2 replicas, a thread per GPU each, 1 nvidia\.com\/gpu each\)/);
      const fromSecret = notes(['-f', join(VALUES, 'existing-secret.yaml')]);
      assert.match(fromSecret, /kubectl -n ml get secret plearn-nats -o jsonpath='\{\.data\.url\}'/);
      const auto = notes(['-f', join(VALUES, 'keda.yaml'), '--set', 'workers.autoscaling.mode=auto']);
      assert.match(auto, /HorizontalPodAutoscaler instead of KEDA/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('values.schema.json refuses bad values', () => {
    const cases: [string, string[], RegExp][] = [
      ['negative coordinator replicas', ['--set', 'coordinator.replicaCount=-1'], /coordinator\/replicaCount.*minimum/],
      ['negative GPU worker replicas', ['--set', 'workers.gpu.replicaCount=-2'], /workers\/gpu\/replicaCount.*minimum/],
      ['negative CPU worker replicas', ['--set', 'workers.cpu.replicaCount=-1'], /workers\/cpu\/replicaCount.*minimum/],
      ['missing NATS URL (empty)', ['--set', 'nats.url='], /nats\/url/],
      ['missing NATS URL (absent)', ['--set', 'nats.url=null'], /missing property 'url'/],
      ['NATS URL that is not nats://', ['--set', 'nats.url=http://nats:4222'], /nats\/url.*does not match pattern/],
      ['ten coordinators', ['--set', 'coordinator.replicaCount=10'], /coordinator\/replicaCount.*maximum/],
      ['a leader lease TTL under a second', ['--set', 'coordinator.leaderTtlMs=500'], /coordinator\/leaderTtlMs.*minimum/],
      ['zero worker threads', ['--set', 'workers.gpu.threads=0'], /workers\/gpu\/threads.*minimum/],
      ['unknown autoscaling mode', ['--set', 'workers.autoscaling.mode=magic'], /autoscaling\/mode/],
      ['JetStream storage that is neither file nor memory', ['--set', 'coordinator.jetstream.storage=disk'], /jetstream\/storage/],
      ['misspelt key', ['--set', 'coordinator.replicas=1'], /additional properties 'replicas' not allowed/],
      ['health port out of range', ['--set', 'workers.healthPort=70000'], /workers\/healthPort.*maximum/],
    ];
    for (const [what, args, why] of cases) {
      test(what, () => {
        const r = runHelm(['template', 'rel', CHART, '--kube-version', KUBE_VERSION, ...args]);
        assert.notEqual(r.code, 0, `accepted: ${args.join(' ')}`);
        assert.match(r.stderr, /values don't meet the specifications of the schema/);
        assert.match(r.stderr, why);
      });
    }

    test('the URL may live only in an existing Secret', () => {
      const r = runHelm(['template', 'rel', CHART, '--kube-version', KUBE_VERSION, '--set', 'nats.url=', '--set', 'nats.existingSecret=nats-conn']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /name: nats-conn\n\s+key: url/);
    });
  });
});

describe('helm chart: per-role credentials', { skip }, () => {
  test('a role\'s own .creds file or existing Secret is mounted on its pods only; the other role keeps the shared settings', async () => {
    const objs = render(['--set-string', 'nats.worker.auth.creds=-----BEGIN NATS USER JWT-----', '--set', 'nats.coordinator.existingSecret=plearn-admin',
      '--set', 'nats.coordinator.credsFile=true']);
    await validateAll(objs);
    checkInvariants(objs, { userSecrets: ['plearn-admin'] });
    assert.deepEqual(byKind(objs, 'Secret').map((s) => s.metadata.name).sort(), ['rel-plearn-nats', 'rel-plearn-nats-worker']);
    for (const d of byKind(objs, 'Deployment')) {
      const pod = d.spec.template.spec;
      const role = pod.containers[0].args[0] as string;
      const own = role === 'coordinator' ? 'plearn-admin' : 'rel-plearn-nats-worker';
      const env = new Map<string, Obj>(pod.containers[0].env.map((e: Obj) => [e.name, e]));
      assert.equal(env.get('PLEARN_NATS_CREDS')!.value, '/etc/plearn/nats-creds/nats.creds', `${d.metadata.name}`);
      assert.equal(env.get('PLEARN_NATS_USER')!.valueFrom.secretKeyRef.name, own);
      assert.equal(env.get('PLEARN_NATS_URL')!.valueFrom.secretKeyRef.name, 'rel-plearn-nats');
      const vol = pod.volumes.find((v: Obj) => v.name === 'nats-creds');
      assert.equal(vol.secret.secretName, own);
      assert.deepEqual(vol.secret.items, [{ key: 'nats.creds', path: 'nats.creds' }]);
      assert.ok(pod.containers[0].volumeMounts.some((m: Obj) => m.name === 'nats-creds' && m.mountPath === '/etc/plearn/nats-creds' && m.readOnly));
      assert.equal(pod.volumes.find((v: Obj) => v.name === 'nats-files'), undefined, 'no shared credential files');
    }
  });
});

describe('helm chart: least privilege on a real nats-server', { skip: skip || (natsServerMissing() ?? false) }, () => {
  test('per-role credentials reach only their own pods; with the worker pods\' login nobody submits, cancels or purges the queue or the state', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plearn-chart-roles-'));
    const roles = await writeRoleConfig(dir);
    const server = await startNatsServer(['-c', roles.path]);
    const conns: NatsConnection[] = [];
    try {
      const objs = render(['--set', `nats.url=${server.url}`,
        '--set-string', `nats.coordinator.auth.user=${roles.admin.user}`, '--set-string', `nats.coordinator.auth.password=${roles.admin.password}`,
        '--set-string', `nats.worker.auth.user=${roles.worker.user}`, '--set-string', `nats.worker.auth.password=${roles.worker.password}`]);
      await validateAll(objs);
      checkInvariants(objs);
      const secrets = new Map<string, Record<string, string>>(byKind(objs, 'Secret').map((s) => [s.metadata.name as string, s.stringData ?? {}]));
      assert.deepEqual(Object.keys(secrets.get('rel-plearn-nats')!), ['url'], 'the shared Secret holds no credentials');
      // Every Secret a pod can read (env and volumes), and the login its env resolves to.
      const podView = (d: Obj) => {
        const pod = d.spec.template.spec;
        const refs = new Set<string>();
        const login: Record<string, string> = {};
        for (const e of pod.containers[0].env as Obj[]) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          refs.add(ref.name);
          const v = secrets.get(ref.name)?.[ref.key];
          if (v !== undefined) login[e.name] = v;
        }
        for (const v of pod.volumes as Obj[]) if (v.secret) refs.add(v.secret.secretName);
        return { refs: [...refs].sort(), login };
      };
      for (const d of byKind(objs, 'Deployment')) {
        const role = d.spec.template.spec.containers[0].args[0] === 'coordinator' ? 'coordinator' : 'worker';
        const { refs, login } = podView(d);
        assert.deepEqual(refs, ['rel-plearn-nats', `rel-plearn-nats-${role}`], `${d.metadata.name}: reads only its own role's Secret`);
        const want = role === 'coordinator' ? roles.admin : roles.worker;
        assert.deepEqual([login.PLEARN_NATS_USER, login.PLEARN_NATS_PASSWORD], [want.user, want.password], `${d.metadata.name}: its own login`);
      }
      const workerDeployment = byKind(objs, 'Deployment').find((d) => d.spec.template.spec.containers[0].args[0] === 'worker')!;
      const { login } = podView(workerDeployment);
      const nc = await connectNats(resolveNatsOptions({ url: server.url, user: login.PLEARN_NATS_USER, password: login.PLEARN_NATS_PASSWORD, name: 'chart-worker' }, {}));
      conns.push(nc);
      for (const subject of ['plearn.api.submit', 'plearn.api.cancel', 'plearn.api.sweep-submit', 'plearn.api.sweep-cancel', 'plearn.api.upload',
        '$JS.API.STREAM.PURGE.PLEARN_TASKS', '$JS.API.STREAM.PURGE.KV_plearn-state', '$JS.API.STREAM.PURGE.PLEARN_DLQ',
        '$JS.API.STREAM.DELETE.OBJ_plearn-artifacts']) await assertDenied(nc, subject);
    } finally {
      for (const c of conns) await c.close().catch(() => undefined);
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
