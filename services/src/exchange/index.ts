export {
  actorOf,
  buildExchangeRouter,
  DEFAULT_EXCHANGE_RESOURCE,
  type ExchangeRouterDeps,
} from './http.js';
export {
  ACK_TYP,
  contentHash,
  DocumentRefSchema,
  MAX_INLINE_PAYLOAD_BYTES,
  MESSAGE_TYP,
  MessageBodySchema,
  sha256Hex,
  signAck,
  signMessage,
  verifyAck,
  verifyMessage,
  type DocumentRef,
  type MessageBody,
  type MessageBodyInput,
  type MessageKind,
  type SignAs,
  type VerifiedAck,
  type VerifiedMessage,
} from './messages.js';
export { MemoryKeyring } from './keyring.js';
export {
  PROCESS_TEMPLATES,
  type Process,
  type ProcessStatus,
  type ProcessStep,
  type ProcessTemplateName,
  type StepState,
} from './process.js';
export {
  QuestionnaireSchema,
  QuestionSchema,
  SUPPLIER_QUESTIONNAIRE,
  validateAnswers,
  type Question,
  type Questionnaire,
} from './questionnaire.js';
export {
  DATA_PARTNER_CREDENTIAL,
  DEFAULT_DATASPACE,
  DEFAULT_EXCHANGE_TRAIL_ID,
  ExchangeService,
  MAX_CLOCK_SKEW_S,
  type Actor,
  type AnchorResult,
  type Consent,
  type ExchangeKeyring,
  type ExchangeServiceOptions,
  type MessageRecord,
} from './service.js';
export {
  ExchangeMigration1763790000000,
  ExchangeStore,
  exchangeDatabaseParts,
  type ConsentRow,
  type MessageRow,
  type PartnerRow,
  type ProcessRow,
  type TrailRow,
} from './store.js';
export { readTrail, verifyTrail, type TrailEntry, type TrailVerification } from './trail.js';
export {
  EXCHANGE_ANCHOR_INTERVAL_MS,
  startExchangePart,
  type ExchangePart,
  type ExchangePartDeps,
} from './part.js';
