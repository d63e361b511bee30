// The in-memory transport behind `plearn run`: the same queue semantics the NATS
// work-queue stream gives (leases, redelivery, max deliveries, dedupe while
// queued), so the coordinator and worker code is exercised identically with no
// server. Timers only; nothing touches the network or the disk.

import type {
  BlobStore, DeadLetter, Delivery, EventBus, StateStore, StoredValue, TaskQueue, Transport,
} from './transport.ts';
import { MAX_DELIVERIES_REASON, subjectMatches } from './transport.ts';

interface Item {
  readonly jobId: string;
  readonly taskId: string;
  readonly data: Uint8Array;
  deliveries: number;
  /** Bumped on every delivery so a stale holder's ack/nak is ignored. */
  epoch: number;
  timer?: ReturnType<typeof setTimeout>;
}

const keyOf = (jobId: string, taskId: string) => `${jobId}.${taskId}`;

class MemoryQueue implements TaskQueue {
  private readonly ready: Item[] = [];
  private readonly held = new Map<string, Item>();
  private readonly waiters: ((item: Item | null) => void)[] = [];
  private readonly deadHandlers = new Set<(l: DeadLetter) => void>();
  private closed = false;

  constructor(readonly leaseMs: number, readonly maxDeliveries: number) {}

  async enqueue(jobId: string, taskId: string, data: Uint8Array): Promise<void> {
    const key = keyOf(jobId, taskId);
    if (this.held.has(key) || this.ready.some((i) => i.jobId === jobId && i.taskId === taskId)) return;
    this.offer({ jobId, taskId, data: data.slice(), deliveries: 0, epoch: 0 });
  }

  async purge(jobId: string): Promise<number> {
    let n = 0;
    for (let i = this.ready.length - 1; i >= 0; i--) {
      if (this.ready[i].jobId === jobId) { this.ready.splice(i, 1); n++; }
    }
    return n;
  }

  next(waitMs: number, signal?: AbortSignal): Promise<Delivery | null> {
    if (signal?.aborted) return Promise.resolve(null);
    const item = this.ready.shift();
    if (item) return Promise.resolve(this.deliver(item));
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const giveUp = () => {
        clearTimeout(t);
        // A pull that timed out must not leave its listener on the worker's long-lived signal.
        signal?.removeEventListener('abort', giveUp);
        const k = this.waiters.indexOf(waiter);
        if (k >= 0) this.waiters.splice(k, 1);
        resolve(null);
      };
      const waiter = (it: Item | null) => { clearTimeout(t); signal?.removeEventListener('abort', giveUp); resolve(it ? this.deliver(it) : null); };
      const t = setTimeout(giveUp, waitMs);
      signal?.addEventListener('abort', giveUp, { once: true });
      this.waiters.push(waiter);
    });
  }

  async abandon(jobId: string, taskId: string, deliveries: number, reason: string): Promise<boolean> {
    const key = keyOf(jobId, taskId);
    let item = this.held.get(key);
    if (item) this.settle(item);
    else {
      const i = this.ready.findIndex((it) => it.jobId === jobId && it.taskId === taskId);
      if (i >= 0) item = this.ready.splice(i, 1)[0];
    }
    if (!item) return false;
    item.deliveries = Math.max(item.deliveries, deliveries);
    this.dead(item, reason);
    return true;
  }

  onDeadLetter(handler: (letter: DeadLetter) => void): () => void {
    this.deadHandlers.add(handler);
    return () => this.deadHandlers.delete(handler);
  }

  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w(null);
    for (const it of this.held.values()) clearTimeout(it.timer);
    this.held.clear();
  }

  private offer(item: Item): void {
    if (this.closed) return;
    const w = this.waiters.shift();
    if (w) w(item);
    else this.ready.push(item);
  }

  private deliver(item: Item): Delivery {
    item.deliveries++;
    const epoch = ++item.epoch;
    const key = keyOf(item.jobId, item.taskId);
    this.held.set(key, item);
    const current = () => item.epoch === epoch && this.held.get(key) === item;
    const arm = () => {
      clearTimeout(item.timer);
      item.timer = setTimeout(() => { if (current()) this.release(item, 0); }, this.leaseMs);
    };
    arm();
    return {
      jobId: item.jobId,
      taskId: item.taskId,
      data: item.data,
      deliveryCount: item.deliveries,
      working: () => { if (current()) arm(); },
      ack: async () => { if (current()) this.settle(item); },
      nak: (delayMs = 0) => { if (current()) this.release(item, delayMs); },
      handBack: async () => {
        if (!current()) return false;
        this.settle(item);
        item.deliveries--;
        this.offer(item);
        return true;
      },
      term: (reason) => { if (current()) { this.settle(item); this.dead(item, reason); } },
    };
  }

  private settle(item: Item): void {
    clearTimeout(item.timer);
    item.epoch++;
    this.held.delete(keyOf(item.jobId, item.taskId));
  }

  private release(item: Item, delayMs: number): void {
    this.settle(item);
    if (item.deliveries >= this.maxDeliveries) {
      this.dead(item, MAX_DELIVERIES_REASON);
      return;
    }
    if (delayMs > 0) setTimeout(() => this.offer(item), delayMs).unref?.();
    else this.offer(item);
  }

  private dead(item: Item, reason: string): void {
    const letter: DeadLetter = { jobId: item.jobId, taskId: item.taskId, data: item.data, deliveries: item.deliveries, reason };
    for (const h of this.deadHandlers) h(letter);
  }
}

class MemoryState implements StateStore {
  private readonly map = new Map<string, StoredValue>();
  private revision = 0;

  async get(key: string): Promise<StoredValue | null> {
    return this.map.get(key) ?? null;
  }

  async put(key: string, value: Uint8Array): Promise<number> {
    const revision = ++this.revision;
    this.map.set(key, { value: value.slice(), revision });
    return revision;
  }

  async create(key: string, value: Uint8Array): Promise<number | null> {
    return this.map.has(key) ? null : this.put(key, value);
  }

  async update(key: string, value: Uint8Array, revision: number): Promise<number | null> {
    return this.map.get(key)?.revision === revision ? this.put(key, value) : null;
  }

  async delete(key: string): Promise<void> {
    this.map.delete(key);
  }

  async keys(prefix: string): Promise<string[]> {
    const pre = prefix + '.';
    return [...this.map.keys()].filter((k) => k.startsWith(pre));
  }

  async entries(prefix: string): Promise<Map<string, StoredValue>> {
    const pre = prefix + '.';
    const out = new Map<string, StoredValue>();
    for (const [k, v] of this.map) if (k.startsWith(pre)) out.set(k, { value: v.value.slice(), revision: v.revision });
    return out;
  }
}

class MemoryBlobs implements BlobStore {
  private readonly map = new Map<string, Uint8Array>();

  async put(name: string, data: Uint8Array): Promise<{ size: number }> {
    this.map.set(name, data.slice());
    return { size: data.byteLength };
  }

  async get(name: string): Promise<Uint8Array | null> {
    const d = this.map.get(name);
    return d ? d.slice() : null;
  }

  async delete(name: string): Promise<void> {
    this.map.delete(name);
  }
}

class MemoryBus implements EventBus {
  private readonly subs = new Set<{ pattern: string; handler: (subject: string, data: Uint8Array) => void }>();

  publish(subject: string, data: Uint8Array): void {
    for (const s of this.subs) {
      // Asynchronous like a network bus, so a publisher never runs subscriber code inline.
      if (subjectMatches(s.pattern, subject)) queueMicrotask(() => { if (this.subs.has(s)) s.handler(subject, data); });
    }
  }

  subscribe(subject: string, handler: (subject: string, data: Uint8Array) => void): () => void {
    const s = { pattern: subject, handler };
    this.subs.add(s);
    return () => { this.subs.delete(s); };
  }
}

export interface InProcessOptions {
  /** Lease of a delivery in ms (default: 10 minutes; local tasks are never lost, so this only guards hangs). */
  readonly leaseMs?: number;
  readonly maxDeliveries?: number;
}

export function createInProcessTransport(opts: InProcessOptions = {}): Transport {
  const queue = new MemoryQueue(opts.leaseMs ?? 600_000, opts.maxDeliveries ?? 5);
  return {
    queue,
    state: new MemoryState(),
    blobs: new MemoryBlobs(),
    events: new MemoryBus(),
    describe: 'in-process',
    close: async () => queue.close(),
  };
}
