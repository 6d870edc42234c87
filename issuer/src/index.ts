/**
 * @tessera/issuer — the admin API and the credentials Tessera signs: identities, parties, device registration and
 * lifecycle, issuance through one path (Veramo agent, the protocol's credential builder), status lists, revocation,
 * the audit trail. A relying party of the credential core for admin sign-in and its route guards.
 * May import: @tessera/protocol, @tessera/runtime, @tessera/contracts, @tessera/verifier.
 */
export {
  buildIssuer,
  IssuerEvents,
  type Issuer,
  type IssuerDeps,
  type IssueRequest,
  type IssuedCredential,
  type IssuedEvent,
  type ActionContext,
  type CredentialQuery,
  type CredentialPage,
  type StatusChange,
  type StatusChangeEvent,
  type StatusListCredential,
  type AnchorResult,
} from './issuer.js';
export {
  parseIssuerConfig,
  IssuerConfigSchema,
  type IssuerConfig,
  type IssuerConfigInput,
} from './config.js';
export { issuerDatabaseParts, openIssuerDatabase, type CredentialStatus } from './store.js';
export { verifyAuditTrail, type AuditQuery, type AuditVerification } from './audit.js';
export { loadSecretBoxKey, SECRET_BOX_KEY_FILE } from './keys.js';
export { createIssuerAgent, type IssuerAgent } from './agent.js';
export { buildIssuerApp, type IssuerHttpConfig, type IssuerHttpDeps } from './http/app.js';
export {
  ADMIN_ROLES,
  ISSUER_RESOURCE_PREFIX,
  ISSUER_SIGN_IN_ACTION,
  ISSUER_SIGN_IN_SCOPE,
  principalOf,
  type AdminRole,
  type IssuerAuth,
  type Principal,
} from './http/auth.js';
export { ensureRootAdmin, ROOT_ADMIN_WALLET_FILE } from './root-admin.js';
export { startIssuerService, type IssuerService, type IssuerServiceOptions } from './service.js';
export { createParties, PartyInput, type Party, type Parties } from './parties.js';
export {
  createDeviceLifecycle,
  parseDeviceId,
  type DeviceLifecycle,
  type DeviceLifecycleOptions,
  type DeviceCaller,
  type DeviceBundle,
  type DeviceView,
  type RegisteredBatch,
} from './devices/lifecycle.js';
export { DbDeviceSecretVault, deviceVaultKey } from './devices/store.js';
export { pushStatusChanges, statusListReader } from './status-push.js';
export {
  OID4VCI_TYPES,
  authorizationServerMetadata,
  credentialIssuerMetadata,
  presentOffer,
  type OfferPresentation,
} from './oid4vci/routes.js';
