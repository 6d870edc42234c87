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
