import { err, ok, type Result } from '@tessera/protocol';
import type { Rng } from './rng.js';

/**
 * What a simulated device does. Honest kinds must be accepted; attackers must never be.
 *
 * - honest: a genuine device running the real DeviceAgent; connects, hand-shakes, refreshes its session.
 * - wrong-secret: knows the device id and DID, guesses the secret: a wrong broker password (refused at CONNECT), or
 *   a leaked broker password with a wrong OCRA key (refused in the handshake), alternately.
 * - clone: the right secret and DID key copied onto other hardware (another MAC): reports its own fingerprint, or
 *   lies about it and answers anyway.
 * - replay: has a leaked broker password and a captured genuine response; replays it verbatim and relabelled into a
 *   new session.
 * - clock-drift: honest, but its clock is off by up to ±2 minutes (the verifier's clock decides freshness).
 * - flapping: honest, but its network drops every few seconds (disconnect/reconnect storms, backoff with jitter).
 * - revoked-mid-run: honest until an operator revokes it on chain mid-run; from then on it must be refused.
 * - firmware-update-mid-run: honest; mid-run its firmware is updated (new fingerprint on chain) and it reboots with
 *   the new image; must be accepted again with the new fingerprint (and the old one refused).
 */
export const SCENARIOS = [
  'honest',
  'wrong-secret',
  'clone',
  'replay',
  'clock-drift',
  'flapping',
  'revoked-mid-run',
  'firmware-update-mid-run',
] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** Attacker scenarios: no attempt of theirs may ever be accepted. */
export const ATTACKER_SCENARIOS: readonly Scenario[] = ['wrong-secret', 'clone', 'replay'];

export type ScenarioMix = Partial<Record<Scenario, number>>;

/** `--scenario mixed`: mostly honest devices, every other kind present. */
export const MIXED: ScenarioMix = {
  honest: 0.55,
  'wrong-secret': 0.08,
  clone: 0.08,
  replay: 0.08,
  'clock-drift': 0.06,
  flapping: 0.06,
  'revoked-mid-run': 0.05,
  'firmware-update-mid-run': 0.04,
};

/**
 * Parse a scenario selection: `mixed`, one scenario name, or weights `honest=70,clone=10,replay=20` (any positive
 * numbers; they are normalised).
 */
export function parseScenarioMix(spec: string): Result<ScenarioMix> {
  const s = spec.trim();
  if (s === 'mixed') return ok({ ...MIXED });
  if ((SCENARIOS as readonly string[]).includes(s)) return ok({ [s]: 1 });
  const mix: ScenarioMix = {};
  for (const part of s.split(',')) {
    const [name, weight] = part.split('=').map((x) => x.trim());
    if (!name || !(SCENARIOS as readonly string[]).includes(name))
      return err('ERR_BAD_REQUEST', `unknown scenario '${name ?? ''}'; known: mixed, ${SCENARIOS.join(', ')}`);
    const w = weight === undefined ? 1 : Number(weight);
    if (!Number.isFinite(w) || w < 0) return err('ERR_BAD_REQUEST', `scenario weight '${weight}' is not a number ≥ 0`);
    mix[name as Scenario] = w;
  }
  const total = Object.values(mix).reduce((a, b) => a + b, 0);
  if (!(total > 0)) return err('ERR_BAD_REQUEST', 'the scenario weights add up to 0');
  return ok(mix);
}

/**
 * Assign a scenario to each of `count` devices in proportion to the mix (largest remainder, so the counts are
 * exact), every scenario with a positive weight getting at least one device when count allows; shuffled by `rng`.
 */
export function assignScenarios(mix: ScenarioMix, count: number, rng: Rng): Scenario[] {
  const entries = SCENARIOS.filter((s) => (mix[s] ?? 0) > 0).map((s) => [s, mix[s]!] as const);
  const total = entries.reduce((a, [, w]) => a + w, 0);
  const exact = entries.map(([s, w]) => ({ s, n: (w / total) * count }));
  const counts = exact.map((e) => ({ s: e.s, n: Math.floor(e.n), r: e.n - Math.floor(e.n) }));
  if (count >= counts.length) for (const c of counts) if (c.n === 0) c.n = 1;
  let left = count - counts.reduce((a, c) => a + c.n, 0);
  for (const c of [...counts].sort((a, b) => b.r - a.r)) {
    if (left <= 0) break;
    c.n++;
    left--;
  }
  while (left < 0) {
    const biggest = counts.reduce((a, c) => (c.n > a.n ? c : a));
    biggest.n--;
    left++;
  }
  const out: Scenario[] = counts.flatMap((c) => Array<Scenario>(c.n).fill(c.s));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
