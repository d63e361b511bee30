// The transport interfaces over NATS JetStream: the task queue is a work-queue
// stream with one durable pull consumer, state a KV bucket, blobs an Object
// Store, events plain subjects. Dead letters: JetStream announces a task that ran
// out of deliveries with an advisory; the coordinator moves it to PLEARN_DLQ.
// A worker that terms a malformed task puts it there itself. Everyone learns of
// dead letters from a durable consumer on PLEARN_DLQ, so none is missed while the
// coordinator restarts.

import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { headers } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { Consumer, ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import type { KV } from '@nats-io/kv';
import { Objm, setSha256Backend } from '@nats-io/obj';
import type { ObjectStore } from '@nats-io/obj';
import { ARTIFACT_BUCKET, DLQ_STREAM, STATE_BUCKET, TASK_STREAM, WORKER_CONSUMER, dlqSubject, taskSubject } from '../../shared/protocol/subjects.ts';
import type {
  BlobStore, DeadLetter, Delivery, EventBus, StateStore, StoredValue, TaskQueue, Transport,
} from '../../shared/transport/transport.ts';
import { MAX_DELIVERIES_REASON } from '../../shared/transport/transport.ts';

const DELIVERIES_HEADER = 'Plearn-Deliveries';
const REASON_HEADER = 'Plearn-Reason';
const DLQ_CONSUMER = 'plearn-dead-letters';
/** JetStream rejects pull requests that expire sooner than this. */
const MIN_EXPIRES_MS = 1000;

function idsOf(subject: string, prefix: string): { jobId: string; taskId: string } | null {
  if (!subject.startsWith(prefix)) return null;
  const parts = subject.slice(prefix.length).split('.');
  return parts.length === 2 ? { jobId: parts[0], taskId: parts[1] } : null;
}

class NatsQueue implements TaskQueue {
  private consumer: Consumer | undefined;
  private readonly subs: (Subscription | ConsumerMessages)[] = [];

  constructor(private readonly nc: NatsConnection, private readonly js: JetStreamClient, private readonly jsm: JetStreamManager,
    readonly leaseMs: number, readonly maxDeliveries: number) {}

  async enqueue(jobId: string, taskId: string, data: Uint8Array): Promise<void> {
    // Each task has its own subject: "no message on it yet" is exactly "not queued",
    // whatever the dedupe window (which only catches a retried publish).
    try {
      await this.js.publish(taskSubject(jobId, taskId), data, { expect: { lastSubjectSequence: 0 } });
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
  }

  async purge(jobId: string): Promise<number> {
    // Not streams.purge({filter}): on nats-server 2.9 a filtered purge of a work-queue
    // stream moves the consumer past the messages it keeps, so other jobs' tasks
    // would never be delivered. Deleting the job's messages one by one is safe.
    const info = await this.jsm.streams.info(TASK_STREAM, { subjects_filter: `plearn.task.${jobId}.>` });
    let n = 0;
    for (const subject of Object.keys(info.state.subjects ?? {})) {
      const m = await this.jsm.streams.getMessage(TASK_STREAM, { last_by_subj: subject }).catch(() => null);
      if (m && (await this.jsm.streams.deleteMessage(TASK_STREAM, m.seq).catch(() => false))) n++;
    }
    return n;
  }

  async next(waitMs: number, signal?: AbortSignal): Promise<Delivery | null> {
    this.consumer ??= await this.js.consumers.get(TASK_STREAM, WORKER_CONSUMER);
    if (signal?.aborted) return null;
    // A one-message fetch (what consumer.next does) that a draining worker can stop:
    // so a worker may wait long for work without a slow shutdown.
    const iter = await this.consumer.fetch({ max_messages: 1, expires: Math.max(MIN_EXPIRES_MS, waitMs) });
    const stop = () => { void iter.close(); };
    signal?.addEventListener('abort', stop, { once: true });
    let m: JsMsg | null = null;
    try {
      for await (const got of iter) {
        m = got;
        break;
      }
    } finally {
      signal?.removeEventListener('abort', stop);
    }
    if (!m) return null;
    const ids = idsOf(m.subject, 'plearn.task.');
    if (!ids) {
      // Not a task subject we publish: nothing can run it, and nobody should see it again.
      m.term();
      return null;
    }
    return this.delivery(m, ids.jobId, ids.taskId);
  }

  private delivery(m: JsMsg, jobId: string, taskId: string): Delivery {
    return {
      jobId, taskId, data: m.data, deliveryCount: m.info.deliveryCount,
      working: () => m.working(),
      ack: async () => { await m.ackAck(); },
      nak: (delayMs?: number) => m.nak(delayMs),
      handBack: async () => {
        // A fresh copy on the task's subject, only while this message is still its last
        // (a compare-and-set on the subject sequence), then this one acked off the queue:
        // the copy starts again at delivery 1. Any failure falls back to a nak.
        try {
          await this.js.publish(m.subject, m.data, { expect: { lastSubjectSequence: m.info.streamSequence } });
        } catch (e) {
          if (!isWrongSequence(e)) { m.nak(); return false; }
          // A newer copy is queued already: this one only needs to go.
        }
        await m.ackAck().catch(() => undefined);
        return true;
      },
      term: (reason: string) => {
        // Copy it to the dead-letter stream, then ack it off the work queue (not +TERM:
        // nats-server 2.9 ignores a +TERM carrying a reason, and a termed message would
        // sit in the work queue forever). Losing a race leaves a duplicate letter, never a lost one.
        const h = headers();
        h.set(DELIVERIES_HEADER, String(m.info.deliveryCount));
        h.set(REASON_HEADER, reason.slice(0, 500));
        void this.js.publish(dlqSubject(jobId, taskId), m.data, { headers: h, msgID: `term.${jobId}.${taskId}.${m.info.streamSequence}` })
          .then(() => m.ackAck(), () => m.nak(1000))
          .catch(() => undefined);
      },
    };
  }

  onDeadLetter(handler: (letter: DeadLetter) => void): () => void {
    // 1. Move tasks that exhausted their deliveries from the work queue to the DLQ stream.
    const advisory = this.nc.subscribe(`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${TASK_STREAM}.${WORKER_CONSUMER}`, {
      callback: (err, msg) => {
        if (err) return;
        void this.moveToDlq(msg.json<{ stream_seq: number; deliveries: number }>()).catch(() => undefined);
      },
    });
    this.subs.push(advisory);
    // 2. Read the DLQ stream durably and hand each letter to the handler once. The
    // loop restarts after a lost server or leader, so no letter waits for a coordinator restart.
    let stopped = false;
    // The consumer being read now: closed on unsubscribe, so a coordinator that steps
    // down stops taking letters (a stopped handler would ack them, and they would be lost).
    let reading: { close(): Promise<void | Error> } | undefined;
    void (async () => {
      while (!stopped && !this.nc.isClosed()) {
        try {
          const existing = await this.jsm.consumers.info(DLQ_STREAM, DLQ_CONSUMER).catch(() => null);
          if (!existing) await this.jsm.consumers.add(DLQ_STREAM, { durable_name: DLQ_CONSUMER, ack_policy: AckPolicy.Explicit });
          const c = await this.js.consumers.get(DLQ_STREAM, DLQ_CONSUMER);
          const msgs = await c.consume();
          this.subs.push(msgs);
          reading = msgs;
          if (stopped) { await msgs.close(); return; }
          for await (const m of msgs) {
            // Left unacked after an unsubscribe: the next reader gets it.
            if (stopped) break;
            const ids = idsOf(m.subject, 'plearn.dlq.');
            if (ids) {
              const deliveries = Number(m.headers?.get(DELIVERIES_HEADER) ?? '0');
              const reason = m.headers?.get(REASON_HEADER) || undefined;
              try {
                handler({ ...ids, data: m.data, deliveries, ...(reason ? { reason } : {}) });
              } catch {
                // The handler's failure is its own; the letter stays in the stream either way.
              }
            }
            m.ack();
          }
        } catch {
          // Server or stream leader away: try again shortly.
        }
        if (!stopped) await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    return () => {
      stopped = true;
      advisory.unsubscribe();
      void reading?.close().catch(() => undefined);
    };
  }

  async abandon(jobId: string, taskId: string, deliveries: number, reason: string): Promise<boolean> {
    const stored = await this.jsm.streams.getMessage(TASK_STREAM, { last_by_subj: taskSubject(jobId, taskId) }).catch(() => null);
    if (!stored) return false;
    const h = headers();
    h.set(DELIVERIES_HEADER, String(deliveries));
    h.set(REASON_HEADER, reason.slice(0, 500));
    await this.js.publish(dlqSubject(jobId, taskId), stored.data, { headers: h, msgID: `lost.${stored.seq}` });
    return this.jsm.streams.deleteMessage(TASK_STREAM, stored.seq).catch(() => false);
  }

  private async moveToDlq(adv: { stream_seq: number; deliveries: number }): Promise<void> {
    const stored = await this.jsm.streams.getMessage(TASK_STREAM, { seq: adv.stream_seq });
    if (!stored) return; // acked or purged meanwhile
    const ids = idsOf(stored.subject, 'plearn.task.');
    if (ids) {
      const h = headers();
      h.set(DELIVERIES_HEADER, String(adv.deliveries));
      h.set(REASON_HEADER, MAX_DELIVERIES_REASON);
      await this.js.publish(dlqSubject(ids.jobId, ids.taskId), stored.data, { headers: h, msgID: `max.${adv.stream_seq}` });
    }
    await this.jsm.streams.deleteMessage(TASK_STREAM, adv.stream_seq);
  }

  async close(): Promise<void> {
    for (const s of this.subs.splice(0)) {
      if ('unsubscribe' in s) s.unsubscribe();
      else await s.close();
    }
  }
}

const isWrongSequence = (e: unknown) => e instanceof JetStreamApiError
  && (e.code === JetStreamApiCodes.StreamWrongLastSequence || e.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);

class NatsState implements StateStore {
  constructor(private readonly kv: KV, private readonly js: JetStreamClient, private readonly jsm: JetStreamManager) {}

  async get(key: string): Promise<StoredValue | null> {
    const e = await this.kv.get(key);
    return e && e.operation === 'PUT' ? { value: e.value, revision: e.revision } : null;
  }

  put(key: string, value: Uint8Array): Promise<number> {
    return this.kv.put(key, value);
  }

  async create(key: string, value: Uint8Array): Promise<number | null> {
    try {
      return await this.kv.create(key, value);
    } catch (e) {
      if (isWrongSequence(e)) return null;
      throw e;
    }
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | null> {
    try {
      return await this.kv.update(key, value, revision);
    } catch (e) {
      if (isWrongSequence(e)) return null;
      throw e;
    }
  }

  delete(key: string): Promise<void> {
    return this.kv.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for await (const k of await this.kv.keys(`${prefix}.>`)) out.push(k);
    return out;
  }

  async entries(prefix: string): Promise<Map<string, StoredValue>> {
    // The last value of every key under the prefix, streamed by one ordered consumer
    // on the bucket's stream: a job's 20 000 task records in one pass instead of
    // 20 000 round trips (the scaling benchmark's reconcile and views).
    const out = new Map<string, StoredValue>();
    const subjectPrefix = `$KV.${STATE_BUCKET}.`;
    const c = await this.js.consumers.get(`KV_${STATE_BUCKET}`, { filter_subjects: `${subjectPrefix}${prefix}.>`, deliver_policy: DeliverPolicy.LastPerSubject });
    try {
      if ((await c.info(true)).num_pending === 0) return out;
      // The snapshot is the keys' last values when consume() made its consumer, in
      // stream order; writes after that arrive behind it and keep `pending` above zero
      // on a busy bucket. A count taken before consume() is wrong by the keys written
      // in between (a CI run missed one), so the end is a stream sequence read once
      // the consumer exists: every message of its snapshot is at or below it.
      const msgs = await c.consume();
      let end = Infinity;
      for await (const m of msgs) {
        if (end === Infinity) end = (await this.jsm.streams.info(`KV_${STATE_BUCKET}`)).state.last_seq;
        const op = m.headers?.get('KV-Operation');
        // A plain Uint8Array, as get gives (the client may hand back a Node Buffer).
        const value = new Uint8Array(m.data.buffer, m.data.byteOffset, m.data.byteLength);
        if (op !== 'DEL' && op !== 'PURGE') out.set(m.subject.slice(subjectPrefix.length), { value, revision: m.seq });
        if (m.seq >= end || m.info.pending === 0) break;
      }
      return out;
    } finally {
      await c.delete().catch(() => undefined);
    }
  }
}

class NatsBlobs implements BlobStore {
  constructor(private readonly os: ObjectStore) {}

  async put(name: string, data: Uint8Array): Promise<{ size: number }> {
    const info = await this.os.putBlob({ name }, data);
    return { size: info.size };
  }

  async get(name: string): Promise<Uint8Array | null> {
    const b = await this.os.getBlob(name);
    // A plain Uint8Array either way (the client may hand back a Node Buffer).
    return b === null ? null : new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  }

  async delete(name: string): Promise<void> {
    if (await this.os.info(name)) await this.os.delete(name);
  }
}

class NatsEvents implements EventBus {
  constructor(private readonly nc: NatsConnection) {}

  publish(subject: string, data: Uint8Array): void {
    this.nc.publish(subject, data);
  }

  subscribe(subject: string, handler: (subject: string, data: Uint8Array) => void): () => void {
    const sub = this.nc.subscribe(subject, { callback: (err, msg) => { if (!err) handler(msg.subject, msg.data); } });
    return () => sub.unsubscribe();
  }
}

/**
 * Bind to the streams and buckets `setupJetStream` created. Lease and max deliveries
 * come from the consumer's own configuration, so every worker agrees with it.
 */
export async function createNatsTransport(nc: NatsConnection, _opts: Record<string, never> = {}): Promise<Transport> {
  // Node's own SHA-256 for the Object Store's digests (the client's default is pure
  // JavaScript, for browsers): a sixth of a worker's CPU per 64 KiB artifact in the
  // scaling benchmark, and every artifact a fit reads is hashed again.
  setSha256Backend('native');
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  let info;
  try {
    info = await jsm.consumers.info(TASK_STREAM, WORKER_CONSUMER);
  } catch (e) {
    throw new Error(`the task queue ${TASK_STREAM}/${WORKER_CONSUMER} does not exist yet: start \`plearn coordinator\` first (${(e as Error).message})`, { cause: e });
  }
  const leaseMs = Math.round(info.config.ack_wait! / 1_000_000);
  const queue = new NatsQueue(nc, js, jsm, leaseMs, info.config.max_deliver ?? -1);
  const kv = await new Kvm(js).open(STATE_BUCKET);
  const os = await new Objm(js).open(ARTIFACT_BUCKET);
  return {
    queue,
    state: new NatsState(kv, js, jsm),
    blobs: new NatsBlobs(os),
    events: new NatsEvents(nc),
    describe: nc.getServer(),
    close: () => queue.close(),
  };
}
