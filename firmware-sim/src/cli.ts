/**
 * `npm run sim -- [options]`: a simulated device fleet with attack scenarios against a running stack (`npm start`; the
 * local one by default), as any manufacturer would: registers, commissions and revokes the fleet through the issuer's
 * API, runs it on the stack's broker, prints the per-scenario table and writes report.json and latency.svg.
 * `npm run sim -- --help` lists the options and exit codes.
 */
import type { ScenarioMix } from './scenarios.js';
import { Command, CliFailure, cliProgram, finishProgram, isMain, runCli, usageError } from '@tessera/runtime/cli';

/** The run finished and its verdict failed: an attacker was accepted or an honest device refused. */
export const EXIT_VERDICT_FAILED = 3;

/** Scenario names, repeated here so that `--help` does not load the simulator (a test keeps them equal). */
export const SCENARIO_NAMES = [
  'honest',
  'wrong-secret',
  'clone',
  'replay',
  'clock-drift',
  'flapping',
  'revoked-mid-run',
  'firmware-update-mid-run',
] as const;

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

/** The flags of `npm run sim`, as strings (validated together by `validate`, so every problem is listed at once). */
function defineOptions(cmd: Command): Command {
  return cmd
    .option('--devices <n>', 'fleet size, 1 to 100000 (default 100)')
    .option(
      '--scenario <mix>',
      `mixed (default), one of ${SCENARIO_NAMES.join(', ')}, or weights such as honest=80,clone=10,replay=10`,
    )
    .option('--duration <time>', 'how long the fleet runs: 500ms, 30s, 2m (default 60s)')
    .option('--interval <time>', 'mean time between two attempts of one device (default 5s)')
    .option('--seed <seed>', 'seed of the fleet and its timings (default tessera-sim)')
    .option('--out <dir>', 'where report.json and latency.svg go (default .sim)')
    .option('--broker <url>', "the running stack's MQTT broker (default mqtt://127.0.0.1:1884)")
    .option(
      '--issuer <url>',
      "the running stack's issuer API, which registers, commissions and revokes the fleet (default http://127.0.0.1:8080/issuer)",
    )
    .option('--admin-wallet <file>', "the stack's root admin wallet (default .tessera/root-admin-wallet.json)");
}

type RawOptions = Partial<
  Record<
    'devices' | 'scenario' | 'duration' | 'interval' | 'seed' | 'out' | 'broker' | 'issuer' | 'adminWallet',
    string
  >
>;

/** Every problem with the flags at once, or the options. */
async function validate(
  values: RawOptions,
): Promise<{ ok: true; value: CliOptions } | { ok: false; problems: string[] }> {
  const { parseScenarioMix } = await import('./scenarios.js');
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
      adminWallet: String(values.adminWallet ?? '.tessera/root-admin-wallet.json'),
    },
  };
}

/** Parse and check `argv` (the arguments after `npm run sim --`): every problem at once, or the options. */
export async function parseCli(
  argv: string[],
): Promise<{ ok: true; value: CliOptions } | { ok: false; problems: string[] }> {
  const cmd = defineOptions(new Command('sim'))
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    return { ok: false, problems: [(e as Error).message.replace(/^error: /, '')] };
  }
  return validate(cmd.opts() as RawOptions);
}

/** Run the fleet with checked options; the exit code says whether the verdict held. */
async function run(o: CliOptions): Promise<number> {
  const [{ mkdirSync, writeFileSync }, { join, resolve }, { ProgressBar }, { formatSummary, latencyChartSvg }] =
    await Promise.all([import('node:fs'), import('node:path'), import('@tessera/runtime'), import('./report.js')]);
  const [{ simulate }, { HttpIssuerProvisioner }, { readHolderFile }] = await Promise.all([
    import('./simulate.js'),
    import('./http-provisioner.js'),
    import('@tessera/wallet'),
  ]);
  let admin: ReturnType<typeof readHolderFile>;
  try {
    admin = readHolderFile(o.adminWallet);
  } catch (e) {
    throw usageError(`--admin-wallet ${o.adminWallet}: ${(e as Error).message}`);
  }
  if ((o.mix['firmware-update-mid-run'] ?? 0) > 0) {
    if (o.scenario !== 'mixed')
      throw usageError('firmware-update-mid-run needs the in-process stack (no issuer route records firmware updates)');
    delete o.mix['firmware-update-mid-run'];
    console.error('note: firmware-update-mid-run left out of the mix (no issuer route records firmware updates)');
  }
  const target = { brokerUrl: o.broker, provisioner: new HttpIssuerProvisioner({ issuerUrl: o.issuer, admin }) };
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
  writeFileSync(join(dir, 'latency.svg'), await latencyChartSvg(report));
  console.log(formatSummary(report));
  console.log(`report: ${join(o.out, 'report.json')}  chart: ${join(o.out, 'latency.svg')}`);
  if (!report.verdict.ok)
    throw new CliFailure(
      'ERR_HANDSHAKE_DENIED',
      'the verdict failed: an attacker was accepted or an honest device refused (see the table)',
      EXIT_VERDICT_FAILED,
    );
  return 0;
}

export function simProgram(): Command {
  const program = cliProgram({
    name: 'npm run sim --',
    description:
      'A simulated device fleet with attack scenarios against the device handshake of a running stack (npm start; the local one by default), provisioned through its issuer API like any manufacturer. Prints the per-scenario table; writes report.json and latency.svg.',
    exitCodes: [
      {
        code: EXIT_VERDICT_FAILED,
        meaning: 'the run finished and its verdict failed: an attacker was accepted or an honest device refused',
      },
    ],
    examples: [
      'npm run sim -- --devices 1000 --scenario mixed --duration 60s',
      'npm run sim -- --devices 50 --broker mqtt://10.0.0.5:1884 --issuer http://10.0.0.5:8080/issuer',
    ],
  });
  defineOptions(program).action(async (values: RawOptions) => {
    const parsed = await validate(values);
    if (!parsed.ok) throw usageError(parsed.problems.join('; '));
    await run(parsed.value);
  });
  return finishProgram(program);
}

if (isMain(import.meta.url)) await runCli(simProgram());
