import type { TopicPermissions } from '@tessera/protocol';

/**
 * The seam between the handshake/revocation logic and an MQTT broker. Every adapter is deny by
 * default: a client that is not a known device with valid broker credentials cannot connect; a connected device may
 * use only its own handshake topics until a handshake succeeds (`grant`), and nothing at all after `revoke`.
 *
 * Implementations: the embedded aedes broker (authenticate/authorize hooks, MQTT 3.1.1) and an external Mosquitto 2
 * with the dynamic-security plugin (one client and one role per device, managed through $CONTROL/dynamic-security/v1).
 * The same conformance suite runs against both.
 */
export interface DeviceSessionGrant {
  /** The MQTT client id, which is the device id (protocol/src/device.ts). */
  deviceId: string;
  did: string;
  permissions: TopicPermissions;
  /** Unix ms; after it the device is back to handshake-only topics unless it refreshed. */
  expiresAt: number;
}

/** Broker-level credentials of one device, derived by the verifier from the device secret (never the secret itself). */
export interface DeviceBrokerCredentials {
  deviceId: string;
  /** MQTT username = device id; password = the derived broker password (see docs/protocol.md). */
  password: string;
}

/**
 * `clientId`: the MQTT client that published, when the broker knows it (aedes in-process); `source`: its network
 * address, when known (per-source rate limits). A broker that cannot tell passes undefined.
 */
export type InboundHandler = (topic: string, payload: Buffer, clientId: string | undefined, source?: string) => void;

export interface BrokerAdapter {
  readonly kind: 'aedes' | 'mosquitto';
  /** mqtt:// URL devices connect to. */
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called once the verifier has enrolled every device it knows after a start (brokers that hold early CONNECTs). */
  devicesLoaded?(): void;

  /** Allow a device to connect (handshake topics only). Idempotent. */
  enrol(credentials: DeviceBrokerCredentials): Promise<void>;
  /** After a successful handshake: widen the device's permissions until `expiresAt` (refresh = grant again). */
  grant(grant: DeviceSessionGrant): Promise<void>;
  /**
   * Suspend/revoke/decommission: drop every live session of the device at once and refuse it until re-enrolled
   * (`permanent` false = suspended: `enrol` again on resume; true = credentials deleted).
   */
  revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void>;

  /** The verifier's own messaging: receive what devices publish on `filter`, publish to devices. */
  subscribe(filter: string, handler: InboundHandler): Promise<void>;
  publish(topic: string, payload: string | Buffer): Promise<void>;
}
