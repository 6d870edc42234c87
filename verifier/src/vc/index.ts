export { ALLOWED_JWT_ALGS, parseJwt, type AllowedJwtAlg, type ParsedJwt } from './jwt.js';
export { SignatureVerifier, type ProofPurpose, type SignatureVerifierStats } from './keys.js';
export {
  MemoryNonceStore,
  MemoryTokenDenylist,
  RedisNonceStore,
  RedisTokenDenylist,
  newNonce,
  type NonceStore,
  type TokenDenylist,
} from './nonce-store.js';
export { InMemoryStatusListProvider, type StatusListProvider, type StatusListSnapshot } from './status.js';
export { StatusListSync, type StatusListSyncOptions } from './status-sync.js';
export { isTrustedIssuer, normaliseDid, parseTrustList, type TrustList } from './trust.js';
export {
  DEFAULT_CLOCK_SKEW_S,
  DEFAULT_NONCE_TTL_MS,
  MAX_CREDENTIALS_PER_PRESENTATION,
  PresentationVerifier,
  checkStatusEntries,
  type CredentialCheckOptions,
  type PresentationRequest,
  type VerifiedCredential,
  type VerifiedPresentation,
  type VerifierOptions,
} from './verify.js';
