// Serialises the state changes of one job or one sweep: events, the periodic
// reconcile, fits and API calls touching the same id would race otherwise.
// Different ids run concurrently.

export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Run `fn` after everything queued for `id` has settled; its result (or failure) is the caller's. */
  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.tails.set(id, tail);
    void tail.then(() => { if (this.tails.get(id) === tail) this.tails.delete(id); });
    return next;
  }
}
