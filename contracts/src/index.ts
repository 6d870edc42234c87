export {
  startAnvil,
  anvilBinaryPath,
  ANVIL_CHAIN_ID,
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type AnvilOptions,
} from './anvil.js';
export { connectChain, makeProvider, type ChainConnection } from './chain.js';
export { ensureDeployed, deploymentsFile, DEPLOYABLES, type ContractName, type Deployments } from './deploy.js';
export { compileSources, loadArtifact, listArtifacts, ARTIFACTS_DIR, type Artifact } from './artifacts.js';
export { Keystore } from './keystore.js';
export { writeFileAtomic } from './files.js';
export { openDatabase, dialectOf, type DatabaseConfig, type DatabaseParts } from './db.js';
export {
  Outbox,
  OutboxEntity,
  OutboxMigration1700000000000,
  outboxDatabaseParts,
  type OutboxRow,
  type OutboxStatus,
  type OutboxWrite,
  type OutboxHooks,
} from './outbox.js';
export { EthereumDIDRegistry__factory, TesseraAnchor__factory } from './generated/index.js';
export type { EthereumDIDRegistry, TesseraAnchor } from './generated/index.js';
export { signSetAttribute, type RegistryWrite } from './did-registry.js';
