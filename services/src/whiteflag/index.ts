export {
  startWhiteflagPart,
  WHITEFLAG_HOSTED_KEY_PREFIX,
  type WhiteflagPart,
  type WhiteflagPartConfig,
  type WhiteflagPartDeps,
} from './part.js';
export {
  whiteflagDatabaseParts,
  WhiteflagStore,
  type ReceivedRow,
  type AuthStatus,
  type MessageState,
} from './store.js';
export { WhiteflagListener, type Authenticator, type ReceiverKeys, type WhiteflagListenerOptions } from './listener.js';
export { WhiteflagSender, type SendRequest, type SendResult, type EncryptionRequest } from './sender.js';
export { WhiteflagAccounts, accountEcdhKey, DEFAULT_FUNDING, type AccountFunding } from './accounts.js';
export { messageView } from './http.js';
export {
  loadWhiteflagKeys,
  loadWhiteflagNodeConfig,
  originsOf,
  WhiteflagListenerEnv,
  type WhiteflagKeys,
  type WhiteflagNodeConfig,
} from './config.js';
export { NODE_KEY, startWhiteflagNode, type RunningWhiteflagNode } from './node.js';
