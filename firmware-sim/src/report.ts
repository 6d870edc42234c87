import { percentile } from '@tessera/runtime';
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

/** Summarise the attempts of a run per scenario, with the verdict of issue 6 ("attackers are never accepted"). */
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

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * An SVG of latency over time: every attempt as a dot (x: start time, y: latency on a log scale, colour: scenario,
 * hollow when refused), and the p50 and p99 of each time slice as lines.
 */
export function latencyChartSvg(r: SimReport, maxPoints = 6000): string {
  const W = 960;
  const H = 480;
  const m = { l: 64, r: 190, t: 36, b: 48 };
  const pts = r.attempts.filter((a) => a.latencyMs !== undefined && a.latencyMs > 0 && a.outcome !== 'error');
  const step = Math.max(1, Math.ceil(pts.length / maxPoints));
  const tMax = Math.max(r.durationMs, 1);
  const lMax = Math.max(10, ...pts.map((a) => a.latencyMs!));
  const lMin = 0.1;
  const x = (t: number) => m.l + (t / tMax) * (W - m.l - m.r);
  const y = (l: number) =>
    H -
    m.b -
    ((Math.log10(Math.max(l, lMin)) - Math.log10(lMin)) / (Math.log10(lMax) - Math.log10(lMin))) * (H - m.t - m.b);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
  );
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(
    `<text x="${m.l}" y="20" font-size="14">Handshake latency over time — ${esc(String(r.totals.devices))} devices, ${esc(String(r.totals.attempts))} attempts</text>`,
  );
  for (let e = Math.ceil(Math.log10(lMin)); e <= Math.log10(lMax); e++) {
    const v = 10 ** e;
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    parts.push(
      `<text x="${m.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v >= 1 ? v : v.toFixed(1)} ms</text>`,
    );
  }
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const t = (tMax / ticks) * i;
    parts.push(
      `<text x="${x(t).toFixed(1)}" y="${H - m.b + 16}" text-anchor="middle">${(t / 1000).toFixed(0)} s</text>`,
    );
  }
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 10}" text-anchor="middle">time since start of run</text>`);
  parts.push(
    `<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/><line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`,
  );
  for (let i = 0; i < pts.length; i += step) {
    const a = pts[i]!;
    const c = COLORS[a.scenario];
    parts.push(
      `<circle cx="${x(a.t).toFixed(1)}" cy="${y(a.latencyMs!).toFixed(1)}" r="2" ${a.outcome === 'accepted' ? `fill="${c}"` : `fill="none" stroke="${c}"`} opacity="0.6"/>`,
    );
  }
  // p50 / p99 per slice
  const slices = 40;
  for (const [p, dash] of [
    [50, ''],
    [99, ' stroke-dasharray="5 3"'],
  ] as const) {
    const line: string[] = [];
    for (let s = 0; s < slices; s++) {
      const lo = (tMax / slices) * s;
      const hi = lo + tMax / slices;
      const l = pts
        .filter((a) => a.t >= lo && a.t < hi)
        .map((a) => a.latencyMs!)
        .sort((a, b) => a - b);
      if (l.length) line.push(`${x((lo + hi) / 2).toFixed(1)},${y(percentile(l, p)).toFixed(1)}`);
    }
    if (line.length > 1)
      parts.push(`<polyline points="${line.join(' ')}" fill="none" stroke="#000" stroke-width="1.5"${dash}/>`);
  }
  let ly = m.t + 4;
  for (const s of r.scenarios) {
    parts.push(
      `<circle cx="${W - m.r + 16}" cy="${ly}" r="4" fill="${COLORS[s.scenario]}"/><text x="${W - m.r + 26}" y="${ly + 4}">${esc(s.scenario)}</text>`,
    );
    ly += 16;
  }
  ly += 8;
  parts.push(
    `<line x1="${W - m.r + 8}" x2="${W - m.r + 24}" y1="${ly}" y2="${ly}" stroke="#000" stroke-width="1.5"/><text x="${W - m.r + 28}" y="${ly + 4}">p50 per slice</text>`,
  );
  ly += 16;
  parts.push(
    `<line x1="${W - m.r + 8}" x2="${W - m.r + 24}" y1="${ly}" y2="${ly}" stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"/><text x="${W - m.r + 28}" y="${ly + 4}">p99 per slice</text>`,
  );
  ly += 16;
  parts.push(
    `<text x="${W - m.r + 8}" y="${ly + 4}">filled: accepted</text><text x="${W - m.r + 8}" y="${ly + 20}">hollow: refused</text>`,
  );
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
