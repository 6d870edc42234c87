/** A one-line progress bar on stderr, drawn only on a terminal (nothing in pipes, CI logs or tests). */
export class ProgressBar {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;

  /** Redraw at most every 100 ms unless `force`. */
  draw(label: string, done: number, total: number, extra = '', force = false): void {
    if (!this.tty) return;
    const now = Date.now();
    if (!force && now - this.last < 100) return;
    this.last = now;
    const width = 28;
    const f = Math.max(0, Math.min(width, Math.round((done / Math.max(total, 1)) * width)));
    const line = `${label.padEnd(26)} [${'█'.repeat(f)}${'░'.repeat(width - f)}] ${Math.round(
      (done / Math.max(total, 1)) * 100,
    )
      .toString()
      .padStart(3)}% ${extra}`;
    process.stderr.write(`\r${line.slice(0, (process.stderr.columns ?? 120) - 1)}\x1b[K`);
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
