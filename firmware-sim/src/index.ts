/**
 * @tessera/firmware-sim — simulated fleets: devices with characteristics and secrets, attack scenarios, load runs and
 * reports, against a running stack whose issuer it uses over HTTP like any manufacturer (`npm run sim`).
 * May import: @tessera/protocol, @tessera/runtime, @tessera/device-agent, @tessera/wallet.
 */
export { type GeneratedDevice, DEVICE_CATALOGUE, cloneHardware, generateDevices, nextFirmware } from './devices.js';
export { BROKER_REFUSED, RawDeviceClient, forcedResponse } from './client.js';
export { HttpIssuerProvisioner, type HttpIssuerProvisionerOptions } from './http-provisioner.js';
export type { FleetProvisioner, ProgressFn, SimDevice } from './provision.js';
export {
  type ScenarioSummary,
  type SimReport,
  formatSummary,
  latencyChartSpec,
  latencyChartSvg,
  summarise,
} from './report.js';
export { type Rng, seededRng } from './rng.js';
export { type Attempt, type Expectation, type FleetRunOptions, type FleetRunResult, runFleet } from './run.js';
export {
  ATTACKER_SCENARIOS,
  MIXED,
  SCENARIOS,
  type Scenario,
  type ScenarioMix,
  assignScenarios,
  parseScenarioMix,
} from './scenarios.js';
export { type SimulationOptions, simulate } from './simulate.js';
