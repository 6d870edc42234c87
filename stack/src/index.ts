/**
 * @tessera/stack — the composition root. `npm start` runs `main.ts`: read the configuration once, build every part
 * with its factory (chain, database and outbox, DID resolver, issuer, the credential core, the broker and the device
 * handshake, the services) and wire them. The end-to-end tests beside it start the same stack.
 * May import: every package.
 */
export { loadConfig, StackConfigSchema, type StackConfig } from './config.js';
export { startStack, type RunningStack } from './stack.js';
export { ChainProvisioner, type DeviceToProvision, type ProvisionedDevice } from './chain-provisioner.js';
export {
  type InProcessStack,
  type InProcessStackOptions,
  SealedMemoryVault,
  SIM_LIMITS,
  startInProcessStack,
} from './device-harness.js';
