/**
 * The bench report format: a readable table, then as the last line one JSON object
 * `{"bench": NAME, "figures": {...}, "baselines": {...}, "ratios": {...}, "machine": {...}}`.
 * Figures are named with their unit (`resolutions_per_s`, `p99_ms`, `gas_per_transfer`).
 */
/** What the runner hands every bench: progress reporting for long phases, and the machine's description. */
export interface BenchContext {
  /** Report progress of a long phase (stderr, only on a terminal). */
  progress(label: string, done: number, total: number): void;
  machine: Record<string, string | number>;
}

export interface BenchReport {
  bench: string;
  figures: Record<string, number>;
  baselines: Record<string, number>;
  ratios: Record<string, number>;
  machine: Record<string, string | number>;
  notes?: string[];
}

/**
 * Thrown by a bench that cannot run on this machine because a program or service it measures is missing (HAProxy,
 * Mosquitto): `npm run bench` lists it as skipped with this message, which says what to install, and the other
 * benches' figures still count. Run alone, the bench exits with code 3 and the message.
 */
export class BenchUnavailable extends Error {
  override readonly name = 'BenchUnavailable';
}

/** A ratio rounded for reading; `higherIsBetter` false inverts it so that > 1 always means "we are better". */
export function ratio(ours: number, baseline: number, higherIsBetter = true): number {
  if (!(ours > 0) || !(baseline > 0)) return 0;
  const r = higherIsBetter ? ours / baseline : baseline / ours;
  return Math.round(r * 100) / 100;
}

function fmt(n: number | undefined): string {
  if (n === undefined) return '';
  if (Number.isInteger(n)) return n.toLocaleString('en-US');
  return n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toPrecision(3);
}

/** Render a report as a fixed-width table: one row per figure, with its baseline and ratio where there is one. */
export function formatBenchTable(reports: BenchReport[]): string {
  const rows: string[][] = [['bench', 'figure', 'value', 'baseline', 'ratio']];
  for (const r of reports) {
    for (const [name, value] of Object.entries(r.figures)) {
      rows.push([
        r.bench,
        name,
        fmt(value),
        fmt(r.baselines[name]),
        r.ratios[name] === undefined ? '' : `${fmt(r.ratios[name])}×`,
      ]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row.map((cell, i) => (i >= 2 ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join('  ');
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(rows[0]!), sep, ...rows.slice(1).map(line)].join('\n');
}

/** Percentile of a sample (nearest-rank). */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}
