// One progress bar on stderr for a whole run: every unit of work (an agent task, a
// fit) reports its own fraction; the bar shows their mean. Where stderr is not a
// terminal it is silent, so logs and CI output stay clean, unless the caller asks
// for a plain line every `plainEveryMs` (`submit --watch` in a pod).

import type { WriteStream } from 'node:tty';

export class ProgressBar {
  private readonly fractions = new Map<string, number>();
  private lastDraw = 0;
  private readonly t0 = Date.now();
  private drawn = false;

  private lastPlain = 0;

  constructor(private readonly units: number, private readonly stream: NodeJS.WriteStream | WriteStream = process.stderr,
    private readonly enabled = Boolean(process.stderr.isTTY), private readonly plainEveryMs?: number) {}

  update(unit: string, done: number, total: number): void {
    this.fractions.set(unit, total > 0 ? Math.min(1, done / total) : 1);
    const now = Date.now();
    if (!this.enabled && this.plainEveryMs !== undefined && now - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = now;
      this.stream.write(`progress: ${this.summary()}\n`);
    }
    if (now - this.lastDraw >= 100) { this.lastDraw = now; this.draw(); }
  }

  finish(): void {
    if (this.enabled && this.drawn) { this.draw(); this.stream.write('\n'); }
  }

  private draw(): void {
    if (!this.enabled) return;
    const frac = this.fraction();
    const width = 30;
    const filled = Math.round(frac * width);
    this.stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.summary()}\x1b[K`);
    this.drawn = true;
  }

  private fraction(): number {
    let sum = 0;
    for (const f of this.fractions.values()) sum += f;
    return this.units > 0 ? sum / this.units : 1;
  }

  /** "42%  3/8 units  12s elapsed, ~16s left" */
  private summary(): string {
    let complete = 0;
    for (const f of this.fractions.values()) if (f >= 1) complete++;
    const frac = this.fraction();
    const elapsed = (Date.now() - this.t0) / 1000;
    const eta = frac > 0.01 ? elapsed * (1 - frac) / frac : NaN;
    return `${(frac * 100).toFixed(0).padStart(3)}%  ${complete}/${this.units} units  ${elapsed.toFixed(0)}s elapsed`
      + `${Number.isFinite(eta) ? `, ~${eta.toFixed(0)}s left` : ''}`;
  }
}
