// One progress bar on stderr for a whole run: every unit of work (an agent task, a
// fit) reports its own fraction; the bar shows their mean. Silent when stderr is
// not a terminal, so logs and CI output stay clean.

import type { WriteStream } from 'node:tty';

export class ProgressBar {
  private readonly fractions = new Map<string, number>();
  private lastDraw = 0;
  private readonly t0 = Date.now();
  private drawn = false;

  constructor(private readonly units: number, private readonly stream: NodeJS.WriteStream | WriteStream = process.stderr,
    private readonly enabled = Boolean(process.stderr.isTTY)) {}

  update(unit: string, done: number, total: number): void {
    this.fractions.set(unit, total > 0 ? Math.min(1, done / total) : 1);
    const now = Date.now();
    if (now - this.lastDraw >= 100) { this.lastDraw = now; this.draw(); }
  }

  finish(): void {
    if (this.enabled && this.drawn) { this.draw(); this.stream.write('\n'); }
  }

  private draw(): void {
    if (!this.enabled) return;
    let sum = 0;
    let complete = 0;
    for (const f of this.fractions.values()) { sum += f; if (f >= 1) complete++; }
    const frac = this.units > 0 ? sum / this.units : 1;
    const width = 30;
    const filled = Math.round(frac * width);
    const elapsed = (Date.now() - this.t0) / 1000;
    const eta = frac > 0.01 ? elapsed * (1 - frac) / frac : NaN;
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%`
      + `  ${complete}/${this.units} units  ${elapsed.toFixed(0)}s elapsed${Number.isFinite(eta) ? `, ~${eta.toFixed(0)}s left` : ''}`;
    this.stream.write(`\r${line}\x1b[K`);
    this.drawn = true;
  }
}
