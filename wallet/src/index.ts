/**
 * @tessera/wallet — the holder side: the wallet library and its CLI for people and organisations (keys sealed at rest,
 * offers received, presentations made, gated services called) and the admin client (log in with role credentials,
 * call the issuer's API). A client of Tessera's HTTP APIs only.
 * May import: @tessera/protocol, @tessera/runtime.
 */
export { type WalletConfig, loadWalletConfig } from './config.js';
export {
  type AccessTokenResponse,
  type DisplayStatus,
  type FlowOptions,
  type PresentationRequest,
  authoriseHostedKey,
  buildPresentation,
  callGated,
  httpJson,
  mayMeet,
  present,
  publishedStatus,
  receiveOffer,
  requestPresentation,
  submitPresentation,
  tokenFor,
} from './flows.js';
export { type ParsedOffer, parseOffer } from './offer.js';
export {
  type HeldCredential,
  type HeldToken,
  type OpenOptions,
  TesseraWallet,
  WALLET_FILE,
  WALLET_KEY_FILE,
  describeCredential,
  describeSdJwtCredential,
} from './store.js';
export {
  type HolderKey,
  type IssuerReply,
  issuerRequest,
  loginWithCredentials,
  readHolderFile,
} from './admin-client.js';
export {
  type Addressed,
  type PresentationConsent,
  answerOpenid4vp,
  checkRequestObject,
  presentOpenid4vp,
  receiveCredentialOffer,
  receiveWithAuthorizationCode,
} from './oid4vc.js';
