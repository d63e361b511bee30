// Test copies of deploy/nats-server.conf with real secrets in place of its
// CHANGE-ME placeholders (so the tests check the shipped roles, not a private
// copy of them), a throwaway CA and certificates made with openssl, and the CLI
// run with a chosen set of PLEARN_NATS_* variables.

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { nkeys } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { findPermissionViolation } from '../../coordinator/nats/connect.ts';
import { BIN, ROOT, runProcess } from './run-cli.ts';
import type { Run } from './run-cli.ts';

export interface Login { readonly user: string; readonly password: string }

export interface RoleConfig {
  readonly path: string;
  readonly admin: Login;
  readonly worker: Login;
  readonly submitter: Login;
  /** Seed file and public key of the config's nkey user (worker role). */
  readonly nkeySeedFile: string;
  readonly nkeyPublic: string;
}

export interface TlsFiles {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

const secret = () => randomBytes(18).toString('base64url');

function replaceOnce(text: string, find: string | RegExp, by: string, what: string): string {
  const count = typeof find === 'string' ? text.split(find).length - 1 : (text.match(new RegExp(find.source, 'g')) ?? []).length;
  if (count !== 1) throw new Error(`deploy/nats-server.conf: expected exactly one ${what}, found ${count}`);
  return text.replace(find, by);
}

/**
 * Write a runnable copy of deploy/nats-server.conf into `dir`: fresh passwords
 * and nkey, no store_dir/listen/http (startNatsServer passes -sd, -a and -p, and
 * parallel servers must not share a monitoring port), and optionally TLS.
 */
export async function writeRoleConfig(dir: string, opts: { tls?: TlsFiles; name?: string } = {}): Promise<RoleConfig> {
  let text = await readFile(join(ROOT, 'deploy', 'nats-server.conf'), 'utf8');
  const login = (role: string): Login => {
    const l = { user: `plearn-${role}`, password: secret() };
    text = replaceOnce(text, `"CHANGE-ME-${role}-password"`, JSON.stringify(l.password), `${role} password placeholder`);
    return l;
  };
  const admin = login('admin');
  const worker = login('worker');
  const submitter = login('submitter');
  const kp = nkeys.createUser();
  text = replaceOnce(text, /\bnkey: U[A-Z2-7]{55}\b/, `nkey: ${kp.getPublicKey()}`, 'example nkey user');
  text = text.split('\n').filter((l) => !/^\s*(store_dir|listen|http)\s*:/.test(l)).join('\n');
  if (opts.tls) {
    text += `\ntls {\n  cert_file: ${JSON.stringify(opts.tls.serverCert)}\n  key_file: ${JSON.stringify(opts.tls.serverKey)}\n`
      + `  ca_file: ${JSON.stringify(opts.tls.ca)}\n  verify: true\n  timeout: 5\n}\n`;
  }
  const path = join(dir, `${opts.name ?? 'nats-server'}.conf`);
  await writeFile(path, text);
  const nkeySeedFile = join(dir, `${opts.name ?? 'nats-server'}-worker.nk`);
  await writeFile(nkeySeedFile, new TextDecoder().decode(kp.getSeed()) + '\n', { mode: 0o600 });
  return { path, admin, worker, submitter, nkeySeedFile, nkeyPublic: kp.getPublicKey() };
}

// --- operator mode: .creds files -----------------------------------------------

type KeyPair = ReturnType<typeof nkeys.createUser>;

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A NATS JWT (v2 claims) for `subject`, signed by `issuer`. */
function natsJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const head = b64url({ typ: 'JWT', alg: 'ed25519-nkey' });
  const body = b64url({
    jti: randomBytes(16).toString('hex').toUpperCase(), iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 },
  });
  const sig = Buffer.from(issuer.sign(new TextEncoder().encode(`${head}.${body}`))).toString('base64url');
  return `${head}.${body}.${sig}`;
}

function credsText(jwt: string, seed: Uint8Array): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n`
    + '************************* IMPORTANT *************************\nNKEY Seed printed below can be used to sign and prove identity.\n\n'
    + `-----BEGIN USER NKEY SEED-----\n${new TextDecoder().decode(seed)}\n------END USER NKEY SEED------\n`;
}

export interface OperatorConfig {
  readonly path: string;
  /** A user of the JetStream-enabled account, as a .creds file. */
  readonly creds: string;
  readonly userName: string;
  /** A user signed by an account the server does not know. */
  readonly strangerCreds: string;
}

/**
 * A server in operator (decentralized JWT) mode, as `nsc` would set it up: an
 * operator, a system account, an account with JetStream, and users as .creds
 * files, the accounts preloaded in a memory resolver.
 */
export async function writeOperatorConfig(dir: string): Promise<OperatorConfig> {
  const operator = nkeys.createOperator();
  const system = nkeys.createAccount();
  const account = nkeys.createAccount();
  const unlimited = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const jetstream = { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 };
  const accountJwt = natsJwt(operator, account.getPublicKey(), 'PLEARN', { type: 'account', limits: { ...unlimited, ...jetstream } });
  const systemJwt = natsJwt(operator, system.getPublicKey(), 'SYS', { type: 'account', limits: unlimited });
  const path = join(dir, 'operator.conf');
  await writeFile(path, [
    `operator: ${natsJwt(operator, operator.getPublicKey(), 'plearn-test', { type: 'operator' })}`,
    `system_account: ${system.getPublicKey()}`,
    'resolver: MEMORY',
    `resolver_preload: {\n  ${account.getPublicKey()}: ${accountJwt}\n  ${system.getPublicKey()}: ${systemJwt}\n}`,
    '',
  ].join('\n'));
  const userCreds = async (signer: KeyPair, name: string) => {
    const user = nkeys.createUser();
    const file = join(dir, `${name}.creds`);
    const jwt = natsJwt(signer, user.getPublicKey(), name, { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
    await writeFile(file, credsText(jwt, user.getSeed()), { mode: 0o600 });
    return file;
  };
  return {
    path,
    creds: await userCreds(account, 'plearn-ci'),
    userName: 'plearn-ci',
    strangerCreds: await userCreds(nkeys.createAccount(), 'stranger'),
  };
}

/** Why TLS files cannot be made here, or null. */
export function opensslMissing(): string | null {
  return spawnSync('openssl', ['version']).status === 0 ? null : 'openssl not found: the TLS case needs it to make a test CA';
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.stderr}`);
}

/** A CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by the CA. */
export async function makeTlsFiles(dir: string): Promise<TlsFiles> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=plearn test CA'], dir);
  const issue = async (name: string, ext: string) => {
    await writeFile(join(dir, `${name}.ext`), ext);
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=plearn ${name}`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`], dir);
  };
  await issue('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await issue('client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: join(dir, 'ca.crt'),
    serverCert: join(dir, 'server.crt'), serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.crt'), clientKey: join(dir, 'client.key'),
  };
}

/** The credential flags for a login. */
export const loginFlags = (l: Login) => ['--nats-user', l.user, '--nats-password', l.password];

/** The same login as PLEARN_NATS_* variables. */
export const loginEnv = (l: Login): NodeJS.ProcessEnv => ({ PLEARN_NATS_USER: l.user, PLEARN_NATS_PASSWORD: l.password });

/**
 * Run `plearn` with exactly the PLEARN_NATS_* variables in `env` (none inherited
 * from the test's own environment, so a developer's settings cannot leak in).
 */
export function plearnEnv(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 60_000): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PLEARN_NATS_')));
  return runProcess(process.execPath, [BIN, ...args], { env: { ...base, ...env }, timeoutMs });
}

/** A request on `subject` fails with the server's permission violation for publishing to it. */
export async function assertDenied(nc: NatsConnection, subject: string): Promise<void> {
  await assert.rejects(nc.request(subject, '{}', { timeout: 5000 }), (e: unknown) => {
    const v = findPermissionViolation(e);
    assert.deepEqual(v && { operation: v.operation, subject: v.subject }, { operation: 'publish', subject }, String(e));
    return true;
  });
}
