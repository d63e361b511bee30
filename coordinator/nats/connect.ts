// Connecting to NATS: where the URL, the credentials and the TLS files come from
// (flags, then PLEARN_NATS_* variables), a bounded first attempt whose failure
// says which server refused what, and endless reconnects once connected (a pod
// outlives a NATS rolling restart). No secret ever reaches a message or a log:
// identities are described by user name, public key or file name only.

import { accessSync, constants as fsConstants, readFileSync, statSync } from 'node:fs';
import {
  connect, credsAuthenticator, errors, nkeyAuthenticator, nkeys, tokenAuthenticator, usernamePasswordAuthenticator,
} from '@nats-io/transport-node';
import type { Authenticator, NatsConnection, NodeConnectionOptions, TlsOptions } from '@nats-io/transport-node';
import { ConfigError } from '../../shared/util/validate.ts';

export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** What the command line gave; every field may also come from its PLEARN_NATS_* variable. */
export interface NatsConnectFlags {
  url?: string;
  user?: string;
  password?: string;
  token?: string;
  nkey?: string;
  creds?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export type NatsCredentials =
  | { readonly kind: 'none' }
  | { readonly kind: 'user'; readonly user: string; readonly password: string }
  | { readonly kind: 'token'; readonly token: string }
  | { readonly kind: 'nkey'; readonly file: string; readonly publicKey: string }
  | { readonly kind: 'creds'; readonly file: string; readonly subject: string; readonly userName?: string };

export interface NatsTlsFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

export interface NatsOptions {
  readonly servers: string[];
  readonly name: string;
  /** How long the first connection may take before giving up (ms). */
  readonly connectTimeoutMs: number;
  readonly credentials: NatsCredentials;
  /** Absent: TLS only where the URL (tls://) or the server asks for it, with the system CAs. */
  readonly tls?: NatsTlsFiles;
}

/** A denied subject, as the server reported it. */
export interface PermissionViolation {
  readonly operation: 'publish' | 'subscription';
  readonly subject: string;
  readonly message: string;
}

/**
 * A NATS problem the user fixes outside plearn (server down, wrong credentials,
 * missing permission): the CLI prints its message as one line, exit code 1.
 */
export class NatsFailure extends Error {}

export class NatsConnectError extends NatsFailure {
  constructor(readonly servers: string[], reason: string) {
    super(`cannot reach NATS at ${redactServers(servers)}: ${reason}`);
    this.name = 'NatsConnectError';
  }
}

export class NatsAuthError extends NatsFailure {
  constructor(readonly servers: string[], identity: string, reason: string) {
    super(identity === NO_CREDENTIALS
      ? `NATS at ${redactServers(servers)} refused a connection without credentials: ${reason}`
        + ' (give --nats-user/--nats-password, --nats-token, --nats-nkey or --nats-creds, or their PLEARN_NATS_* variables)'
      : `NATS at ${redactServers(servers)} refused the credentials (${identity}): ${reason}`);
    this.name = 'NatsAuthError';
  }
}

export class NatsPermissionError extends NatsFailure {
  constructor(readonly operation: string, readonly subject: string, message: string) {
    super(message);
    this.name = 'NatsPermissionError';
  }
}

// --- where each setting comes from -------------------------------------------

interface Source { readonly flag: string; readonly env: string }

const SOURCES = {
  url: { flag: '--nats', env: 'PLEARN_NATS_URL' },
  user: { flag: '--nats-user', env: 'PLEARN_NATS_USER' },
  password: { flag: '--nats-password', env: 'PLEARN_NATS_PASSWORD' },
  token: { flag: '--nats-token', env: 'PLEARN_NATS_TOKEN' },
  nkey: { flag: '--nats-nkey', env: 'PLEARN_NATS_NKEY' },
  creds: { flag: '--nats-creds', env: 'PLEARN_NATS_CREDS' },
  tlsCa: { flag: '--nats-tls-ca', env: 'PLEARN_NATS_TLS_CA' },
  tlsCert: { flag: '--nats-tls-cert', env: 'PLEARN_NATS_TLS_CERT' },
  tlsKey: { flag: '--nats-tls-key', env: 'PLEARN_NATS_TLS_KEY' },
} as const satisfies Record<keyof NatsConnectFlags, Source>;

type Field = keyof NatsConnectFlags;

/** One resolved setting and the name to blame in an error message. */
interface Setting { readonly value: string; readonly from: string }

const METHODS = { user: ['user', 'password'], token: ['token'], nkey: ['nkey'], creds: ['creds'] } as const;
type Method = keyof typeof METHODS;

// A Helm chart fills absent Secret keys with empty strings: an empty value counts as unset.
const given = (v: string | undefined): v is string => v !== undefined && v !== '';

/** Each field from its flag, else from its variable. */
function fromFlagsOrEnv(fields: readonly Field[], flags: NatsConnectFlags, env: NodeJS.ProcessEnv): Map<Field, Setting> {
  const out = new Map<Field, Setting>();
  for (const f of fields) {
    const flag = flags[f];
    const fromEnv = env[SOURCES[f].env];
    if (given(flag)) out.set(f, { value: flag, from: SOURCES[f].flag });
    else if (given(fromEnv)) out.set(f, { value: fromEnv, from: SOURCES[f].env });
  }
  return out;
}

/**
 * Pick the credential method. When the command line names any credential, the
 * command line decides the method: a `--nats-token` is not undone by a
 * PLEARN_NATS_USER left in the environment. Fields of the chosen method that the
 * command line left out may still come from the environment (a user on the
 * command line, its password in PLEARN_NATS_PASSWORD, out of `ps`).
 */
function chooseMethod(flags: NatsConnectFlags, env: NodeJS.ProcessEnv): { method: Method; settings: Map<Field, Setting> } | null {
  const methods = Object.keys(METHODS) as Method[];
  const fromFlag = (f: Field) => flags[f];
  const fromEnv = (f: Field) => env[SOURCES[f].env];
  const onCommandLine = methods.filter((m) => METHODS[m].some((f) => given(fromFlag(f))));
  const kind = onCommandLine.length > 0 ? 'flag' : 'env';
  const where = kind === 'flag' ? fromFlag : fromEnv;
  const pool = kind === 'flag' ? onCommandLine : methods.filter((m) => METHODS[m].some((f) => given(fromEnv(f))));
  if (pool.length > 1) {
    const names = pool.map((m) => SOURCES[METHODS[m].find((f) => given(where(f)))!][kind]);
    throw new ConfigError(names[0], `cannot be combined with ${names.slice(1).join(', ')}: give one kind of NATS credentials`);
  }
  if (pool.length === 0) return null;
  const method = pool[0];
  return { method, settings: fromFlagsOrEnv(METHODS[method], flags, env) };
}

function readableFile(s: Setting, what: string): string {
  let isFile: boolean;
  try {
    isFile = statSync(s.value).isFile();
    accessSync(s.value, fsConstants.R_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'not readable' : (e as Error).message;
    throw new ConfigError(s.from, `${s.value}: ${why} (expected ${what})`);
  }
  if (!isFile) throw new ConfigError(s.from, `${s.value}: not a file (expected ${what})`);
  return s.value;
}

function nkeyCredentials(s: Setting): NatsCredentials {
  const file = readableFile(s, 'an nkey user seed, SU…');
  const seed = readFileSync(file, 'utf8').trim();
  try {
    if (!seed.startsWith('SU')) throw new Error('not a user seed');
    return { kind: 'nkey', file, publicKey: nkeys.fromSeed(new TextEncoder().encode(seed)).getPublicKey() };
  } catch {
    // Never echo the file's contents: it is a secret.
    throw new ConfigError(s.from, `${file}: not an nkey user seed (one line starting with SU, as \`nsc\` or \`nk -gen user\` writes it)`);
  }
}

/** The JWT and seed blocks of a .creds file, or null when it is not one. */
function parseCreds(text: string): { jwt: string; seed: string } | null {
  const block = (label: string) => {
    const m = new RegExp(`-{3,}[^\\n]*${label}[^\\n]*-{3,}\\s*\\n\\s*(\\S+)\\s*\\n`, 'i').exec(text);
    return m ? m[1] : null;
  };
  const jwt = block('BEGIN NATS USER JWT');
  const seed = block('BEGIN USER NKEY SEED');
  return jwt && seed ? { jwt, seed } : null;
}

function credsCredentials(s: Setting): NatsCredentials {
  const file = readableFile(s, 'a NATS .creds file');
  const parsed = parseCreds(readFileSync(file, 'utf8'));
  if (!parsed || !parsed.seed.startsWith('SU')) {
    throw new ConfigError(s.from, `${file}: not a NATS .creds file (a user JWT block and a user nkey seed block)`);
  }
  // The claims name the user; only the subject (a public key) and the name are kept.
  let claims: { sub?: unknown; name?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parsed.jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw new ConfigError(s.from, `${file}: its user JWT cannot be decoded`);
  }
  if (typeof claims.sub !== 'string') throw new ConfigError(s.from, `${file}: its user JWT has no subject`);
  return { kind: 'creds', file, subject: claims.sub, userName: typeof claims.name === 'string' ? claims.name : undefined };
}

function resolveCredentials(flags: NatsConnectFlags, env: NodeJS.ProcessEnv): NatsCredentials {
  const chosen = chooseMethod(flags, env);
  if (!chosen) return { kind: 'none' };
  const { method, settings } = chosen;
  switch (method) {
    case 'user': {
      const user = settings.get('user');
      const password = settings.get('password');
      if (!user) throw new ConfigError(password!.from, `needs a user name (${SOURCES.user.flag} or ${SOURCES.user.env})`);
      if (!password) throw new ConfigError(user.from, `needs a password (${SOURCES.password.flag} or ${SOURCES.password.env})`);
      return { kind: 'user', user: user.value, password: password.value };
    }
    case 'token':
      return { kind: 'token', token: settings.get('token')!.value };
    case 'nkey':
      return nkeyCredentials(settings.get('nkey')!);
    case 'creds':
      return credsCredentials(settings.get('creds')!);
  }
}

function resolveTls(flags: NatsConnectFlags, env: NodeJS.ProcessEnv): NatsTlsFiles | undefined {
  const s = fromFlagsOrEnv(['tlsCa', 'tlsCert', 'tlsKey'], flags, env);
  if (s.size === 0) return undefined;
  const cert = s.get('tlsCert');
  const key = s.get('tlsKey');
  if (cert && !key) throw new ConfigError(cert.from, `needs its private key (${SOURCES.tlsKey.flag} or ${SOURCES.tlsKey.env})`);
  if (key && !cert) throw new ConfigError(key.from, `needs its certificate (${SOURCES.tlsCert.flag} or ${SOURCES.tlsCert.env})`);
  const ca = s.get('tlsCa');
  return {
    ca: ca && readableFile(ca, 'a PEM CA certificate'),
    cert: cert && readableFile(cert, 'a PEM client certificate'),
    key: key && readableFile(key, 'a PEM private key'),
  };
}

export function resolveNatsOptions(flags: NatsConnectFlags & { name: string }, env: NodeJS.ProcessEnv): NatsOptions {
  const raw = given(flags.url) ? flags.url : given(env.PLEARN_NATS_URL) ? env.PLEARN_NATS_URL : DEFAULT_NATS_URL;
  const servers = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (servers.length === 0) throw new NatsConnectError([raw], 'no server URL given (--nats or PLEARN_NATS_URL)');
  const timeout = env.PLEARN_NATS_CONNECT_TIMEOUT_MS;
  const connectTimeoutMs = given(timeout) ? Number(timeout) : 5000;
  if (!Number.isInteger(connectTimeoutMs) || connectTimeoutMs < 1) {
    throw new ConfigError('PLEARN_NATS_CONNECT_TIMEOUT_MS', `${JSON.stringify(timeout)} is not a positive whole number of milliseconds`);
  }
  return {
    servers, name: flags.name, connectTimeoutMs,
    credentials: resolveCredentials(flags, env),
    tls: resolveTls(flags, env),
  };
}

// --- describing, without secrets ---------------------------------------------

/** The servers with any user:password@ in a URL masked, fit for messages and logs. */
export function redactServers(servers: readonly string[]): string {
  return servers.map((s) => s.replace(/\/\/[^/@]*@/, '//***@')).join(', ');
}

const NO_CREDENTIALS = 'no credentials';

/** Who is connecting, for messages: never a password, token or seed. */
export function describeIdentity(c: NatsCredentials): string {
  switch (c.kind) {
    case 'none': return NO_CREDENTIALS;
    case 'user': return `user ${JSON.stringify(c.user)}`;
    case 'token': return 'token';
    case 'nkey': return `nkey ${c.publicKey} from ${c.file}`;
    case 'creds': return `${c.userName ? `user ${JSON.stringify(c.userName)}` : `user ${c.subject}`} from ${c.file}`;
  }
}

function authenticator(c: NatsCredentials): Authenticator | undefined {
  // Files are read again at each (re)connect: a rotated Kubernetes Secret takes
  // effect at the next reconnect without a restart.
  switch (c.kind) {
    case 'none': return undefined;
    case 'user': return usernamePasswordAuthenticator(c.user, c.password);
    case 'token': return tokenAuthenticator(c.token);
    case 'nkey': return nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(c.file, 'utf8').trim()));
    case 'creds': return credsAuthenticator(() => readFileSync(c.file));
  }
}

const isAuthRefusal = (e: Error): boolean => e instanceof errors.AuthorizationError || e instanceof errors.UserAuthenticationExpiredError
  || /authorization violation|authentication (expired|timeout)/i.test(e.message);

export async function connectNats(opts: NatsOptions): Promise<NatsConnection> {
  const tls: TlsOptions | undefined = opts.tls && {
    ...(opts.tls.ca ? { caFile: opts.tls.ca } : {}),
    ...(opts.tls.cert ? { certFile: opts.tls.cert } : {}),
    ...(opts.tls.key ? { keyFile: opts.tls.key } : {}),
  };
  const o: NodeConnectionOptions = {
    servers: opts.servers,
    name: opts.name,
    timeout: opts.connectTimeoutMs,
    authenticator: authenticator(opts.credentials),
    tls,
    // The first attempt must fail fast with a clear message; after that, never give up.
    waitOnFirstConnect: false,
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    // Without this the client builds an Error (and its stack) for every request and
    // pull just in case it times out: a tenth of a busy worker's CPU in the scaling
    // benchmark. Our timeouts are caught and reported with their own context.
    noAsyncTraces: true,
  };
  try {
    return await connect(o);
  } catch (e) {
    for (let c: unknown = e; c instanceof Error; c = c.cause) {
      if (isAuthRefusal(c)) throw new NatsAuthError(opts.servers, describeIdentity(opts.credentials), c.message);
    }
    const err = e as Error & { code?: string };
    let reason = err.code ? `${err.message} (${err.code})` : err.message;
    // A server that requires client certificates drops a client without one after
    // the TLS handshake, which the client only sees as a timeout.
    if (opts.tls && !opts.tls.cert && /timeout/i.test(reason)) {
      reason += ' (if the server requires client certificates: --nats-tls-cert and --nats-tls-key)';
    }
    throw new NatsConnectError(opts.servers, reason);
  }
}

// --- permission failures -------------------------------------------------------

/** The first permission violation in an error or its causes (the client wraps some). */
export function findPermissionViolation(e: unknown): PermissionViolation | null {
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (c instanceof errors.PermissionViolationError) return { operation: c.operation, subject: c.subject, message: c.message };
    // Some callers re-wrap the error in a message of their own.
    const m = /Permissions Violation for (Publish|Subscription) to "?([^"\s]+)"?/i.exec(c.message);
    if (m) return { operation: m[1].toLowerCase() === 'publish' ? 'publish' : 'subscription', subject: m[2], message: m[0] };
  }
  return null;
}

/**
 * Publish to each subject with no reply subject and wait for the server's
 * verdict: the first one denied, or null. Only for subjects where a message
 * without a reply does nothing (JetStream drops a pull request with nowhere to
 * deliver).
 */
export async function firstDeniedPublish(nc: NatsConnection, subjects: readonly string[]): Promise<PermissionViolation | null> {
  const seen: PermissionViolation[] = [];
  const status = nc.status();
  void (async () => {
    for await (const s of status) {
      const v = s.type === 'error' ? findPermissionViolation(s.error) : null;
      if (v) seen.push(v);
    }
  })();
  try {
    for (const subject of subjects) nc.publish(subject);
    // The server answers a denied publish with -ERR before the PONG of this flush;
    // one more turn of the event loop lets the status loop above take it in.
    await nc.flush();
    await new Promise((r) => setTimeout(r, 0));
  } finally {
    if ('stop' in status && typeof status.stop === 'function') (status.stop as () => void).call(status);
  }
  return seen.find((v) => v.operation === 'publish' && subjects.includes(v.subject)) ?? null;
}

/** Which role grants a subject, for the hint in a permission message. */
function roleFor(subject: string): string {
  if (subject.startsWith('plearn.api.')) return 'the submitter role (or admin)';
  if (/^\$JS\.(API\.CONSUMER\.MSG\.NEXT|ACK)\.PLEARN_TASKS\./.test(subject)) return 'the worker role (or admin)';
  if (/^\$JS\.API\.(STREAM|CONSUMER)\.(CREATE|UPDATE|DELETE|DURABLE\.CREATE)/.test(subject)) return 'the admin role (the coordinator)';
  return 'a plearn role that includes it';
}

export function permissionMessage(v: { operation: string; subject: string }, who?: { servers: readonly string[]; identity: string }): string {
  const verb = v.operation === 'publish' ? 'publish to' : 'subscribe to';
  const by = who ? `NATS at ${redactServers(who.servers)} denied ${who.identity} permission to ${verb}` : `NATS denied permission to ${verb}`;
  return `${by} "${v.subject}" (Permissions Violation): this needs ${roleFor(v.subject)}; see deploy/nats-roles.md`;
}

/**
 * The one line a NATS failure deserves on the command line, or null when `e` is
 * not one (then it is a bug and its stack helps).
 */
export function natsFailureLine(e: unknown): string | null {
  if (e instanceof NatsFailure) return e.message;
  const v = findPermissionViolation(e);
  if (v) return permissionMessage(v);
  for (let c: unknown = e; c instanceof Error; c = c.cause) {
    if (isAuthRefusal(c)) return `NATS refused the credentials: ${c.message}`;
  }
  return null;
}
