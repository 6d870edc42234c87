export {
  HandshakeResponder,
  authenticationAddresses,
  recoverSigner,
  type HandshakeAuditEvent,
  type HandshakeResponderOptions,
} from './responder.js';
export { FileDeviceSecretVault, secretMatchesCommitment, type DeviceSecretVault } from './vault.js';
export {
  DEFAULT_HANDSHAKE_LIMITS,
  MemoryHandshakeLimiter,
  RedisHandshakeLimiter,
  lockoutMs,
  type HandshakeLimiter,
  type HandshakeLimits,
} from './limiter.js';
export {
  DEVICE_RECORD_TOPICS,
  DEVICE_STATE_CHANGED_TOPIC,
  DeviceStateWatcher,
  dropSessionsOnRevocation,
  type DeviceStateChange,
  type DeviceStateWatcherOptions,
} from './revocation-watcher.js';
export { HandshakeSignatureChecker, nodeES256KSigner } from './crypto.js';
export { DeviceStatusCache } from './status-cache.js';
export {
  startDeviceHandshakeService,
  type DeviceHandshakeService,
  type DeviceHandshakeServiceOptions,
} from './service.js';
