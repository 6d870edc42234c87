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
} from './store.js';
