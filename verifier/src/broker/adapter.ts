import type { TopicPermissions } from '@tessera/protocol';

/**
 * The seam between the handshake/revocation logic and an MQTT broker. Every adapter is deny by
 * default: a client that is not a known device with valid broker credentials cannot connect; a connected device may
 * use only its own handshake topics until a handshake succeeds (`grant`), and nothing at all after `revoke`.
 *
 * A grant belongs to the one MQTT connection that ran the handshake (`BrokerConnection`): a new connection of the same
 * device, a reconnect or a takeover of its client id, starts with the handshake topics again. Where the broker's
 * permissions belong to a login, not a connection (Mosquitto), the grant goes to a session login whose password only
 * the device can derive, and the device reconnects with it (`GrantOutcome`). Packets are capped by
 * their fixed header before their body is read (MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT, then MQTT_MAX_PACKET_BYTES).
 *
 * Implementations: the embedded aedes broker (authenticate/authorize hooks, MQTT 3.1.1) and an external Mosquitto 2
 * with the dynamic-security plugin (one client and one role per device, managed through $CONTROL/dynamic-security/v1).
 * The same conformance suite runs against both.
 */

/**
 * One MQTT connection of a device, as the adapter reported it with an inbound message (or `connectionOf`). Opaque to
 * callers: compare nothing, pass it back to `grant`. `id` increases with every connection event the adapter sees.
 */
export interface BrokerConnection {
  readonly deviceId: string;
  readonly id: number;
}

export interface DeviceSessionGrant {
  /** The MQTT client id, which is the device id (protocol/src/device.ts). */
  deviceId: string;
  did: string;
  permissions: TopicPermissions;
  /** Unix ms; after it the device is back to handshake-only topics unless it refreshed. */
  expiresAt: number;
  /** The connection that ran the handshake: only it gets the permissions. */
  connection: BrokerConnection;
  /**
   * The session password (`deriveSessionPassword(K, sessionId)`), for brokers that hold grants on a session login
   * rather than on a connection (Mosquitto). Adapters that grant the connection itself ignore it.
   */
  sessionPassword?: string;
}

/**
 * What `grant` did: `false`, nothing (the connection is gone); `true`, the connection that ran the handshake has the
 * permissions; `{ login }`, the permissions belong to a session login and the device must reconnect with that
 * username and the session password (its own login keeps the handshake topics only).
 */
export type GrantOutcome = boolean | { login: string };

/** Broker-level credentials of one device, derived by the verifier from the device secret (never the secret itself). */
export interface DeviceBrokerCredentials {
  deviceId: string;
  /** MQTT username = device id; password = the derived broker password (see docs/protocol.md). */
  password: string;
}

/**
 * `clientId`: the MQTT client that published, when the broker knows it (aedes in-process); `source`: its network
 * address, when known (per-source rate limits); `connection`: the device connection it came on, for device handshake
 * topics (what `grant` needs). A broker that cannot tell passes undefined.
 */
export type InboundHandler = (
  topic: string,
  payload: Buffer,
  clientId: string | undefined,
  source?: string,
  connection?: BrokerConnection,
) => void;

/** MQTT packets the broker refused by their fixed header, by phase (counted for the metrics). */
export interface BrokerPacketStats {
  /** Before CONNECT was accepted (MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT, or a malformed length). */
  refusedBeforeConnect: number;
  /** On an accepted connection (MQTT_MAX_PACKET_BYTES, or a malformed length). */
  refusedAfterConnect: number;
}

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
  /**
   * After a successful handshake: widen the permissions of the connection that ran it until `expiresAt` (refresh =
   * grant again on the same connection), or, where the broker cannot tell connections of one login apart
   * (Mosquitto), give them to a session login only the device can use and resolve with its username. Resolves false,
   * and widens nothing, when that connection is gone (closed, replaced by a new connection or a takeover of the
   * client id).
   */
  grant(grant: DeviceSessionGrant): Promise<GrantOutcome>;
  /** The device's current connection, when the adapter knows of one (tests, and grants outside a handshake). */
  connectionOf(deviceId: string): BrokerConnection | undefined;
  /**
   * Brokers that learn of connections after the fact (Mosquitto, from its notices): resolves with the device's next
   * connection once the adapter has applied it. Where a connection is known as it is accepted (aedes), absent.
   */
  nextConnection?(deviceId: string): Promise<BrokerConnection>;
  /** Packets refused by size or a malformed fixed header, by phase, since start (a broker that cannot tell: zeros). */
  readonly packetStats: BrokerPacketStats;
  /**
   * Suspend/revoke/decommission: drop every live session of the device at once and refuse it until re-enrolled
   * (`permanent` false = suspended: `enrol` again on resume; true = credentials deleted).
   */
  revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void>;

  /** The verifier's own messaging: receive what devices publish on `filter`, publish to devices. */
  subscribe(filter: string, handler: InboundHandler): Promise<void>;
  publish(topic: string, payload: string | Buffer): Promise<void>;
}
