/**
 * @tessera/protocol — the shared contract, pure (no I/O, no environment, no native code): error codes and the result
 * type, DID syntax, credential types and claim schemas, the one credential builder, the policy schema, the MQTT topic
 * tree and the handshake messages, OCRA (RFC 6287), status list encoding, the hash chain, protocol constants.
 * May import: nothing of ours.
 */
export { ERROR_CODES, TesseraError, isErrorCode, toTesseraError, type ErrorCode, type ErrorShape } from './errors.js';
export { ok, err, type Result } from './result.js';
export { parseDid, parseEthrDid, ethrDid, MAX_DID_LENGTH, type ParsedDid, type ParsedEthrDid } from './did.js';
export * from './constants.js';
export { seal, unseal } from './sealing.js';
export {
  CREDENTIAL_TYPES,
  CREDENTIAL_TYPE_NAMES,
  isCredentialType,
  isValidLei,
  DID_PATTERN,
  validateClaims,
  type CredentialType,
  type CredentialTypeSpec,
  type ClaimsOf,
  type ClaimIssue,
} from './credentials.js';
export {
  Bitstring,
  decodeStatusList,
  encodeStatusList,
  parseStatusListEntries,
  statusListEntry,
  statusListSubject,
  STATUS_LIST_MIN_ENTRIES,
  STATUS_LIST_MAX_BYTES,
  STATUS_PURPOSES,
  STATUS_LIST_ENTRY_TYPE,
  STATUS_LIST_CREDENTIAL_TYPE,
  STATUS_LIST_SUBJECT_TYPE,
  type StatusPurpose,
  type BitstringStatusListEntry,
  type BitstringStatusListSubject,
} from './status-list.js';
export {
  parseOcraSuite,
  ocraSuite,
  checkOcraChallenge,
  ocraDataInput,
  hotpTruncate,
  computeOcra,
  ocraTimeSteps,
  ocraResponsesEqual,
  ocraServerProof,
  ocraClientResponse,
  OCRA_MIN_CHALLENGE_LENGTH,
  OCRA_QUESTION_BYTES,
  type OcraSuite,
  type OcraHash,
  type OcraQuestionFormat,
  type OcraInput,
  type OcraMutualInput,
} from './ocra.js';
export { silentLogger, type Logger } from './logger.js';
export {
  DEVICE_ID_PATTERN,
  HANDSHAKE_OCRA_SUITE,
  HANDSHAKE_SUITE,
  HANDSHAKE_VERSION,
  HANDSHAKE_CHALLENGE_TTL_MS,
  HANDSHAKE_MAX_MESSAGE_BYTES,
  DEVICE_SESSION_TTL_S,
  DEVICE_SESSION_REFRESH_BEFORE_S,
  DEVICE_SECRET_BYTES,
  DEVICE_COMMITMENT_SALT_BYTES,
  MAX_DEVICE_BATCH,
  deviceSecretAad,
  DEVICE_STATES,
  DEVICE_TRANSITIONS,
  HANDSHAKE_STEPS,
  HANDSHAKE_DENIAL_CODES,
  lifecycleDenialCode,
  lifecycleNotice,
  TOPIC_ROOT,
  TOPIC_PATTERNS,
  canTransition,
  deviceIdOf,
  DeviceCharacteristicsSchema,
  canonicalCharacteristics,
  deviceFingerprint,
  generateDeviceSecret,
  secretCommitment,
  topics,
  handshakeTopicPermissions,
  deviceTopicPermissions,
  deviceIdFromTopic,
  topicMatches,
  topicAllowed,
  permissionTemplate,
  type PermissionTemplate,
  templateAllows,
  templateFilters,
  HandshakeHelloSchema,
  HandshakeChallengeSchema,
  HandshakeResponseSchema,
  HandshakeResultSchema,
  HandshakeMessageSchema,
  parseHandshakeMessage,
  transcriptBytes,
  transcriptDigest,
  type DeviceState,
  type DeviceCharacteristics,
  type CanonicalCharacteristics,
  type HandshakeStep,
  type TopicPermissions,
  type HandshakeHello,
  type HandshakeChallenge,
  type HandshakeResponse,
  type HandshakeResult,
  type HandshakeMessage,
  type HandshakeTranscript,
} from './device.js';
export { BROKER_PASSWORD_LABEL, deriveBrokerPassword, brokerPasswordsEqual } from './broker-password.js';
export {
  ClaimConstraintSchema,
  invalidPolicy,
  parsePolicySet,
  patternParams,
  PolicySchema,
  PolicySetSchema,
  RequirementSchema,
  requirementTypes,
  type ClaimConstraint,
  type Policy,
  type PolicyProblem,
  type PolicySet,
  type Requirement,
} from './policy.js';
export { addDelegateDigest, type AddDelegateRequest } from './did-delegate.js';
export type { HolderKeyFile } from './holder-file.js';
export {
  buildCredential,
  credentialJwtClaims,
  VC_CONTEXT_V1,
  type CredentialDraft,
  type UnsignedCredential,
} from './credential-builder.js';
export { type AuditEntry, auditHash, canonicalJson, GENESIS_HASH } from './hash-chain.js';
