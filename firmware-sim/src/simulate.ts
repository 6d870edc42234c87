import { generateDevices } from './devices.js';
import type { FleetProvisioner, ProgressFn } from './provision.js';
import { summarise, type SimReport } from './report.js';
import { seededRng } from './rng.js';
import { type Attempt, runFleet } from './run.js';
import { assignScenarios, type ScenarioMix } from './scenarios.js';

export interface SimulationOptions {
  devices: number;
  mix: ScenarioMix;
  durationMs: number;
  /** Mean time between two attempts of one device (ms). */
  intervalMs?: number;
  seed?: string | number;
  /**
   * Where the fleet runs: a stack's broker URL and a provisioner for it (the issuer over HTTP for any running stack;
   * `@tessera/stack`'s in-process device harness and its ChainProvisioner in tests and benches).
   */
  target: { brokerUrl: string; provisioner: FleetProvisioner; kind?: 'remote' | 'in-process' };
  progress?: ProgressFn;
  onAttempt?(a: Attempt): void;
  /** Called once the fleet is provisioned, before the run starts. */
  onReady?(info: { brokerUrl: string; devices: number }): void;
}

/**
 * Generate a fleet, provision it, run every device in its scenario for the duration, and summarise.
 *
 * @example const report = await simulate({ devices: 40, mix: MIXED, durationMs: 10_000, target: { brokerUrl, provisioner } });
 */
export async function simulate(o: SimulationOptions): Promise<SimReport> {
  const seed = o.seed ?? 'tessera-sim';
  const rng = seededRng(seed);
  const startedAt = new Date().toISOString();
  const { brokerUrl, provisioner } = o.target;
  const remote = o.target.kind !== 'in-process';
  const generated = generateDevices(rng, o.devices, { serialTag: remote ? `${Date.now().toString(36)}-` : '' });
  const scenarios = assignScenarios(o.mix, o.devices, rng);
  const devices = await provisioner.provision(generated, o.progress);
  o.onReady?.({ brokerUrl, devices: devices.length });
  const run = await runFleet({
    brokerUrl,
    devices,
    scenarios,
    durationMs: o.durationMs,
    ...(o.intervalMs ? { intervalMs: o.intervalMs } : {}),
    provisioner,
    rng,
    ...(o.onAttempt ? { onAttempt: o.onAttempt } : {}),
  });
  return summarise(run.attempts, scenarios, {
    startedAt,
    options: {
      devices: o.devices,
      mix: o.mix,
      durationMs: o.durationMs,
      intervalMs: o.intervalMs ?? 5000,
      seed,
      provisioner: provisioner.kind,
    },
    target: { broker: brokerUrl, stack: remote ? 'remote' : 'in-process' },
    durationMs: run.durationMs,
    revokeToDisconnectMs: run.revokeToDisconnectMs,
  });
}
