// The container images.
//
// 1. A static check of the Dockerfile, always: both targets, base images as
//    build arguments, non-root numeric USER, HEALTHCHECK, `plearn` entrypoint,
//    OCI labels, production dependencies only, and every COPY source present
//    and let through by .dockerignore (hadolint-style rules, the ones that
//    matter here). This is all the gpu target gets on a machine without CUDA.
// 2. A real build and run of the cpu target, with PLEARN_IMAGE_TEST=1 (root,
//    podman, debootstrap; deploy/ci-steps.sh sets it where they are): the base
//    image is made locally (deploy/build-base-image.sh: debootstrapped bookworm
//    plus this machine's Node 20, no registry needed), the cpu target is built
//    with podman, then nats-server, a coordinator and two workers run as
//    containers — read-only root, all capabilities dropped, as the chart runs
//    them — and a FourRooms job submitted from the host must complete with the
//    same numbers as `plearn run`.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, plearn } from './support/run-cli.ts';
import { freePort, natsServerBin } from './support/nats-server.ts';

// ---------------------------------------------------------------------------
// Dockerfile parsing

interface Instruction { cmd: string; args: string; line: number }
interface Stage { name: string; from: string; instructions: Instruction[] }
interface Dockerfile { globalArgs: Map<string, string | undefined>; stages: Stage[] }

function parseDockerfile(text: string): Dockerfile {
  const logical: { text: string; line: number }[] = [];
  let buf = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (buf === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (buf !== '' && line.trimStart().startsWith('#')) return; // comment inside a continuation
    if (buf === '') start = i + 1;
    if (line.endsWith('\\')) { buf += line.slice(0, -1) + ' '; return; }
    logical.push({ text: (buf + line).trim(), line: start });
    buf = '';
  });
  const df: Dockerfile = { globalArgs: new Map(), stages: [] };
  for (const { text: l, line } of logical) {
    const m = /^(\S+)\s*(.*)$/s.exec(l)!;
    const cmd = m[1].toUpperCase();
    const args = m[2];
    if (cmd === 'FROM') {
      const f = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      assert.ok(f, `line ${line}: FROM ${args}`);
      df.stages.push({ from: f[1], name: f[2] ?? String(df.stages.length), instructions: [] });
    } else if (df.stages.length === 0) {
      assert.equal(cmd, 'ARG', `line ${line}: only ARG may come before the first FROM`);
      const [k, v] = args.split('=', 2);
      df.globalArgs.set(k.trim(), v?.trim());
    } else {
      df.stages[df.stages.length - 1].instructions.push({ cmd, args, line });
    }
  }
  return df;
}

/** Docker's .dockerignore semantics: last matching pattern wins; a match on a parent directory counts. */
function dockerIgnored(patterns: string[], path: string): boolean {
  const rules = patterns.map((p) => {
    const negate = p.startsWith('!');
    const body = (negate ? p.slice(1) : p).replace(/^\/+/, '').replace(/\/+$/, '');
    const re = new RegExp('^' + body.split('/').map((seg) => seg === '**' ? '.*'
      : seg.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]')).join('/').replace(/\.\*\//g, '(?:.*/)?') + '$');
    return { negate, re };
  });
  const parts = path.split('/');
  let ignored = false;
  for (const r of rules) {
    for (let i = 1; i <= parts.length; i += 1) {
      if (r.re.test(parts.slice(0, i).join('/'))) { ignored = !r.negate; break; }
    }
  }
  return ignored;
}

const dockerfile = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const stage = (name: string) => {
  const s = dockerfile.stages.find((x) => x.name === name);
  assert.ok(s, `stage ${name} exists`);
  return s;
};
const all = (s: Stage, cmd: string) => s.instructions.filter((i) => i.cmd === cmd);
const last = (s: Stage, cmd: string) => all(s, cmd).at(-1);
const OCI_LABELS = ['title', 'description', 'version', 'revision', 'created', 'source', 'licenses', 'base.name']
  .map((k) => `org.opencontainers.image.${k}`);

describe('Dockerfile (static checks)', () => {
  test('targets cpu and gpu; every base image comes from a build argument', () => {
    const names = dockerfile.stages.map((s) => s.name);
    assert.ok(names.includes('cpu') && names.includes('gpu'), `stages: ${names.join(', ')}`);
    for (const s of dockerfile.stages) {
      assert.match(s.from, /^\$\{[A-Z_]+\}$/, `stage ${s.name}: FROM ${s.from} is not a build argument`);
      const arg = s.from.slice(2, -1);
      assert.ok(dockerfile.globalArgs.has(arg), `stage ${s.name}: ARG ${arg} declared before the first FROM`);
    }
    assert.match(dockerfile.globalArgs.get('NODE_BASE') ?? '', /node:20[.\w-]*-bookworm-slim$/);
    assert.match(dockerfile.globalArgs.get('CUDA_BASE') ?? '', /cuda:11\.2[.\d]*-cudnn8-runtime/);
    // The cpu target must build without ever touching the CUDA base (CI has none).
    assert.ok(names.indexOf('cpu') < names.indexOf('gpu-deps') && names.indexOf('cpu') < names.indexOf('gpu'));
  });

  for (const target of ['cpu', 'gpu']) {
    test(`${target}: non-root USER, HEALTHCHECK, plearn entrypoint, OCI labels, health ports`, () => {
      const s = stage(target);
      const user = last(s, 'USER');
      assert.ok(user, 'a USER instruction');
      const [uid, gid] = user.args.split(':');
      assert.match(uid, /^\d+$/, 'numeric uid, so runAsNonRoot can verify it');
      assert.notEqual(Number(uid), 0);
      assert.ok(gid === undefined || Number(gid) !== 0, 'not the root group');
      assert.ok(s.instructions.indexOf(user) > s.instructions.indexOf(last(s, 'RUN')!), 'no RUN after switching user is needed');
      const hc = last(s, 'HEALTHCHECK');
      assert.ok(hc && /CMD\s+\[/.test(hc.args), 'HEALTHCHECK in exec form');
      assert.match(hc.args, /--interval=\d+s/);
      assert.match(hc.args, /--timeout=\d+s/);
      assert.deepEqual(JSON.parse(last(s, 'ENTRYPOINT')!.args), ['plearn']);
      const labels = all(s, 'LABEL').map((l) => l.args).join(' ');
      for (const k of OCI_LABELS) assert.ok(labels.includes(`${k}=`), `label ${k}`);
      assert.match(last(s, 'EXPOSE')!.args, /\b8080\b.*\b8081\b/);
      assert.ok(all(s, 'RUN').some((r) => /\bplearn --version\b/.test(r.args)), 'smoke-tests the entrypoint at build time');
    });
  }

  test('production dependencies only; the GPU binding is installed in the gpu stages only', () => {
    const deps = stage('deps');
    assert.ok(all(deps, 'RUN').some((r) => /\bnpm ci\b.*--omit=dev/.test(r.args)), 'npm ci --omit=dev');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies?: Record<string, string> };
    assert.ok(pkg.dependencies.tsx, 'tsx is a runtime dependency: the image runs TypeScript sources');
    assert.equal(pkg.dependencies['@tensorflow/tfjs-node-gpu'], undefined, 'the GPU binding is not a package dependency');
    const gpuDeps = stage('gpu-deps');
    const install = all(gpuDeps, 'RUN').find((r) => r.args.includes('@tensorflow/tfjs-node-gpu'));
    assert.ok(install && /npm install --no-save/.test(install.args), 'gpu-deps installs tfjs-node-gpu without touching package.json');
    const version = all(gpuDeps, 'ARG').map((a) => a.args).find((a) => a.startsWith('TFJS_NODE_GPU_VERSION='));
    assert.match(version ?? '', /=4\.\d+\.\d+$/, 'a pinned 4.x tfjs-node-gpu');
    assert.ok(all(stage('cpu'), 'RUN').every((r) => !r.args.includes('tfjs-node')), 'the cpu image carries no native TensorFlow');
  });

  test('hadolint-style rules: no ADD, no :latest, apt lists cleaned, COPY --from names an earlier stage', () => {
    const seen: string[] = [];
    for (const s of dockerfile.stages) {
      for (const i of s.instructions) {
        const where = `line ${i.line}`;
        assert.notEqual(i.cmd, 'ADD', `${where}: use COPY`);
        assert.ok(!/:latest\b/.test(i.args), `${where}: pin versions`);
        assert.ok(!/\bsudo\b/.test(i.args), `${where}: no sudo`);
        if (i.cmd === 'WORKDIR') assert.match(i.args, /^\//, `${where}: absolute WORKDIR`);
        if (i.cmd === 'RUN' && /apt-get install/.test(i.args)) {
          assert.match(i.args, /--no-install-recommends/, `${where}: --no-install-recommends`);
          assert.match(i.args, /-y\b/, `${where}: non-interactive`);
          assert.match(i.args, /rm -rf \/var\/lib\/apt\/lists/, `${where}: apt lists removed in the same layer`);
          assert.match(i.args, /apt-get update/, `${where}: update and install in one layer`);
        }
        if (i.cmd === 'CMD' || i.cmd === 'ENTRYPOINT') assert.doesNotThrow(() => JSON.parse(i.args), `${where}: exec form`);
        const from = /--from=(\S+)/.exec(i.args)?.[1];
        if (i.cmd === 'COPY' && from) assert.ok(seen.includes(from), `${where}: --from=${from} is an earlier stage`);
      }
      seen.push(s.name);
    }
    for (const v of dockerfile.globalArgs.values()) assert.ok(v && !/:latest$/.test(v), 'base images pinned to a tag');
  });

  test('every COPY source exists and .dockerignore lets it through; the junk stays out', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
    for (const s of dockerfile.stages) {
      for (const i of all(s, 'COPY')) {
        if (i.args.includes('--from=')) continue;
        const parts = i.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const src of parts.slice(0, -1)) {
          assert.ok(existsSync(join(ROOT, src)), `line ${i.line}: ${src} exists`);
          assert.equal(dockerIgnored(ignore, src), false, `line ${i.line}: ${src} is excluded by .dockerignore`);
        }
      }
    }
    for (const junk of ['node_modules/tsx/package.json', '.git/HEAD', 'tests/cli.test.ts', 'bench/index.ts', 'runs/x/result.json',
      'helm/plearn/Chart.yaml', 'deploy/build-base-image.sh', '.env', 'bin/debug.log', 'shared/tensor/x.log']) {
      assert.equal(dockerIgnored(ignore, junk), true, `${junk} must not reach the build context`);
    }
    for (const needed of ['package-lock.json', 'bin/plearn.js', 'shared/protocol/subjects.ts', 'worker/thread-entry.js', 'coordinator/cli.ts', 'deploy/healthcheck.mjs']) {
      assert.equal(dockerIgnored(ignore, needed), false, `${needed} must reach the build context`);
    }
  });

  test('the HEALTHCHECK script reads the service and port from PID 1', () => {
    const hc = readFileSync(join(ROOT, 'deploy', 'healthcheck.mjs'), 'utf8');
    assert.match(hc, /\/proc\/1\/cmdline/);
    assert.match(hc, /coordinator: 8081, worker: 8080/);
    assert.ok(all(stage('source'), 'COPY').some((c) => c.args.startsWith('deploy/healthcheck.mjs')));
  });
});

// ---------------------------------------------------------------------------
// Real build and run (opt-in)

const PODMAN = ['podman', '--runtime', 'runc', '--cgroup-manager', 'cgroupfs'];
const BASE_IMAGE = 'localhost/plearn-ci/node:20-bookworm';
const DEBIAN_IMAGE = 'localhost/plearn-ci/debian:bookworm';
const IMAGE = 'localhost/plearn:ci-cpu';

function imageTestBlocker(): string | false {
  if (process.env.PLEARN_IMAGE_TEST !== '1') return 'image build/run test: set PLEARN_IMAGE_TEST=1 (needs root, podman, debootstrap; deploy/ci-steps.sh sets it)';
  return false;
}

interface Out { code: number | null; stdout: string; stderr: string }

function run(cmd: string, args: string[], timeoutMs: number, log?: string): Promise<Out> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', async (code) => {
      if (log) await writeFile(log, `$ ${cmd} ${args.join(' ')}\n${stdout}\n${stderr}`);
      resolve({ code, stdout, stderr });
    });
  });
}

const podman = (args: string[], timeoutMs = 60_000, log?: string) => run(PODMAN[0], [...PODMAN.slice(1), ...args], timeoutMs, log);
const tail = (s: string, n = 30) => s.split('\n').slice(-n).join('\n');

async function waitReady(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < until) {
    try {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`);
      if (res.status === 200) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`nothing ready on :${port}/readyz within ${timeoutMs} ms (${last})`);
}

describe('cpu image: build with podman, run the cluster as containers', { skip: imageTestBlocker() }, () => {
  const suffix = `${process.pid}`;
  const names = { nats: `plearn-ci-nats-${suffix}`, coordinator: `plearn-ci-coord-${suffix}`, w1: `plearn-ci-w1-${suffix}`, w2: `plearn-ci-w2-${suffix}` };
  let logs: string;
  let natsPort: number;
  const health: Record<'coordinator' | 'w1' | 'w2', number> = { coordinator: 0, w1: 0, w2: 0 };
  const timings: Record<string, number> = {};
  let passed = false;

  before(async () => {
    assert.equal(process.getuid?.(), 0, 'the image test runs podman as root');
    for (const tool of ['podman', 'debootstrap', 'runc']) {
      assert.equal(spawnSync('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} missing: run deploy/ci-steps.sh (apt-get install podman runc debootstrap)`);
    }
    const conf = existsSync('/etc/containers/containers.conf') ? readFileSync('/etc/containers/containers.conf', 'utf8') : '';
    assert.match(conf, /default_ulimits\s*=\s*\[\s*\]/, '/etc/containers/containers.conf must set default_ulimits = [] (deploy/ci-steps.sh writes it)');
    logs = await mkdtemp(join(tmpdir(), 'plearn-image-test-'));
    natsPort = await freePort();
    for (const k of Object.keys(health) as (keyof typeof health)[]) health[k] = await freePort();
  });

  after(async () => {
    for (const n of Object.values(names)) await podman(['rm', '-f', '-t', '5', n]).catch(() => undefined);
    // Old builds of the tag leave dangling layers behind; drop only ours.
    await podman(['image', 'prune', '-f', '--filter', 'label=org.opencontainers.image.title=plearn']).catch(() => undefined);
    // Build and container logs are kept only when something failed.
    if (passed) await rm(logs, { recursive: true, force: true });
    process.stderr.write(`image test timings (s): ${JSON.stringify(timings)}${passed ? '' : `; logs in ${logs}`}\n`);
  });

  test('base image: debootstrapped bookworm with Node 20 (cached tarball)', { timeout: 600_000 }, async () => {
    const t0 = Date.now();
    const r = await run('bash', [join(ROOT, 'deploy', 'build-base-image.sh'), BASE_IMAGE], 600_000, join(logs, 'base.log'));
    timings.base = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, `build-base-image.sh failed:\n${tail(r.stderr)}`);
    const v = await podman(['run', '--rm', BASE_IMAGE, 'node', '--version']);
    assert.match(v.stdout.trim(), /^v20\./);
  });

  test('podman build --target cpu from that base', { timeout: 600_000 }, async () => {
    const t0 = Date.now();
    const args = ['build', '--format', 'docker', '--network', 'host', '--target', 'cpu',
      '--build-arg', `NODE_BASE=${BASE_IMAGE}`, '--build-arg', `REVISION=ci-${suffix}`, '-t', IMAGE];
    // This machine reaches the npm registry through a TLS-intercepting proxy whose CA only
    // the host trusts: lend the host's bundle to the build (the Dockerfile's documented hook).
    const bundle = '/etc/ssl/certs/ca-certificates.crt';
    if (existsSync(bundle)) args.push('--build-arg', 'NODE_EXTRA_CA_CERTS=/run/plearn-build-ca.crt', '-v', `${bundle}:/run/plearn-build-ca.crt:ro`);
    const r = await podman([...args, '.'], 600_000, join(logs, 'build.log'));
    timings.build = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, `podman build failed:\n${tail(r.stdout + r.stderr, 40)}`);
    const inspect = await podman(['image', 'inspect', IMAGE]);
    // podman reports the Docker-format healthcheck beside Config, not in it.
    const img = (JSON.parse(inspect.stdout) as { Config: Record<string, any>; Healthcheck?: { Test: string[] } }[])[0];
    const cfg = img.Config;
    assert.equal(cfg.User, '10001:10001');
    assert.deepEqual(cfg.Entrypoint, ['plearn']);
    assert.deepEqual(img.Healthcheck?.Test, ['CMD', 'node', '/app/deploy/healthcheck.mjs'], 'HEALTHCHECK kept (--format docker)');
    for (const k of OCI_LABELS) assert.ok(k in cfg.Labels, `label ${k}`);
    // Podman 4.3's buildah keys its layer cache on the LABEL text, not on the ARG values in it,
    // so a cached build keeps an earlier run's revision: check the value came from the build
    // argument (not the Dockerfile's 'unknown' default) rather than which run set it.
    assert.match(cfg.Labels['org.opencontainers.image.revision'], /^ci-\d+$/);
    // typescript and kubernetes-models are devDependencies nothing at run time pulls in.
    const devDeps = await podman(['run', '--rm', '--entrypoint', 'sh', IMAGE, '-c',
      'ls -d /app/node_modules/typescript /app/node_modules/kubernetes-models /app/node_modules/tsx 2>&1; id -u; test -w /app && echo writable || echo read-only']);
    assert.match(devDeps.stdout, /typescript': No such file or directory/, 'no devDependencies in the image');
    assert.match(devDeps.stdout, /kubernetes-models': No such file or directory/, 'no devDependencies in the image');
    assert.match(devDeps.stdout, /^\/app\/node_modules\/tsx$/m, 'tsx (a runtime dependency) is there');
    assert.match(devDeps.stdout, /^10001$/m);
    assert.match(devDeps.stdout, /read-only/, 'the plearn user cannot modify the app');
  });

  test('nats-server, a coordinator and two workers as containers complete a FourRooms job', { timeout: 300_000 }, async () => {
    const natsBin = natsServerBin();
    assert.ok(natsBin, 'nats-server on this machine (tests/support/ensure-nats-server.sh)');
    const natsPath = natsBin.includes('/') ? natsBin : spawnSync('sh', ['-c', `command -v ${natsBin}`], { encoding: 'utf8' }).stdout.trim();
    const nats = await podman(['run', '-d', '--name', names.nats, '--network', 'host', '-v', `${natsPath}:/usr/local/bin/nats-server:ro`,
      DEBIAN_IMAGE, 'nats-server', '-js', '-sd', '/tmp/js', '-a', '127.0.0.1', '-p', String(natsPort)]);
    assert.equal(nats.code, 0, nats.stderr);
    const url = `nats://127.0.0.1:${natsPort}`;
    // What the chart's securityContext asks of Kubernetes, asked of podman.
    const hardened = ['--network', 'host', '--read-only', '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges'];
    const t0 = Date.now();
    const coord = await podman(['run', '-d', '--name', names.coordinator, ...hardened, IMAGE,
      'coordinator', '--nats', url, '--threads', '1', '--replicas', '1', '--health-port', String(health.coordinator)]);
    assert.equal(coord.code, 0, coord.stderr);
    for (const w of ['w1', 'w2'] as const) {
      const r = await podman(['run', '-d', '--name', names[w], ...hardened, IMAGE,
        'worker', '--nats', url, '--threads', '1', '--id', `ctr-${w}`, '--health-port', String(health[w]), '--drain-timeout-ms', '5000']);
      assert.equal(r.code, 0, r.stderr);
    }
    try {
      for (const k of Object.keys(health) as (keyof typeof health)[]) await waitReady(health[k], 60_000);
    } catch (e) {
      const l = await podman(['logs', names.coordinator]);
      throw new Error(`${(e as Error).message}\ncoordinator log:\n${tail(l.stdout + l.stderr)}`);
    }
    timings.startup = (Date.now() - t0) / 1000;

    const job = ['fourrooms', '--agent', 'oracle', '--goals', '4', '--goals-per-agent', '2'];
    const t1 = Date.now();
    const sub = await plearn(['submit', ...job, '--nats', url, '--watch', '--json'], 180_000);
    timings.job = (Date.now() - t1) / 1000;
    if (sub.code !== 0) {
      const l = await podman(['logs', names.coordinator]);
      assert.fail(`submit exited ${sub.code}:\n${sub.stderr}\ncoordinator log:\n${tail(l.stdout + l.stderr)}`);
    }
    const remote = JSON.parse(sub.stdout) as { summary: Record<string, unknown>; seeds: unknown[] };
    const local = await plearn(['run', ...job, '--json'], 120_000);
    assert.equal(local.code, 0, local.stderr);
    const expected = JSON.parse(local.stdout) as { summary: Record<string, unknown> };
    assert.deepEqual(remote.summary, expected.summary, 'the containers compute what plearn run computes');

    const workers = await plearn(['workers', '--nats', url, '--json']);
    assert.equal(workers.code, 0, workers.stderr);
    const ids = (JSON.parse(workers.stdout) as { id?: string }[]).map((w) => w.id).sort();
    assert.deepEqual(ids, ['ctr-w1', 'ctr-w2']);

    for (const n of [names.coordinator, names.w1, names.w2]) {
      const hc = await podman(['healthcheck', 'run', n]);
      assert.equal(hc.code, 0, `${n}: HEALTHCHECK failed: ${hc.stdout}${hc.stderr}`);
    }

    // SIGTERM (what Kubernetes sends): workers drain and exit 0.
    const stop = await podman(['stop', '-t', '30', names.w1, names.w2, names.coordinator], 60_000);
    assert.equal(stop.code, 0, stop.stderr);
    for (const n of [names.w1, names.w2, names.coordinator]) {
      const code = await podman(['inspect', '--format', '{{.State.ExitCode}}', n]);
      assert.equal(code.stdout.trim(), '0', `${n} exit code`);
    }
    const wlog = await podman(['logs', names.w1]);
    assert.match(wlog.stdout + wlog.stderr, /"msg":"drained"/);
    passed = true;
  });
});

