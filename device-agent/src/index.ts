/**
 * @tessera/device-agent — the runtime on a gateway: the sealed key and secret store, the handshake initiator, session
 * refresh, reconnect with backoff, and its CLI (`npm run device`).
 * May import: @tessera/protocol, @tessera/runtime.
 */
export {
  DeviceAgent,
  DEFAULT_BACKOFF,
  backoffDelay,
  subscribeQos,
  type BackoffOptions,
  type DeviceAgentOptions,
  type DeviceSession,
  type HandshakeOutcome,
} from './agent.js';
export { answerChallenge, createHello, deviceTranscript, signDigest, type DeviceIdentity } from './initiator.js';
export { DeviceKeyStore, ProvisioningSchema, type Provisioning } from './store.js';
