export { ERROR_CODES, TesseraError, isErrorCode, toTesseraError, type ErrorCode, type ErrorShape } from './errors.js';
export { ok, err, type Result } from './result.js';
export { parseDid, parseEthrDid, ethrDid, MAX_DID_LENGTH, type ParsedDid, type ParsedEthrDid } from './did.js';
export { formatBenchTable, percentile, ratio, type BenchReport } from './bench.js';
export * from './constants.js';
export { seal, unseal } from './sealing.js';
export {
  CREDENTIAL_TYPES,
  CREDENTIAL_TYPE_NAMES,
  isCredentialType,
  isValidLei,
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
