/**
 * @tessera/contracts — the chain and the durable store: Solidity sources with their compiled artifacts and typed
 * bindings, deploy, the embedded anvil launcher, the on-chain write outbox, the database opener, the sealed keystore,
 * the hash-chain table.
 * May import: @tessera/protocol, @tessera/runtime.
 */
export {
  startAnvil,
  anvilBinaryPath,
  ANVIL_CHAIN_ID,
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type AnvilOptions,
} from './anvil.js';
export {
  connectChain,
  makeProvider,
  waitForReceipt,
  type ChainConnection,
  type ReceiptWait,
} from './chain.js';
export { ensureDeployed, deploymentsFile, DEPLOYABLES, type ContractName, type Deployments } from './deploy.js';
export {
  compileSources,
  loadArtifact,
  listArtifacts,
  ARTIFACTS_DIR,
  SOLIDITY_DIR,
  type Artifact,
} from './artifacts.js';
export { Keystore } from './keystore.js';
export { openDatabase, dialectOf, type DatabaseConfig, type DatabaseParts } from './db.js';
export {
  Outbox,
  OutboxEntity,
  OutboxMigration1700000000000,
  OutboxSenderMigration1700000000001,
  OutboxLeaseMigration1700000000002,
  outboxDatabaseParts,
  type OutboxRow,
  type OutboxStatus,
  type OutboxWrite,
  type OutboxHooks,
  type OutboxLeaseOptions,
  type OutboxOptions,
} from './outbox.js';
export {
  DeviceRegistry__factory,
  EligibilityRegistry__factory,
  EnergyCredit__factory,
  EthereumDIDRegistry__factory,
  PlainERC20__factory,
  SecurityToken__factory,
  TesseraAnchor__factory,
} from './generated/index.js';
export type {
  DeviceRegistry,
  EligibilityRegistry,
  EnergyCredit,
  EthereumDIDRegistry,
  PlainERC20,
  SecurityToken,
  TesseraAnchor,
} from './generated/index.js';
export {
  buildDeviceBatch,
  deviceLeaf,
  DeviceRegistryState,
  readDeviceStatus,
  type DeviceChainStatus,
  type DeviceBatchTree,
  type DeviceLeafInput,
} from './device-registry.js';
export { measureRegistrationGas, type RegistrationGas } from './device-registry-gas.js';
export {
  addDelegateDigest,
  addDelegateSignedWrite,
  prepareAddDelegate,
  signSetAttribute,
  type AddDelegateRequest,
  type RegistryWrite,
} from './did-registry.js';
export {
  countryCode,
  deploySecurityToken,
  identityHash,
  readEligibility,
  RESTRICTION_ERROR,
  TransferRestriction,
  type EligibilityRecord,
  type SecurityTokenParams,
  type TransferRestrictionName,
} from './security-token.js';
export { measureTokenGas, type TokenGas } from './security-token-gas.js';
export {
  appendChainEntry,
  type ChainBreak,
  type ChainRow,
  type ChainTable,
  type ChainVerification,
  chainEntry,
  chainHead,
  verifyChain,
} from './hash-chain.js';
export { isTransientConflict, isUniqueViolation } from './db-errors.js';
export { isStorageFault, storageHealth, type StorageHealth } from './sqlite-gate.js';
export { ChainWatch } from './chain-watch.js';
export { ChainLogFollower, type LogFollowerOptions, type RawLog } from './log-follower.js';
