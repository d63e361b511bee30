// Authentication and authorization against a real nats-server running the
// roles of deploy/nats-server.conf: clients without (or with wrong) credentials
// are refused; each role can do its job and nothing of another role's; every
// credential kind works by flag and by PLEARN_NATS_* variable; TLS with a
// private CA and client certificates. Failures are one line, exit code 1
// (bad flags: exit code 2), and never show a secret.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { connectNats, NatsAuthError, resolveNatsOptions } from '../coordinator/nats/connect.ts';
import type { NatsConnectFlags } from '../coordinator/nats/connect.ts';
import { openNats } from '../coordinator/nats-cli.ts';
import type { OpenNats } from '../coordinator/nats-cli.ts';
import { discover } from '../coordinator/nats/services.ts';
import { ConfigError } from '../shared/util/validate.ts';
import { freePort, natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { assertDenied, loginEnv, loginFlags, makeTlsFiles, opensslMissing, plearnEnv, writeOperatorConfig, writeRoleConfig } from './support/nats-auth.ts';
import type { Login, RoleConfig } from './support/nats-auth.ts';
import type { Run } from './support/run-cli.ts';
import { eventually, startService, stopAll } from './support/services.ts';
import type { Service } from './support/services.ts';

const missing = natsServerMissing();
const QUICK_JOB = ['fourrooms', '--agent', 'oracle', '--goals', '4', '--goals-per-agent', '1', '--seed', '7'];

/** A failure the way a user should see it: exit 1, one line on stderr, no stack trace. */
function assertOneLineFailure(r: Run, pattern: RegExp, what: string): void {
  assert.equal(r.code, 1, `${what}: exit code ${r.code}\n${r.stderr}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `${what}: one line, got:\n${r.stderr}`);
  assert.match(lines[0], /^plearn: error: /, what);
  assert.match(lines[0], pattern, what);
}

function assertNoSecret(r: Run, ...secrets: string[]): void {
  for (const s of secrets) assert.ok(!r.stderr.includes(s) && !r.stdout.includes(s), 'a secret appears in the output');
}

async function waitForLog(s: Service, line: string, timeoutMs = 60_000): Promise<void> {
  await eventually(`${s.name}: "${line}"`, async () => {
    if (s.log().includes(line)) return true;
    if (s.child.exitCode !== null) throw new Error(`${s.name} exited ${s.child.exitCode}:\n${s.log()}`);
    return undefined;
  }, timeoutMs, 100);
}

/** Expect a request on `subject` to be refused by the server's permissions. */
describe('credential flags and variables', () => {
  const resolve = (flags: NatsConnectFlags, env: NodeJS.ProcessEnv = {}) => resolveNatsOptions({ ...flags, name: 't' }, env);
  const refused = (flags: NatsConnectFlags, env: NodeJS.ProcessEnv, field: string, pattern: RegExp) => {
    assert.throws(() => resolve(flags, env), (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.field, field);
      assert.match(e.message, pattern);
      return true;
    });
  };
  let dir: string;
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'plearn-auth-flags-')); });
  after(async () => { await rm(dir, { recursive: true, force: true }); });

  test('no credentials anywhere: an anonymous connection', () => {
    assert.deepEqual(resolve({}).credentials, { kind: 'none' });
    assert.equal(resolve({}).tls, undefined);
  });

  test('flags win over variables; an empty variable counts as unset', () => {
    const env = { PLEARN_NATS_URL: 'nats://env:4222', PLEARN_NATS_USER: 'env-user', PLEARN_NATS_PASSWORD: 'env-pw', PLEARN_NATS_TOKEN: '' };
    assert.deepEqual(resolve({}, env).credentials, { kind: 'user', user: 'env-user', password: 'env-pw' });
    assert.deepEqual(resolve({}, env).servers, ['nats://env:4222']);
    const o = resolve({ url: 'nats://a:1,nats://b:2', user: 'flag-user', password: 'flag-pw' }, env);
    assert.deepEqual(o.credentials, { kind: 'user', user: 'flag-user', password: 'flag-pw' });
    assert.deepEqual(o.servers, ['nats://a:1', 'nats://b:2']);
    // A token on the command line replaces the environment's user, instead of clashing with it.
    assert.deepEqual(resolve({ token: 't0k' }, env).credentials, { kind: 'token', token: 't0k' });
    // A user on the command line may take its password from the environment (out of `ps`).
    assert.deepEqual(resolve({ user: 'flag-user' }, { PLEARN_NATS_PASSWORD: 'env-pw' }).credentials,
      { kind: 'user', user: 'flag-user', password: 'env-pw' });
  });

  test('incomplete or clashing credentials name the flag or variable at fault', () => {
    refused({ user: 'u' }, {}, '--nats-user', /needs a password \(--nats-password or PLEARN_NATS_PASSWORD\)/);
    refused({ password: 'p' }, {}, '--nats-password', /needs a user name/);
    refused({}, { PLEARN_NATS_USER: 'u' }, 'PLEARN_NATS_USER', /needs a password/);
    refused({ user: 'u', password: 'p', token: 't' }, {}, '--nats-user', /cannot be combined with --nats-token/);
    refused({}, { PLEARN_NATS_TOKEN: 't', PLEARN_NATS_CREDS: '/x' }, 'PLEARN_NATS_TOKEN', /cannot be combined with PLEARN_NATS_CREDS/);
    refused({ tlsCert: '/x' }, {}, '--nats-tls-cert', /needs its private key/);
    refused({ tlsKey: '/x' }, {}, '--nats-tls-key', /needs its certificate/);
    refused({}, { PLEARN_NATS_CONNECT_TIMEOUT_MS: 'soon' }, 'PLEARN_NATS_CONNECT_TIMEOUT_MS', /positive whole number/);
  });

  test('files: missing, unreadable as the kind expected, or fine', async () => {
    refused({ nkey: join(dir, 'absent.nk') }, {}, '--nats-nkey', /absent\.nk: no such file/);
    refused({}, { PLEARN_NATS_TLS_CA: dir }, 'PLEARN_NATS_TLS_CA', /not a file/);
    const notSeed = join(dir, 'not-a-seed');
    await writeFile(notSeed, 'SAsecret-looking-but-not-a-user-seed\n');
    refused({ nkey: notSeed }, {}, '--nats-nkey', /not an nkey user seed/);
    assert.throws(() => resolve({ nkey: notSeed }), (e: unknown) => !(e as Error).message.includes('secret-looking'), 'the seed is not echoed');
    refused({ creds: notSeed }, {}, '--nats-creds', /not a NATS \.creds file/);
    // A well-formed creds file (its JWT is not checked here, only its shape and subject).
    const { nkeys } = await import('@nats-io/transport-node');
    const kp = nkeys.createUser();
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const jwt = `${b64({ typ: 'JWT', alg: 'ed25519-nkey' })}.${b64({ sub: kp.getPublicKey(), name: 'ci-worker' })}.c2ln`;
    const creds = join(dir, 'user.creds');
    await writeFile(creds, `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n`
      + `************************* IMPORTANT *************************\n\n`
      + `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(kp.getSeed())}\n------END USER NKEY SEED------\n`);
    assert.deepEqual(resolve({}, { PLEARN_NATS_CREDS: creds }).credentials,
      { kind: 'creds', file: creds, subject: kp.getPublicKey(), userName: 'ci-worker' });
  });

  test('an unreachable server: the services refuse to start, in one line', async () => {
    const url = `nats://127.0.0.1:${await freePort()}`;
    const r = await plearnEnv(['worker', '--nats', url, '--health-port', '0']);
    assertOneLineFailure(r, new RegExp(`cannot reach NATS at ${url.replace(/[.]/g, '\\.')}`), 'worker, no server');
  });

  test('bad credential flags on the command line: exit code 2, naming the flag', async () => {
    const r = await plearnEnv(['jobs', '--nats', 'nats://127.0.0.1:1', '--nats-user', 'someone']);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr.trim(), /^plearn: error: --nats-user: needs a password/);
  });
});

describe('roles on a nats-server with deploy/nats-server.conf', { skip: missing ?? false }, () => {
  let dir: string;
  let roles: RoleConfig;
  let server: NatsServerHandle;
  let coordinator: Service;
  const workers: Service[] = [];
  const conns: (NatsConnection | OpenNats)[] = [];
  const url = () => server.url;
  const as = async (l: Login) => {
    const nc = await connectNats(resolveNatsOptions({ url: url(), user: l.user, password: l.password, name: 'auth-test' }, {}));
    conns.push(nc);
    return nc;
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'plearn-auth-'));
    roles = await writeRoleConfig(dir);
    server = await startNatsServer(['-c', roles.path]);
    // Coordinator: admin, by flags. Workers: one by flags (password), one by variable (nkey seed file).
    coordinator = startService('coordinator', ['coordinator', '--nats', url(), ...loginFlags(roles.admin),
      '--threads', '1', '--storage', 'memory', '--health-port', '0', '--log-level', 'info']);
    await waitForLog(coordinator, 'coordinator ready');
    workers.push(startService('wPass', ['worker', '--nats', url(), ...loginFlags(roles.worker),
      '--id', 'wPass', '--threads', '1', '--health-port', '0', '--log-level', 'info']));
    workers.push(startService('wNkey', ['worker', '--nats', url(), '--id', 'wNkey', '--threads', '1', '--health-port', '0', '--log-level', 'info'],
      { PLEARN_NATS_NKEY: roles.nkeySeedFile }));
    for (const w of workers) await waitForLog(w, 'worker ready');
  });

  after(async () => {
    for (const c of conns) await c.close().catch(() => undefined);
    await stopAll([coordinator, ...workers].filter(Boolean));
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('a client without credentials is refused: exit code 1, one line', async () => {
    const r = await plearnEnv(['jobs', '--nats', url()]);
    assertOneLineFailure(r, /refused a connection without credentials: Authorization Violation/, 'jobs, no credentials');
    // The services too refuse to start without credentials.
    const w = await plearnEnv(['worker', '--nats', url(), '--health-port', '0']);
    assertOneLineFailure(w, /refused a connection without credentials/, 'worker, no credentials');
  });

  test('a worker credential trying to submit a job is refused', async () => {
    const r = await plearnEnv(['submit', ...QUICK_JOB, '--nats', url(), ...loginFlags(roles.worker)]);
    assertOneLineFailure(r, /denied permission to publish to "plearn\.api\.submit" \(Permissions Violation\): this needs the submitter role/,
      'submit as worker');
    assertNoSecret(r, roles.worker.password);
    // Nothing reached the coordinator.
    const admin = await as(roles.admin);
    const list = await admin.request('plearn.api.list', '{}', { timeout: 5000 });
    assert.deepEqual((list.json() as { jobs: unknown[] }).jobs, []);
  });

  test('a wrong password gets the credentials message, never the password', async () => {
    const r = await plearnEnv(['jobs', '--nats', url()], { ...loginEnv({ user: roles.submitter.user, password: 'wrong-Pa55word' }) });
    assertOneLineFailure(r, /refused the credentials \(user "plearn-submitter"\): Authorization Violation/, 'wrong password');
    assertNoSecret(r, 'wrong-Pa55word');
  });

  test('credentials of the wrong role: the services refuse to start, naming the subject', async () => {
    const c = await plearnEnv(['coordinator', '--nats', url(), '--health-port', '0'], loginEnv(roles.worker));
    assertOneLineFailure(c, /plearn coordinator: .*denied user "plearn-worker" permission to publish to "\$JS\.API\.STREAM\.CREATE\.PLEARN_TASKS".*admin role/,
      'coordinator as worker');
    const w = await plearnEnv(['worker', '--nats', url(), '--health-port', '0', ...loginFlags(roles.submitter)]);
    assertOneLineFailure(w, /plearn worker: .*denied user "plearn-submitter" permission to publish to "\$JS\.API\.CONSUMER\.MSG\.NEXT\.PLEARN_TASKS\.plearn-workers".*worker role/,
      'worker as submitter');
  });

  test('a full job: admin coordinator, worker-role workers (password, nkey), `plearn submit --watch` as submitter', async () => {
    // The submitter's login by variables, with a wrong password in the environment
    // overridden by the flag for `results`: flags win.
    const sub = await plearnEnv(['submit', ...QUICK_JOB, '--nats', url(), '--watch', '--json'], loginEnv(roles.submitter), 90_000);
    assert.equal(sub.code, 0, `${sub.stderr}\n--- coordinator ---\n${coordinator.log().slice(-2000)}`);
    const doc = JSON.parse(sub.stdout) as { summary: unknown };
    assert.ok(doc.summary, 'the report of the job');
    const jobs = await plearnEnv(['jobs', '--json', '--nats', url(), ...loginFlags(roles.submitter)],
      loginEnv({ user: roles.submitter.user, password: 'stale-password' }));
    assert.equal(jobs.code, 0, jobs.stderr);
    const [job] = JSON.parse(jobs.stdout) as { id: string; status: string; tasks: number; fits: number }[];
    assert.equal(job.status, 'completed');
    const res = await plearnEnv(['results', job.id, '--json', '--nats', url()], loginEnv(roles.submitter));
    assert.equal(res.code, 0, res.stderr);
    assert.deepEqual(JSON.parse(res.stdout), doc);
    // Worker discovery works for the submitter, and both workers (password and nkey) answer.
    const ws = await plearnEnv(['workers', '--json', '--nats', url()], loginEnv(roles.submitter));
    assert.equal(ws.code, 0, ws.stderr);
    assert.deepEqual((JSON.parse(ws.stdout) as { id: string }[]).map((w) => w.id).sort(), ['wNkey', 'wPass']);
    const done = (JSON.parse(ws.stdout) as { completed: number }[]).reduce((n, w) => n + w.completed, 0);
    // The coordinator hands fits to the workers (its default --fits-on workers): worker-role credentials suffice for both.
    assert.equal(done, job.tasks + job.fits, 'every agent task and fit ran on the two workers');
  });

  test('each role reaches only its own subjects', async () => {
    const worker = await as(roles.worker);
    const submitter = await as(roles.submitter);
    for (const s of ['plearn.api.cancel', '$JS.API.STREAM.DELETE.PLEARN_TASKS', '$JS.API.STREAM.PURGE.KV_plearn-state',
      '$JS.API.CONSUMER.DELETE.PLEARN_TASKS.plearn-workers', '$KV.plearn-state.job.x', '$KV.plearn-state.leader',
      '$KV.plearn-state.sweep.x']) await assertDenied(worker, s);
    for (const s of ['$KV.plearn-state.job.x', '$O.plearn-artifacts.M.x', 'plearn.task.j.t', 'plearn.events.j',
      '$JS.API.CONSUMER.MSG.NEXT.PLEARN_TASKS.plearn-workers', '$JS.API.STREAM.MSG.GET.KV_plearn-state']) await assertDenied(submitter, s);
    // Discovery of workers is allowed to the submitter but not answering for the coordinator's API.
    assert.equal((await discover(submitter, 'plearn-worker', 1000)).length, 2);
  });

  test('the submitter reads a large artifact (flow-controlled) from the Object Store', async () => {
    const admin = await openNats({ nats: url(), natsUser: roles.admin.user, natsPassword: roles.admin.password }, 'auth-test', { client: true });
    conns.push(admin);
    const big = new Uint8Array(32 * 1024 * 1024).map((_, i) => i % 251);
    await admin.transport.blobs.put('result/auth-test-big.json', big);
    const reader = await openNats({ nats: url(), natsUser: roles.submitter.user, natsPassword: roles.submitter.password }, 'auth-test', { client: true });
    conns.push(reader);
    const got = await Promise.race([reader.transport.blobs.get('result/auth-test-big.json'),
      new Promise<'stalled'>((r) => setTimeout(() => r('stalled'), 20_000))]);
    if (got === 'stalled') assert.fail('the read stalled: flow-control replies ($JS.FC) denied?');
    assert.ok(got);
    assert.equal(got.length, big.length);
    assert.ok(got.every((v, i) => v === i % 251));
  });
});

describe('token authentication', { skip: missing ?? false }, () => {
  let server: NatsServerHandle;
  let coordinator: Service | undefined;
  const token = `tok-${Date.now().toString(36)}-secret`;

  before(async () => { server = await startNatsServer(['--auth', token]); });
  after(async () => {
    if (coordinator) await stopAll([coordinator]);
    await server?.stop();
  });

  test('by flag and by PLEARN_NATS_TOKEN; a wrong token is refused', async () => {
    coordinator = startService('coordinator-token', ['coordinator', '--nats', server.url, '--nats-token', token,
      '--threads', '1', '--storage', 'memory', '--health-port', '0', '--log-level', 'info']);
    await waitForLog(coordinator, 'coordinator ready');
    const ok = await plearnEnv(['jobs', '--json', '--nats', server.url], { PLEARN_NATS_TOKEN: token });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), []);
    const bad = await plearnEnv(['jobs', '--nats', server.url, '--nats-token', 'not-the-token']);
    assertOneLineFailure(bad, /refused the credentials \(token\): Authorization Violation/, 'wrong token');
    assertNoSecret(bad, 'not-the-token', token);
  });
});

describe('.creds files on a server in operator (JWT) mode', { skip: missing ?? false }, () => {
  let dir: string;
  let server: NatsServerHandle;
  let coordinator: Service | undefined;

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'plearn-auth-creds-')); });
  after(async () => {
    if (coordinator) await stopAll([coordinator]);
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('by flag and by PLEARN_NATS_CREDS; a user of an unknown account is refused', async () => {
    const op = await writeOperatorConfig(dir);
    server = await startNatsServer(['-c', op.path]);
    coordinator = startService('coordinator-creds', ['coordinator', '--nats', server.url, '--nats-creds', op.creds,
      '--threads', '1', '--storage', 'memory', '--health-port', '0', '--log-level', 'info']);
    await waitForLog(coordinator, 'coordinator ready');
    const ok = await plearnEnv(['jobs', '--json', '--nats', server.url], { PLEARN_NATS_CREDS: op.creds });
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), []);
    const bad = await plearnEnv(['jobs', '--nats', server.url, '--nats-creds', op.strangerCreds]);
    assertOneLineFailure(bad, /refused the credentials \(user "stranger" from .*stranger\.creds\): Authorization Violation/, 'unknown account');
    const seed = (await readFile(op.strangerCreds, 'utf8')).split('\n').find((l) => l.startsWith('SU'))!;
    assertNoSecret(bad, seed);
  });
});

describe('TLS with a private CA and client certificates', { skip: missing ?? opensslMissing() ?? false }, () => {
  let dir: string;
  let server: NatsServerHandle;
  let coordinator: Service | undefined;

  before(async () => { dir = await mkdtemp(join(tmpdir(), 'plearn-auth-tls-')); });
  after(async () => {
    if (coordinator) await stopAll([coordinator]);
    await server?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the coordinator (flags) and a client (variables) connect over TLS; without the CA the client is refused', async () => {
    const tls = await makeTlsFiles(dir);
    const roles = await writeRoleConfig(dir, { tls, name: 'tls' });
    server = await startNatsServer(['-c', roles.path]);
    const tlsFlags = ['--nats-tls-ca', tls.ca, '--nats-tls-cert', tls.clientCert, '--nats-tls-key', tls.clientKey];
    coordinator = startService('coordinator-tls', ['coordinator', '--nats', server.url, ...loginFlags(roles.admin), ...tlsFlags,
      '--threads', '1', '--storage', 'memory', '--health-port', '0', '--log-level', 'info']);
    await waitForLog(coordinator, 'coordinator ready');
    const env = { ...loginEnv(roles.submitter), PLEARN_NATS_TLS_CA: tls.ca, PLEARN_NATS_TLS_CERT: tls.clientCert, PLEARN_NATS_TLS_KEY: tls.clientKey };
    const ok = await plearnEnv(['jobs', '--json', '--nats', `tls://127.0.0.1:${server.port}`], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual(JSON.parse(ok.stdout), []);
    const noCa = await plearnEnv(['jobs', '--nats', server.url, '--nats-tls-cert', tls.clientCert, '--nats-tls-key', tls.clientKey],
      loginEnv(roles.submitter));
    assertOneLineFailure(noCa, /cannot reach NATS at .*certificate/i, 'TLS without the CA');
    const noCert = await plearnEnv(['jobs', '--nats', server.url, '--nats-tls-ca', tls.ca],
      { ...loginEnv(roles.submitter), PLEARN_NATS_CONNECT_TIMEOUT_MS: '1500' });
    assertOneLineFailure(noCert, /cannot reach NATS at .*--nats-tls-cert and --nats-tls-key/, 'TLS without a client certificate');
    // The wrong kind of failure would be an authentication one: check the class the services see.
    await assert.rejects(connectNats(resolveNatsOptions({ url: server.url, ...{ user: roles.submitter.user, password: 'x' },
      tlsCa: tls.ca, tlsCert: tls.clientCert, tlsKey: tls.clientKey, name: 't' }, {})), NatsAuthError);
  });
});
