// Hostile input at both edges. The coordinator's job API gets tens of thousands of
// generated malformed requests (directly through handleApi, and over a real NATS
// connection to a real `plearn coordinator` process): every one must get an error
// reply, the service must keep answering, and its live memory (heap and buffers
// after a collection) must not grow.
// A worker's task decoding gets malformed msgpack: every message must be refused
// with an Error, without a large allocation. Seeded: FUZZ_SEED replays a run;
// FUZZ_REQUESTS, FUZZ_NATS_REQUESTS and FUZZ_PAYLOADS scale it.

import { after, before, describe, test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { pino } from 'pino';
import { handleApi } from '../coordinator/api.ts';
import { Coordinator } from '../coordinator/engine.ts';
import { decodeJson, encodeJson, packBulk, TASK_LIMITS, unpackBulk } from '../shared/protocol/codec.ts';
import { checkArtifactSize, MAX_ARTIFACT_BYTES } from '../shared/protocol/limits.ts';
import { API_OPS, apiSubject } from '../shared/protocol/subjects.ts';
import type { ApiOp } from '../shared/protocol/subjects.ts';
import { createInProcessTransport } from '../shared/transport/in-process.ts';
import type { TaskPool } from '../worker/local-pool.ts';
import { parseEnvelope } from '../worker/service.ts';
import { flipFuzzer, openLayout, payloadFuzzer, requestFuzzer, validEnvelopes } from './support/fuzz.ts';
import type { FuzzRequest } from './support/fuzz.ts';
import { natsServerMissing, startNatsServer } from './support/nats-server.ts';
import type { NatsServerHandle } from './support/nats-server.ts';
import { eventually, startService, stopAll } from './support/services.ts';
import type { Service } from './support/services.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed);
const DIRECT = Number(process.env.FUZZ_REQUESTS ?? 10_000);
const OVER_NATS = Number(process.env.FUZZ_NATS_REQUESTS ?? 4000);
const WARMUP = 1000;
const PAYLOADS = Number(process.env.FUZZ_PAYLOADS ?? 10_000);
const FLIPS = 2000;
const NATS_SEED = SEED + 1;
const PAYLOAD_SEED = SEED + 2;
const FLIP_SEED = SEED + 3;
/** An error reply quotes at most a clipped message: a reply never grows with its request. */
const MAX_REPLY_BYTES = 2048;
const MiB = 1024 * 1024;

const log = pino({ level: 'silent' });
const mb = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** The test process's collector, reachable without --expose-gc, so heap figures mean live data only. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Tally of outcomes by a label, printed as "a 3 · b 5". */
class Tally {
  private readonly counts = new Map<string, number>();
  add(label: string): void { this.counts.set(label, (this.counts.get(label) ?? 0) + 1); }
  get total(): number { return [...this.counts.values()].reduce((a, b) => a + b, 0); }
  toString(): string { return [...this.counts].sort((a, b) => a[0].localeCompare(b[0])).map(([k, n]) => `${k} ${n}`).join(' · '); }
}

/** Assert an error reply to `req`, the `index`-th of generator `seed` (which replays it); returns its code. */
function expectErrorReply(reply: Uint8Array, req: FuzzRequest, seed: number, index: number): string {
  const what = `request #${index} (seed ${seed}, ${req.kind}, op ${JSON.stringify(req.op.slice(0, 40))}, ${req.body.byteLength} bytes)`;
  assert.ok(reply.byteLength <= MAX_REPLY_BYTES, `${what}: a reply of ${reply.byteLength} bytes`);
  const body = decodeJson(reply) as { error?: { code?: unknown; message?: unknown } };
  assert.ok(body && typeof body.error === 'object' && body.error !== null, `${what}: not an error reply: ${new TextDecoder().decode(reply).slice(0, 200)}`);
  const { code, message } = body.error;
  assert.ok(code === 'bad_request' || code === 'not_found', `${what}: error code ${String(code)}: ${String(message)}`);
  assert.ok(typeof message === 'string' && message.length > 0, `${what}: an error without a message`);
  return code;
}

/** Refuses every task: no malformed request may ever reach a fit. */
const noPool: TaskPool = {
  threads: 1,
  run: () => Promise.reject(new Error('the fuzz test runs no tasks')),
  close: async () => undefined,
};

const TINY_JOB = { experiment: 'fourrooms', options: { agent: 'oracle', goals: 1 } };

test('each limit is enforced at its edge with an error naming the field and the allowed range', async () => {
  const coordinator = new Coordinator({ transport: createInProcessTransport(), pool: noPool, log, reconcileMs: 60_000 });
  await coordinator.start();
  const call = async (op: string, body: Uint8Array) =>
    (decodeJson(await handleApi(coordinator, op, body)) as { error: { code: string; message: string; field?: string } }).error;
  const enc = new TextEncoder();
  const t0 = performance.now();
  const deep = await call('submit', enc.encode('['.repeat(100_000) + ']'.repeat(100_000)));
  assert.ok(performance.now() - t0 < 200, 'a 10⁵-deep body is refused in one quick pass');
  assert.match(deep.message, /nesting deeper than 16 levels .*allowed: \[1, 16\]/);
  const keys = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]));
  assert.match((await call('list', encodeJson(keys))).message, /more than 256 object keys/);
  const cases: [unknown, string, RegExp][] = [
    [{ experiment: 'fourrooms', options: { reward: 'generic', goals: 10000, seeds: 1000, goalsPerAgent: 1 } }, 'goals-per-agent', /1\.00e\+7 exceeds the limit of 1e\+5/],
    [{ experiment: 'fourrooms', options: { reward: 'generic', goals: 10000, seeds: 200, goalsPerAgent: 40, steps: 1e9 } }, 'steps', /50000 agent tasks × 1000000000 steps = 5\.00e\+13 exceeds the limit of 1e\+12/],
    [{ experiment: 'fourrooms', options: { seeds: 1000, fitSteps: 1e9 } }, 'fit-steps', /exceeds the limit of 1e\+10/],
    [{ experiment: 'fourrooms', options: { layoutText: openLayout(40, 30) } }, 'layoutText', /1200 free cells .*allowed: \[1, 1024\]/],
    [{ experiment: 'fourrooms', options: { layoutText: openLayout(200, 2) } }, 'layoutText', /200×2 cells; allowed width \[1, 128\]/],
    [{ experiment: 'fourrooms', options: { layoutText: 'x'.repeat(70_000) } }, 'layoutText', /70000 bytes exceeds the limit of 65536/],
    [{ experiment: 'mountaincar', options: { grid: 2000, viMaxIters: 1e6, viTol: 1e-14, gamma: 0.999999 } }, 'grid', /VI backups/],
    [{ experiment: 'reacher', options: { agent: 'oracle', grid: 60 } }, 'goals-per-agent', /artifact limit of 536870912 bytes/],
    [{ experiment: 'fourrooms', options: { constructor: { prototype: { polluted: 1 } } } }, 'options.constructor', /not allowed/],
  ];
  for (const [body, field, message] of cases) {
    const e = await call('submit', encodeJson(body));
    assert.equal(e.field, field, JSON.stringify(e));
    assert.match(e.message, message);
  }
  await coordinator.stop();
  assert.throws(() => unpackBulk(Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0)), /array of 4294967295 values declares 4294967295 bytes but only 1 remain/);
  assert.throws(() => unpackBulk(new Uint8Array(100_001).fill(0x91), TASK_LIMITS, 'task payload'), /task payload: nesting deeper than 32/);
  assert.throws(() => checkArtifactSize(MAX_ARTIFACT_BYTES + 1, 'artifact of task a-0-1'), /artifact of task a-0-1: 536870913 bytes exceeds/);
  assert.doesNotThrow(() => checkArtifactSize(MAX_ARTIFACT_BYTES, 'artifact'));
});

test(`handleApi answers ${DIRECT} malformed requests with error replies`, async (t) => {
  const transport = createInProcessTransport();
  const coordinator = new Coordinator({ transport, pool: noPool, log, reconcileMs: 60_000 });
  await coordinator.start();
  const gen = requestFuzzer(SEED, API_OPS, true);
  const kinds = new Tally();
  const codes = new Tally();
  const t0 = performance.now();
  for (let i = 0; i < WARMUP; i++) {
    const req = gen.next();
    expectErrorReply(await handleApi(coordinator, req.op, req.body), req, SEED, i);
  }
  gc();
  const warm = process.memoryUsage();
  let largest = 0;
  let bytes = 0;
  for (let i = 0; i < DIRECT; i++) {
    const req = gen.next();
    largest = Math.max(largest, req.body.byteLength);
    bytes += req.body.byteLength;
    kinds.add(req.kind);
    codes.add(expectErrorReply(await handleApi(coordinator, req.op, req.body), req, SEED, WARMUP + i));
  }
  const ms = performance.now() - t0;
  gc();
  const end = process.memoryUsage();

  assert.equal((Object.prototype as Record<string, unknown>).polluted, undefined, 'Object.prototype untouched');
  assert.deepEqual(decodeJson(await handleApi(coordinator, 'list', encodeJson({}))), { jobs: [] }, 'no malformed request became a job');
  const sub = decodeJson(await handleApi(coordinator, 'submit', encodeJson(TINY_JOB))) as { id?: string; tasks?: number };
  assert.equal(typeof sub.id, 'string', `a valid submit still works: ${JSON.stringify(sub)}`);
  const cancelled = decodeJson(await handleApi(coordinator, 'cancel', encodeJson({ id: sub.id }))) as { status?: string };
  assert.equal(cancelled.status, 'cancelled');
  await coordinator.stop();

  t.diagnostic(`direct: ${DIRECT} malformed requests (+${WARMUP} warm-up), all error replies, in ${(ms / 1000).toFixed(1)} s; `
    + `${mb(bytes)} in all, largest ${largest} bytes; ${gen.dropped} generated candidates were valid and not sent`);
  t.diagnostic(`direct: by kind: ${kinds}`);
  t.diagnostic(`direct: by code: ${codes}`);
  t.diagnostic(`direct: test process after gc: rss ${mb(warm.rss)} → ${mb(end.rss)}, heap used ${mb(warm.heapUsed)} → ${mb(end.heapUsed)}`);
  assert.equal(kinds.total, DIRECT);
  // The in-test figure shares the process with the generator and the test runner: a leak of even 1% of what
  // was sent would show, small drifts of the runner's own bookkeeping must not.
  assert.ok(end.heapUsed - warm.heapUsed < 32 * MiB, `live heap grew from ${mb(warm.heapUsed)} to ${mb(end.heapUsed)} after ${mb(bytes)} of requests`);
});

/**
 * Preloaded into the coordinator process (NODE_OPTIONS --import, so the service's
 * code is untouched): on SIGUSR2 it collects garbage twice, letting the sweeper
 * return freed buffers in between, and writes its memory figures to
 * $PLEARN_FUZZ_PROBE. A figure taken without a collection would mostly measure
 * how much garbage the last requests happened to leave.
 */
const PROBE = `
import { writeFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
process.on('SIGUSR2', () => {
  const raw = process.memoryUsage().rss;
  gc();
  setTimeout(() => {
    gc();
    writeFileSync(process.env.PLEARN_FUZZ_PROBE, JSON.stringify({ raw, ...process.memoryUsage() }));
  }, 300);
});`;

interface Probed { raw: number; rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }

/** The coordinator's memory after a collection, once it has been idle half a second. */
async function probe(service: Service, file: string): Promise<Probed> {
  await new Promise((r) => setTimeout(r, 500));
  rmSync(file, { force: true });
  service.signal('SIGUSR2');
  return eventually('the memory probe to answer', async () => {
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as Probed;
  }, 10_000, 50);
}

/**
 * The coordinator's memory is judged by what a leak must grow and allocator noise cannot: its live heap and its
 * external memory (Buffers, ArrayBuffers) after a full collection, after the warm-up and after the run. Its RSS
 * is not: over 40 runs of this file (20 with the 2-core machine otherwise busy at load 3–9, 20 with two extra busy
 * loops, load 4–11) the RSS after gc moved by −10.9…+16.6 MiB over the run (+11.2% once: the old "RSS within
 * 10%" failed 1 run in 40) with the live heap flat. Measured there, growth after warm-up, min / median / max:
 *   heap used  −0.27 / +0.04 / +0.43 MiB idle, −0.25 / −0.21 / +0.19 MiB loaded;
 *   external   −0.00 / +0.00 / +0.00 MiB idle, −0.00 / −0.00 / +0.06 MiB loaded.
 * A leak of 1 KiB per request holds ≈3.9 MiB after the 4000 requests: the margins below sit 4.6× (heap) and 16×
 * (external) above the worst run. Planted in handleApi, leaks of 1 KiB per request (a string, a Uint8Array) and
 * keeping each request body failed the test; ~0.25–0.3 KiB per request (+0.9–1.3 MiB) passed unseen: at this
 * request count that is within a few times the noise (FUZZ_NATS_REQUESTS scales the run, not the margins).
 * RSS is only a backstop for memory V8 does not count (native allocations): the run goes in ROUNDS equal rounds
 * with a probe after each, and a leak grows RSS in every round. Noise alone did so in 12 runs of 40 (by ≥ 0.89 MiB
 * per round in the worst), single rounds moved −13.2…+12.4 MiB, and no run had even 3 of 4 rounds above 4 MiB.
 * Reproduce (loaded: start two busy loops first, `for i in 1 2; do (while :; do :; done) & done`, kill them after):
 *   for i in $(seq 20); do node --import tsx --test --test-reporter=spec tests/fuzz.test.ts | grep -E 'nats: growth|(direct|worker): test'; done
 */
const ROUNDS = 4;
const HEAP_MARGIN = 2 * MiB;
const EXTERNAL_MARGIN = 1 * MiB;
const RSS_ROUND_MARGIN = 4 * MiB;

describe('the job API of a `plearn coordinator` process over NATS', { skip: natsServerMissing() ?? false }, () => {
  let server: NatsServerHandle;
  let nc: NatsConnection;
  let coordinator: Service;
  let dir: string;
  let probeFile: string;

  before(async () => {
    server = await startNatsServer();
    dir = await mkdtemp(join(tmpdir(), 'plearn-fuzz-'));
    probeFile = join(dir, 'memory.json');
    const preload = `--import=data:text/javascript,${encodeURIComponent(PROBE)}`;
    coordinator = startService('coordinator', ['coordinator', '--nats', server.url, '--threads', '1', '--storage', 'memory',
      '--health-port', '0', '--log-level', 'warn'],
    { NODE_OPTIONS: [process.env.NODE_OPTIONS, preload].filter(Boolean).join(' '), PLEARN_FUZZ_PROBE: probeFile });
    nc = await connect({ servers: server.url });
    await eventually('the coordinator to answer', async () => {
      const m = await nc.request(apiSubject('list'), encodeJson({}), { timeout: 1000 });
      return decodeJson(m.data);
    }, 60_000, 250);
  });

  after(async () => {
    await nc?.close();
    await stopAll([coordinator].filter(Boolean));
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Send `n` requests from `gen`, 16 in flight, checking every reply. */
  async function blast(gen: { next(): FuzzRequest }, n: number, first: number, kinds?: Tally, codes?: Tally): Promise<void> {
    let sent = 0;
    const lane = async () => {
      while (sent < n) {
        const index = first + sent++;
        const req = gen.next();
        const m = await nc.request(apiSubject(req.op as ApiOp), req.body, { timeout: 20_000 }).catch((e: unknown) => {
          throw new Error(`request #${index} (seed ${NATS_SEED}, ${req.kind}) got no reply: ${(e as Error).message}\n${coordinator.log().slice(-2000)}`);
        });
        kinds?.add(req.kind);
        const code = expectErrorReply(m.data, req, NATS_SEED, index);
        codes?.add(code);
      }
    };
    await Promise.all(Array.from({ length: 16 }, lane));
  }

  test(`${OVER_NATS} malformed requests after a ${WARMUP}-request warm-up: error replies, still serving, live memory flat`, async (t) => {
    const gen = requestFuzzer(NATS_SEED, API_OPS, false);
    const kinds = new Tally();
    const codes = new Tally();
    const start = await probe(coordinator, probeFile);
    await blast(gen, WARMUP, 0);
    const probes = [start, await probe(coordinator, probeFile)];
    const t0 = performance.now();
    let ms = 0;
    for (let r = 0, sent = 0; r < ROUNDS; r++) {
      const n = Math.floor((OVER_NATS * (r + 1)) / ROUNDS) - sent;
      const r0 = performance.now();
      await blast(gen, n, WARMUP + sent, kinds, codes);
      ms += performance.now() - r0;
      sent += n;
      probes.push(await probe(coordinator, probeFile));
    }
    const wall = performance.now() - t0;

    assert.equal(coordinator.child.exitCode, null, `the coordinator exited:\n${coordinator.log().slice(-2000)}`);
    assert.equal(kinds.total, OVER_NATS);
    const list = decodeJson((await nc.request(apiSubject('list'), encodeJson({}), { timeout: 5000 })).data);
    assert.deepEqual(list, { jobs: [] }, 'no malformed request became a job');
    const sub = decodeJson((await nc.request(apiSubject('submit'), encodeJson(TINY_JOB), { timeout: 10_000 })).data) as { id?: string };
    assert.equal(typeof sub.id, 'string', `a valid submit is still accepted: ${JSON.stringify(sub)}`);
    const got = decodeJson((await nc.request(apiSubject('get'), encodeJson({ id: sub.id }), { timeout: 5000 })).data) as { job?: { id?: string } };
    assert.equal(got.job?.id, sub.id);
    const cancelled = decodeJson((await nc.request(apiSubject('cancel'), encodeJson({ id: sub.id }), { timeout: 5000 })).data) as { status?: string };
    assert.equal(cancelled.status, 'cancelled');

    const warm = probes[1];
    const end = probes[probes.length - 1];
    const series = (f: (p: Probed) => number) => probes.map((p) => (f(p) / MiB).toFixed(2)).join(', ');
    const signed = (bytes: number) => `${bytes >= 0 ? '+' : '−'}${(Math.abs(bytes) / MiB).toFixed(2)}`;
    const rssSteps = probes.slice(2).map((p, i) => p.rss - probes[i + 1].rss);
    const heapGrowth = end.heapUsed - warm.heapUsed;
    const externalGrowth = end.external - warm.external;
    t.diagnostic(`nats: ${OVER_NATS} malformed requests (+${WARMUP} warm-up) to a plearn coordinator process in ${ROUNDS} rounds, all error replies, `
      + `in ${(ms / 1000).toFixed(1)} s (${Math.round(OVER_NATS / (ms / 1000))}/s; ${(wall / 1000).toFixed(1)} s with the probes); ${gen.dropped} valid candidates not sent`);
    t.diagnostic(`nats: by kind: ${kinds}`);
    t.diagnostic(`nats: by code: ${codes}`);
    t.diagnostic(`nats: coordinator after gc, MiB at start, after warm-up, after each round: heap used ${series((p) => p.heapUsed)} (of ${series((p) => p.heapTotal)}); `
      + `external ${series((p) => p.external)} (of it array buffers ${series((p) => p.arrayBuffers)}); rss ${series((p) => p.rss)}; rss before gc ${series((p) => p.raw)}`);
    t.diagnostic(`nats: growth after warm-up, MiB: heap used ${signed(heapGrowth)}, external ${signed(externalGrowth)}, `
      + `array buffers ${signed(end.arrayBuffers - warm.arrayBuffers)}; rss by round ${rssSteps.map(signed).join(', ')} (in all ${signed(end.rss - warm.rss)})`);
    t.diagnostic(`nats: margins, MiB: heap used ${mb(HEAP_MARGIN)}, external ${mb(EXTERNAL_MARGIN)}, rss per round (a leak grows in every round) ${mb(RSS_ROUND_MARGIN)}`);
    const leak = `after ${OVER_NATS} malformed requests: a leak in the coordinator's request path?`;
    assert.ok(heapGrowth <= HEAP_MARGIN, `coordinator live heap after gc grew by ${mb(heapGrowth)} (${mb(warm.heapUsed)} → ${mb(end.heapUsed)}; `
      + `by round ${series((p) => p.heapUsed)} MiB), more than the margin of ${mb(HEAP_MARGIN)}, ${leak}`);
    assert.ok(externalGrowth <= EXTERNAL_MARGIN, `coordinator external memory (buffers) after gc grew by ${mb(externalGrowth)} (${mb(warm.external)} → ${mb(end.external)}; `
      + `by round ${series((p) => p.external)} MiB), more than the margin of ${mb(EXTERNAL_MARGIN)}, ${leak}`);
    assert.ok(rssSteps.some((d) => d <= RSS_ROUND_MARGIN), `coordinator rss after gc grew by more than ${mb(RSS_ROUND_MARGIN)} in every one of ${ROUNDS} rounds `
      + `(${rssSteps.map(signed).join(', ')} MiB; ${mb(warm.rss)} → ${mb(end.rss)}), ${leak}`);
  });
});

test(`the worker refuses ${PAYLOADS} malformed task messages with an Error`, (t: TestContext) => {
  const bases = validEnvelopes();
  for (const env of bases) parseEnvelope({ data: packBulk(env), jobId: env.jobId, taskId: env.taskId });
  const next = payloadFuzzer(PAYLOAD_SEED, bases);
  const kinds = new Tally();
  gc();
  const before = process.memoryUsage();
  let peakRss = before.rss;
  let peakExternal = before.external + before.arrayBuffers;
  let scannerRefusedHugeLengths = 0;
  const t0 = performance.now();
  for (let i = 0; i < PAYLOADS; i++) {
    const p = next();
    kinds.add(p.kind);
    let err: unknown;
    try {
      parseEnvelope(p);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof Error, `payload #${i} (seed ${PAYLOAD_SEED}, ${p.kind}, ${p.data.byteLength} bytes) was accepted`);
    assert.ok(err.message.length <= 300, `payload #${i}: an error message of ${err.message.length} characters`);
    if (p.kind === 'huge-length' && /declares \d+ bytes but only \d+ remain|a string of \d+ bytes/.test(err.message)) scannerRefusedHugeLengths++;
    if (i % 250 === 0) {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakExternal = Math.max(peakExternal, m.external + m.arrayBuffers);
    }
  }
  const ms = performance.now() - t0;

  // Random bit flips of valid messages: most break them, some leave a still-valid task (a changed seed or
  // goal), which the worker may run. Each must be refused with an Error or accepted as a whole valid task.
  const flips = flipFuzzer(FLIP_SEED, bases);
  let flipsRefused = 0;
  let flipsAccepted = 0;
  for (let i = 0; i < FLIPS; i++) {
    const p = flips();
    try {
      const env = parseEnvelope(p);
      parseEnvelope({ data: packBulk(env), jobId: p.jobId, taskId: p.taskId });
      flipsAccepted++;
    } catch (e) {
      assert.ok(e instanceof Error, `flip #${i}: threw a non-Error`);
      flipsRefused++;
    }
  }
  gc();
  const end = process.memoryUsage();
  const huge = kinds.toString().match(/huge-length (\d+)/)?.[1] ?? '0';

  t.diagnostic(`worker: ${PAYLOADS} malformed task messages, all refused with an Error, in ${(ms / 1000).toFixed(1)} s; by kind: ${kinds}`);
  t.diagnostic(`worker: ${scannerRefusedHugeLengths} of ${huge} huge declared lengths refused by the scan before msgpackr allocated`);
  t.diagnostic(`worker: ${FLIPS} bit-flipped valid messages: ${flipsRefused} refused, ${flipsAccepted} still valid tasks`);
  t.diagnostic(`worker: test process rss ${mb(before.rss)} → peak ${mb(peakRss)} → ${mb(end.rss)} after gc; `
    + `external+arrayBuffers peak ${mb(peakExternal)}; heap used ${mb(before.heapUsed)} → ${mb(end.heapUsed)}`);
  assert.equal(scannerRefusedHugeLengths, Number(huge), 'every huge declared length is caught by the scan');
  // The peak is raw RSS, sampled between collections: mostly how much garbage the oversized payloads had left
  // when the sample fell. Over 40 runs of this file (idle and loaded, see the coordinator's margins above) it rose
  // by 40 / 65 / 92 MiB (min / median / max), too near the 128 MiB this bound was: it now only catches a decode
  // that commits hundreds of MiB. A leak shows in the live heap after gc, which stays the judge.
  assert.ok(peakRss - before.rss < 256 * MiB, `rss rose by ${mb(peakRss - before.rss)} while decoding`);
  assert.ok(end.heapUsed - before.heapUsed < 32 * MiB, `live heap grew from ${mb(before.heapUsed)} to ${mb(end.heapUsed)}`);
});
