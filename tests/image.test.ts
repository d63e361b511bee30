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
//    testcontainers GenericContainers on one network, each started once its
//    health endpoint answers — uid 10001, read-only root, all capabilities
//    dropped, tmpfs /tmp, as the chart runs them — and a FourRooms job
//    submitted from the host must complete with the same numbers as
//    `plearn run`. The engine is the one testcontainers finds (Docker, or here
//    podman's API service, which ci-steps.sh starts); with none, this part
//    skips with one line. See tests/support/containers.ts for the clean-up.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, plearn } from './support/run-cli.ts';
import { natsServerBin } from './support/nats-server.ts';
import type { Engine, StartedTestContainer, TestContainer } from './support/containers.ts';

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
    // The webgpu backend: the Vulkan loader in the image, NVIDIA's Vulkan driver mounted by the runtime (graphics).
    assert.ok(all(stage('gpu'), 'RUN').some((r) => /apt-get install[^&]*\blibvulkan1\b/.test(r.args)), 'the gpu image installs libvulkan1');
    assert.ok(all(stage('gpu'), 'ENV').some((e) => /NVIDIA_DRIVER_CAPABILITIES=\S*graphics/.test(e.args)), 'the gpu image asks for graphics');
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

// Loaded only when the real part runs: testcontainers takes a second to import.
let tc: typeof import('./support/containers.ts') | undefined;
let engine: Engine | undefined;

async function imageTestBlocker(): Promise<string | false> {
  if (process.env.PLEARN_IMAGE_TEST !== '1') return 'image build/run test: set PLEARN_IMAGE_TEST=1 (needs root, podman, debootstrap; deploy/ci-steps.sh sets it)';
  tc = await import('./support/containers.ts');
  const found = await tc.findEngine();
  if (typeof found === 'string') return `image build/run test: ${found} — deploy/ci-steps.sh starts podman's API service`;
  engine = found;
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

describe('cpu image: build with podman, run the cluster as testcontainers', { skip: await imageTestBlocker() }, () => {
  const suffix = `${process.pid}`;
  const names = { nats: `plearn-ci-nats-${suffix}`, coordinator: `plearn-ci-coord-${suffix}`, w1: `plearn-ci-w1-${suffix}`, w2: `plearn-ci-w2-${suffix}` };
  let logs: string;
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
    // No reaper here (it is pulled from Docker Hub): what a killed earlier run left, we remove.
    const orphans = await tc!.removeOwned(engine!, 'orphans');
    if (orphans.length) process.stderr.write(`image test: removed leftovers of earlier runs: ${orphans.join(', ')}\n`);
  });

  after(async () => {
    // Containers and network of this run, whether the tests passed or not.
    const removed = await tc!.removeOwned(engine!, 'mine').catch((e: Error) => [`cleanup failed: ${e.message}`]);
    // Old builds of the tag leave dangling layers behind; drop only ours.
    await podman(['image', 'prune', '-f', '--filter', 'label=org.opencontainers.image.title=plearn']).catch(() => undefined);
    // Build and container logs are kept only when something failed.
    if (passed) await rm(logs, { recursive: true, force: true });
    process.stderr.write(`image test (${engine!.name}): timings (s) ${JSON.stringify(timings)}; removed ${removed.length} container(s)/network(s)${passed ? '' : `; logs in ${logs}`}\n`);
  });

  test('base image: debootstrapped bookworm with Node 20 (cached tarball)', { timeout: 600_000 }, async () => {
    const t0 = Date.now();
    const r = await run('bash', [join(ROOT, 'deploy', 'build-base-image.sh'), BASE_IMAGE], 600_000, join(logs, 'base.log'));
    timings.base = (Date.now() - t0) / 1000;
    assert.equal(r.code, 0, `build-base-image.sh failed:\n${tail(r.stderr)}`);
    const v = await podman(['run', '--rm', BASE_IMAGE, 'node', '--version']);
    assert.match(v.stdout.trim(), /^v20\./);
  });

  // The build stays `podman build`, not GenericContainer.fromDockerfile: the npm registry is
  // reached here through a TLS-intercepting proxy, and the build borrows the host's CA bundle
  // through a build-time volume (-v), which the Docker build API has no way to pass; the base
  // image is also podman's (build-base-image.sh imports it). ensureImage hands the result to
  // the engine testcontainers found, when that is not podman itself.
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
    for (const image of [IMAGE, DEBIAN_IMAGE]) await tc!.ensureImage(engine!, image, PODMAN);
  });

  test('nats-server, a coordinator and two workers as containers complete a FourRooms job', { timeout: 300_000 }, async () => {
    const { TestContainer, Wait } = tc!;
    const natsBin = natsServerBin();
    assert.ok(natsBin, 'nats-server on this machine (tests/support/ensure-nats-server.sh)');
    const natsPath = natsBin.includes('/') ? natsBin : spawnSync('sh', ['-c', `command -v ${natsBin}`], { encoding: 'utf8' }).stdout.trim();
    const network = await tc!.ownedNetwork();
    const started: Partial<Record<keyof typeof names, StartedTestContainer>> = {};
    const logOf = async (k: keyof typeof names) => `${names[k]} log:\n${await tc!.containerLogs(engine!, names[k])}`;
    const start = async (k: keyof typeof names, c: TestContainer) => {
      try {
        started[k] = await c.start();
      } catch (e) {
        throw new Error(`${names[k]}: ${(e as Error).message}\n${await logOf(k)}`);
      }
    };

    // nats-server is this machine's binary in the debootstrapped Debian, ready when its monitor says so.
    await start('nats', new TestContainer(DEBIAN_IMAGE).withName(names.nats)
      .withNetwork(network).withNetworkAliases('nats')
      .withBindMounts([{ source: natsPath, target: '/usr/local/bin/nats-server', mode: 'ro' }])
      .withCommand(['nats-server', '-js', '-sd', '/tmp/js', '-p', '4222', '-m', '8222'])
      .withExposedPorts(4222, 8222)
      .withWaitStrategy(Wait.forHttp('/healthz', 8222).forStatusCode(200))
      .withStartupTimeout(60_000));
    const nats = started.nats!;
    // testcontainers says "localhost"; the published port is bound on IPv4.
    const host = nats.getHost() === 'localhost' ? '127.0.0.1' : nats.getHost();
    const hostUrl = `nats://${host}:${nats.getMappedPort(4222)}`;

    // The chart's securityContext, asked of the engine; ready when /readyz answers 200.
    const plearnContainer = (name: string, healthPort: number, args: string[]) => new TestContainer(IMAGE).withName(name)
      .withNetwork(network).withChartSecurityContext()
      .withCommand([...args, '--nats', 'nats://nats:4222', '--threads', '1', '--health-port', String(healthPort)])
      // Both ports the image EXPOSEs, whichever this service listens on: podman 4.3's API lists
      // an EXPOSEd port nobody publishes in HostConfig.PortBindings with no binding, and
      // testcontainers then waits for it to be bound until it times out.
      .withExposedPorts(8080, 8081)
      .withWaitStrategy(Wait.forHttp('/readyz', healthPort).forStatusCode(200))
      .withStartupTimeout(120_000);
    const t0 = Date.now();
    await Promise.all([
      start('coordinator', plearnContainer(names.coordinator, 8081, ['coordinator', '--replicas', '1'])),
      ...(['w1', 'w2'] as const).map((w) => start(w, plearnContainer(names[w], 8080, ['worker', '--id', `ctr-${w}`, '--drain-timeout-ms', '5000']))),
    ]);
    timings.startup = (Date.now() - t0) / 1000;
    const { coordinator, w1, w2 } = started as Record<keyof typeof names, StartedTestContainer>;

    // The hardening, seen from inside each container.
    for (const [name, c] of [[names.coordinator, coordinator], [names.w1, w1], [names.w2, w2]] as const) {
      const r = await c.exec(['sh', '-c', 'id -u; id -g; grep -E "^(CapEff|NoNewPrivs)" /proc/1/status; '
        + 'awk \'$2=="/" {print "root " $4} $2=="/tmp" {print "tmp " $3 " " $4}\' /proc/mounts']);
      assert.equal(r.exitCode, 0, `${name}: ${r.output}`);
      assert.match(r.stdout, /^10001\n10001\n/, `${name}: runs as 10001:10001`);
      assert.match(r.stdout, /^CapEff:\s+0+$/m, `${name}: no capabilities`);
      assert.match(r.stdout, /^NoNewPrivs:\s+1$/m, `${name}: no privilege escalation`);
      assert.match(r.stdout, /^root ro[,\n]/m, `${name}: read-only root filesystem`);
      assert.match(r.stdout, /^tmp tmpfs rw[,\n]/m, `${name}: /tmp a writable tmpfs`);
    }

    const job = ['fourrooms', '--agent', 'oracle', '--goals', '4', '--goals-per-agent', '2'];
    const t1 = Date.now();
    const sub = await plearn(['submit', ...job, '--nats', hostUrl, '--watch', '--json'], 180_000);
    timings.job = (Date.now() - t1) / 1000;
    if (sub.code !== 0) assert.fail(`submit exited ${sub.code}:\n${sub.stderr}\n${await logOf('coordinator')}`);
    const remote = JSON.parse(sub.stdout) as { summary: Record<string, unknown>; seeds: unknown[] };
    const local = await plearn(['run', ...job, '--json'], 120_000);
    assert.equal(local.code, 0, local.stderr);
    const expected = JSON.parse(local.stdout) as { summary: Record<string, unknown> };
    assert.deepEqual(remote.summary, expected.summary, 'the containers compute what plearn run computes');

    const workers = await plearn(['workers', '--nats', hostUrl, '--json']);
    assert.equal(workers.code, 0, workers.stderr);
    const ids = (JSON.parse(workers.stdout) as { id?: string }[]).map((w) => w.id).sort();
    assert.deepEqual(ids, ['ctr-w1', 'ctr-w2']);

    // The image's HEALTHCHECK command, run the way the engine runs it (podman runs health
    // checks from systemd timers, and this machine has no systemd).
    for (const [name, c] of [[names.coordinator, coordinator], [names.w1, w1], [names.w2, w2]] as const) {
      const hc = await c.exec(['node', '/app/deploy/healthcheck.mjs']);
      assert.equal(hc.exitCode, 0, `${name}: HEALTHCHECK failed: ${hc.output}`);
    }

    // SIGTERM (what Kubernetes sends), 30 s before SIGKILL: workers drain and exit 0.
    await Promise.all([w1, w2, coordinator].map((c) => c.stop({ timeout: 30_000, remove: false })));
    const docker = engine!.client.container.dockerode;
    for (const [name, c] of [[names.w1, w1], [names.w2, w2], [names.coordinator, coordinator]] as const) {
      const state = (await docker.getContainer(c.getId()).inspect()).State;
      assert.equal(state.ExitCode, 0, `${name} exit code`);
    }
    assert.match(await tc!.containerLogs(engine!, w1.getId(), 200), /"msg":"drained"/);
    passed = true;
  });
});
