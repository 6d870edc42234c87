/**
 * `npm run sim -- --devices 1000 --scenario mixed --duration 60s [--interval 5s] [--seed S] [--out .sim]
 *                 [--broker URL --issuer URL]`
 *
 * Against a running stack (`npm start`; the local one by default), as any manufacturer would: registers, commissions
 * and revokes the fleet through the issuer's API, runs it on the stack's broker, prints the per-scenario summary
 * table and writes report.json and latency.svg into --out.
 * Exit code 0: attackers never accepted and every honest device accepted; 1: the verdict failed; 2: bad flags.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { type HolderKey, readHolderFile } from '@tessera/wallet';
import { HttpIssuerProvisioner } from './http-provisioner.js';
import { ProgressBar } from '@tessera/runtime';
import { formatSummary, latencyChartSvg } from './report.js';
import { parseScenarioMix, SCENARIOS, type ScenarioMix } from './scenarios.js';
import { simulate } from './simulate.js';

const USAGE = `usage: npm run sim -- [--devices N] [--scenario mixed|NAME|NAME=W,NAME=W...] [--duration 60s]
                     [--interval 5s] [--seed S] [--out DIR]
                     [--broker URL] [--issuer URL] [--admin-wallet FILE]
  --devices   fleet size (default 100)
  --scenario  mixed (default), one of: ${SCENARIOS.join(', ')},
              or weights such as honest=80,clone=10,replay=10
  --duration  how long the fleet runs: 500ms, 30s, 2m (default 60s)
  --interval  mean time between two attempts of one device (default 5s)
  --seed      seed of the fleet and its timings (default tessera-sim)
  --out       where report.json and latency.svg go (default .sim)
  --broker, --issuer   the running stack (npm start): its MQTT broker (default mqtt://127.0.0.1:1884) and
              issuer API (default http://127.0.0.1:8080/issuer); the fleet is registered, commissioned and
              revoked through the issuer API (firmware-update-mid-run needs the chain directly and is left out)
  --admin-wallet  the stack's root admin wallet (default .tessera/root-admin-wallet.json)`;

/** Parse 500ms, 30s, 2m, 1h or a bare number of seconds. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h']);
}

export interface CliOptions {
  devices: number;
  mix: ScenarioMix;
  scenario: string;
  durationMs: number;
  intervalMs: number;
  seed: string;
  out: string;
  broker: string;
  issuer: string;
  adminWallet: string;
}

/** Every problem with the flags at once, or the options. */
export function parseCli(argv: string[]): { ok: true; value: CliOptions } | { ok: false; problems: string[] } {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        devices: { type: 'string' },
        scenario: { type: 'string' },
        duration: { type: 'string' },
        interval: { type: 'string' },
        seed: { type: 'string' },
        out: { type: 'string' },
        broker: { type: 'string' },
        issuer: { type: 'string' },
        'admin-wallet': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    return { ok: false, problems: [(e as Error).message] };
  }
  if (values.help) return { ok: false, problems: [] };
  const problems: string[] = [];
  const devices = Number(values.devices ?? '100');
  if (!Number.isInteger(devices) || devices < 1 || devices > 100_000)
    problems.push(`--devices must be an integer from 1 to 100000 (got ${values.devices})`);
  const scenario = String(values.scenario ?? 'mixed');
  const mix = parseScenarioMix(scenario);
  if (!mix.ok) problems.push(`--scenario: ${mix.error.message}`);
  const durationMs = parseDuration(String(values.duration ?? '60s'));
  if (durationMs === undefined || durationMs < 1000)
    problems.push(`--duration must be like 500ms, 30s or 2m and at least 1s (got ${values.duration})`);
  const intervalMs = parseDuration(String(values.interval ?? '5s'));
  if (intervalMs === undefined || intervalMs < 50)
    problems.push(`--interval must be like 500ms or 5s and at least 50ms (got ${values.interval})`);
  for (const k of ['broker', 'issuer'] as const) {
    const v = values[k];
    if (v === undefined) continue;
    try {
      new URL(String(v));
    } catch {
      problems.push(`--${k} is not a URL (got ${v})`);
    }
  }
  if (problems.length > 0 || !mix.ok) return { ok: false, problems };
  return {
    ok: true,
    value: {
      devices,
      mix: mix.value,
      scenario,
      durationMs: durationMs!,
      intervalMs: intervalMs!,
      seed: String(values.seed ?? 'tessera-sim'),
      out: String(values.out ?? '.sim'),
      broker: String(values.broker ?? 'mqtt://127.0.0.1:1884'),
      issuer: String(values.issuer ?? 'http://127.0.0.1:8080/issuer'),
      adminWallet: String(values['admin-wallet'] ?? '.tessera/root-admin-wallet.json'),
    },
  };
}

async function main(): Promise<number> {
  const parsed = parseCli(process.argv.slice(2));
  if (!parsed.ok) {
    if (parsed.problems.length === 0) {
      console.log(USAGE);
      return 0;
    }
    for (const p of parsed.problems) console.error(`error ERR_BAD_REQUEST: ${p}`);
    console.error(USAGE);
    return 2;
  }
  const o = parsed.value;
  let target: { brokerUrl: string; provisioner: HttpIssuerProvisioner };
  {
    let admin: HolderKey;
    try {
      admin = readHolderFile(o.adminWallet);
    } catch (e) {
      console.error(`error ERR_BAD_REQUEST: --admin-wallet ${o.adminWallet}: ${(e as Error).message}`);
      return 2;
    }
    if ((o.mix['firmware-update-mid-run'] ?? 0) > 0) {
      if (o.scenario !== 'mixed') {
        console.error(
          'error ERR_BAD_REQUEST: firmware-update-mid-run needs the in-process stack (no issuer route records firmware updates)',
        );
        return 2;
      }
      delete o.mix['firmware-update-mid-run'];
      console.error('note: firmware-update-mid-run left out of the mix (no issuer route records firmware updates)');
    }
    target = { brokerUrl: o.broker, provisioner: new HttpIssuerProvisioner({ issuerUrl: o.issuer, admin }) };
  }
  if (o.intervalMs < 4_000)
    console.error(
      `note: with --interval ${o.intervalMs} ms an honest device hand-shakes more than 15 times a minute, over the verifier's per-device budget (30 admissions a minute, two per handshake): expect ERR_HANDSHAKE_LOCKED for honest devices`,
    );
  const bar = new ProgressBar();
  let runStart = 0;
  const counts = { attempts: 0, accepted: 0, refused: 0, errors: 0 };
  const report = await simulate({
    devices: o.devices,
    mix: o.mix,
    durationMs: o.durationMs,
    intervalMs: o.intervalMs,
    seed: o.seed,
    target,
    progress: (label, done, total) => bar.draw(label, done, total, `${done}/${total}`, done >= total),
    onReady: () => {
      bar.done();
      runStart = Date.now();
    },
    onAttempt: (a) => {
      counts.attempts++;
      counts[a.outcome === 'accepted' ? 'accepted' : a.outcome === 'refused' ? 'refused' : 'errors']++;
      const elapsed = Date.now() - runStart;
      bar.draw(
        'running fleet',
        Math.min(elapsed, o.durationMs),
        o.durationMs,
        `${(elapsed / 1000).toFixed(0)}/${(o.durationMs / 1000).toFixed(0)} s  ${counts.attempts} attempts  ${counts.accepted} accepted  ${counts.refused} refused  ${counts.errors} errors`,
      );
    },
  });
  bar.done();
  const dir = resolve(o.out);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(dir, 'latency.svg'), latencyChartSvg(report));
  console.log(formatSummary(report));
  console.log(`report: ${join(o.out, 'report.json')}  chart: ${join(o.out, 'latency.svg')}`);
  return report.verdict.ok ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('firmware-sim/src/cli.ts')) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`error ERR_INTERNAL: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
