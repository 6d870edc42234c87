import { percentile } from '@tessera/runtime';
import { type ChartSpec, renderChartSvg } from '@tessera/runtime/charts';
import type { Attempt } from './run.js';
import { ATTACKER_SCENARIOS, SCENARIOS, type Scenario } from './scenarios.js';

export interface ScenarioSummary {
  scenario: Scenario;
  devices: number;
  attempts: number;
  accepted: number;
  refused: number;
  errors: number;
  /** Refusals and errors by code. */
  byCode: Record<string, number>;
  latency: { p50_ms: number; p95_ms: number; p99_ms: number; max_ms: number };
  /** Attempts that had to be refused but were accepted (an attacker, or a device after its revocation). */
  wronglyAccepted: number;
  /** Attempts that had to be accepted but were refused. */
  wronglyRefused: number;
  /** Devices of an honest kind that were never accepted. */
  honestNeverAccepted: number;
}

export interface SimReport {
  version: 1;
  tool: '@tessera/firmware-sim';
  startedAt: string;
  options: Record<string, unknown>;
  target: { broker: string; stack: 'in-process' | 'remote' };
  durationMs: number;
  scenarios: ScenarioSummary[];
  totals: Omit<ScenarioSummary, 'scenario' | 'byCode' | 'latency' | 'honestNeverAccepted'> & {
    byCode: Record<string, number>;
    attempts_per_s: number;
  };
  revokeToDisconnectMs?: { count: number; p50_ms: number; p99_ms: number };
  /** true when no attacker or revoked attempt was accepted and every honest device was accepted and none refused. */
  verdict: { attackersNeverAccepted: boolean; honestAllAccepted: boolean; ok: boolean };
  attempts: Attempt[];
}

const round = (n: number) => Math.round(n * 100) / 100;

function latencyOf(xs: Attempt[]) {
  const l = xs
    .filter((a) => a.latencyMs !== undefined && a.outcome !== 'error')
    .map((a) => a.latencyMs!)
    .sort((a, b) => a - b);
  if (l.length === 0) return { p50_ms: 0, p95_ms: 0, p99_ms: 0, max_ms: 0 };
  return {
    p50_ms: round(percentile(l, 50)),
    p95_ms: round(percentile(l, 95)),
    p99_ms: round(percentile(l, 99)),
    max_ms: round(l[l.length - 1]!),
  };
}

/** Summarise the attempts of a run per scenario, with the verdict: attackers are never accepted, honest devices always. */
export function summarise(
  attempts: Attempt[],
  scenarioOfDevice: readonly Scenario[],
  meta: Pick<SimReport, 'startedAt' | 'options' | 'target' | 'durationMs'> & { revokeToDisconnectMs?: number[] },
): SimReport {
  const scenarios: ScenarioSummary[] = [];
  for (const s of SCENARIOS) {
    const devices = scenarioOfDevice.filter((x) => x === s).length;
    if (devices === 0) continue;
    const xs = attempts.filter((a) => a.scenario === s);
    const byCode: Record<string, number> = {};
    for (const a of xs) if (a.code) byCode[a.code] = (byCode[a.code] ?? 0) + 1;
    const acceptedDevices = new Set(xs.filter((a) => a.outcome === 'accepted').map((a) => a.device));
    scenarios.push({
      scenario: s,
      devices,
      attempts: xs.length,
      accepted: xs.filter((a) => a.outcome === 'accepted').length,
      refused: xs.filter((a) => a.outcome === 'refused').length,
      errors: xs.filter((a) => a.outcome === 'error').length,
      byCode,
      latency: latencyOf(xs),
      wronglyAccepted: xs.filter((a) => a.expect === 'refuse' && a.outcome === 'accepted').length,
      wronglyRefused: xs.filter((a) => a.expect === 'accept' && a.outcome === 'refused').length,
      honestNeverAccepted: ATTACKER_SCENARIOS.includes(s) ? 0 : devices - acceptedDevices.size,
    });
  }
  const byCode: Record<string, number> = {};
  for (const s of scenarios) for (const [k, v] of Object.entries(s.byCode)) byCode[k] = (byCode[k] ?? 0) + v;
  const sum = (k: 'devices' | 'attempts' | 'accepted' | 'refused' | 'errors' | 'wronglyAccepted' | 'wronglyRefused') =>
    scenarios.reduce((a, s) => a + s[k], 0);
  const attackersNeverAccepted = sum('wronglyAccepted') === 0;
  const honestAllAccepted = sum('wronglyRefused') === 0 && scenarios.every((s) => s.honestNeverAccepted === 0);
  const r = meta.revokeToDisconnectMs?.slice().sort((a, b) => a - b) ?? [];
  return {
    version: 1,
    tool: '@tessera/firmware-sim',
    startedAt: meta.startedAt,
    options: meta.options,
    target: meta.target,
    durationMs: Math.round(meta.durationMs),
    scenarios,
    totals: {
      devices: sum('devices'),
      attempts: sum('attempts'),
      accepted: sum('accepted'),
      refused: sum('refused'),
      errors: sum('errors'),
      wronglyAccepted: sum('wronglyAccepted'),
      wronglyRefused: sum('wronglyRefused'),
      byCode,
      attempts_per_s: round(sum('attempts') / Math.max(meta.durationMs / 1000, 0.001)),
    },
    ...(r.length
      ? {
          revokeToDisconnectMs: { count: r.length, p50_ms: round(percentile(r, 50)), p99_ms: round(percentile(r, 99)) },
        }
      : {}),
    verdict: { attackersNeverAccepted, honestAllAccepted, ok: attackersNeverAccepted && honestAllAccepted },
    attempts,
  };
}

function table(rows: string[][], rightFrom = 1): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) =>
    r.map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

const codes = (m: Record<string, number>) =>
  Object.entries(m)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k.replace(/^ERR_/, '')}=${v}`)
    .join(' ');

/** The per-scenario summary table printed at the end of a run. */
export function formatSummary(r: SimReport): string {
  const rows = [
    [
      'scenario',
      'devices',
      'attempts',
      'accepted',
      'refused',
      'errors',
      'p50 ms',
      'p95 ms',
      'p99 ms',
      'wrong',
      'refusals and errors by code',
    ],
  ];
  for (const s of r.scenarios) {
    rows.push([
      s.scenario,
      String(s.devices),
      String(s.attempts),
      String(s.accepted),
      String(s.refused),
      String(s.errors),
      s.latency.p50_ms.toFixed(1),
      s.latency.p95_ms.toFixed(1),
      s.latency.p99_ms.toFixed(1),
      String(s.wronglyAccepted + s.wronglyRefused + s.honestNeverAccepted),
      codes(s.byCode),
    ]);
  }
  rows.push([
    'total',
    String(r.totals.devices),
    String(r.totals.attempts),
    String(r.totals.accepted),
    String(r.totals.refused),
    String(r.totals.errors),
    '',
    '',
    '',
    String(
      r.totals.wronglyAccepted + r.totals.wronglyRefused + r.scenarios.reduce((a, s) => a + s.honestNeverAccepted, 0),
    ),
    codes(r.totals.byCode),
  ]);
  const out = [table(rows).replace(/\s+$/gm, '')];
  out.push(
    `${r.totals.attempts} attempts in ${(r.durationMs / 1000).toFixed(1)} s (${r.totals.attempts_per_s}/s) against ${r.target.broker} (${r.target.stack})`,
  );
  if (r.revokeToDisconnectMs)
    out.push(
      `revocation → disconnect: p50 ${r.revokeToDisconnectMs.p50_ms} ms, p99 ${r.revokeToDisconnectMs.p99_ms} ms (${r.revokeToDisconnectMs.count} devices)`,
    );
  out.push(
    `attackers never accepted: ${r.verdict.attackersNeverAccepted ? 'yes' : `NO (${r.totals.wronglyAccepted} wrongly accepted)`}; ` +
      `every honest device accepted, none refused: ${r.verdict.honestAllAccepted ? 'yes' : 'NO'}`,
  );
  return out.join('\n');
}

const COLORS: Record<Scenario, string> = {
  honest: '#2b8a3e',
  'wrong-secret': '#c92a2a',
  clone: '#e8590c',
  replay: '#862e9c',
  'clock-drift': '#1971c2',
  flapping: '#0c8599',
  'revoked-mid-run': '#5f3dc4',
  'firmware-update-mid-run': '#a08000',
};

/**
 * The latency chart as a Vega-Lite spec: every attempt as a point (x: seconds since the start of the run, y: latency on a
 * log scale, colour: scenario, shape: a circle when accepted, a triangle when refused) and the p50 and p99 of each of 40 time slices as lines.
 */
export function latencyChartSpec(r: SimReport, maxPoints = 6000): ChartSpec {
  const pts = r.attempts.filter((a) => a.latencyMs !== undefined && a.latencyMs > 0 && a.outcome !== 'error');
  const step = Math.max(1, Math.ceil(pts.length / maxPoints));
  const tMax = Math.max(r.durationMs, 1);
  const points = [];
  for (let i = 0; i < pts.length; i += step) {
    const a = pts[i]!;
    points.push({ s: a.t / 1000, ms: Math.max(a.latencyMs!, 0.1), scenario: a.scenario, outcome: a.outcome });
  }
  const slices = 40;
  const lines: { s: number; ms: number; statistic: string }[] = [];
  for (let k = 0; k < slices; k++) {
    const lo = (tMax / slices) * k;
    const hi = lo + tMax / slices;
    const l = pts
      .filter((a) => a.t >= lo && a.t < hi)
      .map((a) => a.latencyMs!)
      .sort((a, b) => a - b);
    if (l.length === 0) continue;
    for (const p of [50, 99])
      lines.push({ s: (lo + hi) / 2000, ms: Math.max(percentile(l, p), 0.1), statistic: `p${p} per slice` });
  }
  const present = r.scenarios.map((x) => x.scenario);
  const x = {
    field: 's',
    type: 'quantitative',
    scale: { domain: [0, tMax / 1000] },
    axis: { title: 'time since the start of the run (s)' },
  };
  const y = {
    field: 'ms',
    type: 'quantitative',
    scale: { type: 'log' },
    axis: { title: 'handshake latency (ms, log scale)' },
  };
  return {
    title: `Handshake latency over time: ${r.totals.devices} devices, ${r.totals.attempts} attempts`,
    width: 760,
    height: 400,
    layer: [
      {
        data: { values: points },
        mark: { type: 'point', size: 16, opacity: 0.6, filled: false },
        encoding: {
          x,
          y,
          color: {
            field: 'scenario',
            type: 'nominal',
            scale: { domain: present, range: present.map((p) => COLORS[p]) },
            legend: { title: 'scenario', labelLimit: 240 },
          },
          shape: {
            field: 'outcome',
            type: 'nominal',
            scale: { domain: ['accepted', 'refused'], range: ['circle', 'triangle-down'] },
            legend: { title: 'outcome' },
          },
        },
      },
      {
        data: { values: lines },
        mark: { type: 'line', color: '#000', strokeWidth: 1.5 },
        encoding: {
          x,
          y,
          strokeDash: {
            field: 'statistic',
            type: 'nominal',
            scale: {
              domain: ['p50 per slice', 'p99 per slice'],
              range: [
                [1, 0],
                [5, 3],
              ],
            },
            legend: { title: 'latency' },
          },
        },
      },
    ],
  } as ChartSpec;
}

/** The latency chart as a standalone SVG document (rendered on the server). */
export async function latencyChartSvg(r: SimReport, maxPoints = 6000): Promise<string> {
  return renderChartSvg(latencyChartSpec(r, maxPoints));
}
