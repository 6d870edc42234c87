import type { DeviceIdentity } from '@tessera/device-agent';
import type { GeneratedDevice } from './devices.js';

/** A provisioned device: what it is, and what it knows (its secret and DID key never leave the simulator). */
export interface SimDevice {
  generated: GeneratedDevice;
  identity: DeviceIdentity;
}

export type ProgressFn = (label: string, done: number, total: number) => void;

/**
 * How a fleet gets on chain and into the verifier: register in Merkle batches, commission each device (bind its DID
 * key), hand the secret to the verifier, and the operator actions the scenarios need mid-run. Implementations: the
 * issuer over HTTP (`HttpIssuerProvisioner`, any running stack), and the chain and the vault directly
 * (`ChainProvisioner` of `@tessera/stack`, its in-process device harness for tests and benches).
 */
export interface FleetProvisioner {
  readonly kind: string;
  provision(devices: readonly GeneratedDevice[], progress?: ProgressFn): Promise<SimDevice[]>;
  /** Operator revoke: on chain; the verifier drops live sessions from the chain event. */
  revoke(deviceId: string): Promise<void>;
  /** Record a firmware update (a new fingerprint) on chain; absent when the provisioner cannot. */
  updateFirmware?(deviceId: string, fingerprint: string): Promise<void>;
}
