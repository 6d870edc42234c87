export { type GeneratedDevice, DEVICE_CATALOGUE, cloneHardware, generateDevices, nextFirmware } from './devices.js';
export { BROKER_REFUSED, RawDeviceClient, forcedResponse } from './client.js';
export { HttpIssuerProvisioner, type HttpIssuerProvisionerOptions } from './http-provisioner.js';
export { ChainProvisioner, type FleetProvisioner, type ProgressFn, type SimDevice } from './provision.js';
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
export {
  type InProcessStack,
  type InProcessStackOptions,
  SIM_LIMITS,
  SealedMemoryVault,
  startInProcessStack,
} from './stack.js';
