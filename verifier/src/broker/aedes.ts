import { createServer, type Server, type Socket } from 'node:net';
import {
  brokerPasswordsEqual,
  handshakeTopicPermissions,
  type Logger,
  MQTT_MAX_PACKET_BYTES,
  MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT,
  type PermissionTemplate,
  permissionTemplate,
  silentLogger,
  TesseraError,
  type TopicPermissions,
  templateAllows,
  templateFilters,
} from '@tessera/protocol';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type {
  BrokerAdapter,
  BrokerConnection,
  BrokerPacketStats,
  DeviceBrokerCredentials,
  DeviceSessionGrant,
  InboundHandler,
} from './adapter.js';
import { checkOutboundSize, MqttPacketGuard, type PacketLimits, type PacketRefusal } from './packet-guard.js';

export interface AedesBrokerOptions {
  /** TCP port; 0 = an ephemeral port (tests). */
  port?: number;
  host?: string;
  log?: Logger;
  /** Injectable clock for grant expiry (unix ms). */
  now?: () => number;
  /**
   * After a (re)start the verifier enrols its devices while the broker already listens. A CONNECT from a device not
   * enrolled yet is held up to this many ms until `devicesLoaded()` instead of refused, so a reconnect storm after a
   * restart is not refused wrongly; once loaded, unknown devices are refused at once. Default 0: refuse at once.
   */
  holdUnknownUntilLoadedMs?: number;
  /** Packet caps by fixed header; default MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT and MQTT_MAX_PACKET_BYTES. */
  packetLimits?: PacketLimits;
}

/** What the broker keeps per enrolled device: its password. Grants live on connections. */
interface DeviceEntry {
  password: string;
}

/** One accepted connection and, after a handshake on it, its grant (a shared template). */
interface ConnectionEntry {
  connection: BrokerConnection;
  granted?: PermissionTemplate;
  grantExpiresAt: number;
}

// Before a handshake (or after its grant expired) a device may only speak its own handshake: one template for all.
const HANDSHAKE_ONLY = permissionTemplate(`0x${'0'.repeat(64)}`, handshakeTopicPermissions(`0x${'0'.repeat(64)}`));
const NOTHING: PermissionTemplate = Object.freeze({ publish: [], subscribe: [] });

/**
 * Packets aedes parses and queues after a CONNECT while its authentication is pending (MQTT 3.1.1 §3.1.4 lets a client
 * pipeline them); each is at most MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT, so this bounds what an unauthenticated
 * connection holds. Honest devices wait for CONNACK before they send anything.
 */
const QUEUE_BEFORE_CONNACK = 16;

/** MQTT 3.1.1 §3.2.2.3 CONNACK return codes used by the authenticate hook. */
const BAD_USERNAME_OR_PASSWORD = 4;

function authError(message: string): AuthenticateError {
  const e = new Error(message) as AuthenticateError;
  e.returnCode = BAD_USERNAME_OR_PASSWORD as AuthenticateError['returnCode'];
  return e;
}

/**
 * Once a CONNECT is accepted, keep nothing of it that points into the socket read it came in: its password (a
 * secret; zeroed) and its will payload (copied into its own allocation). Both are views of the chunk Node read the
 * packet into, and aedes keeps the CONNECT packet (the parser's settings) and the will for the whole session, so every
 * session pinned its CONNECT's read chunk in the malloc heap, and the password stayed in memory for as long as the
 * device was connected.
 */
function releaseConnectBuffers(client: Client, password: Buffer | undefined): void {
  password?.fill(0);
  const internals = client as unknown as {
    _parser?: { settings?: { password?: Buffer } };
    _will?: { payload?: Buffer } | null;
  };
  const connect = internals._parser?.settings;
  if (connect && connect.password === password) connect.password = undefined;
  const will = internals._will;
  if (will?.payload && Buffer.isBuffer(will.payload)) {
    // Its own small allocation: Buffer.from would take a slice of Node's shared 8 KB pool, and one live slice keeps its
    // whole pool chunk alive (a chunk per session, as the measured external memory showed).
    const copy = Buffer.allocUnsafeSlow(will.payload.length);
    will.payload.copy(copy);
    will.payload = copy;
  }
}

/**
 * The embedded broker: aedes 1.2 (MQTT 3.1.1) over TCP, deny by default.
 *
 * - authenticate: username must equal the client id, the client id must be an enrolled device, and the password must
 *   equal its derived broker password (constant-time compare). Anything else gets CONNACK 4.
 * - authorizePublish / authorizeSubscribe: against the permissions of this connection: its handshake topics until a
 *   grant, the granted topics until `expiresAt`, handshake topics again after it. A grant is kept on the connection
 *   that ran the handshake, so a new connection (a reconnect, or a takeover of the client id) starts over. A refused
 *   PUBLISH closes the connection (MQTT 3.1.1 has no negative PUBACK); a refused SUBSCRIBE gets return code 0x80
 *   (§3.9.3). A retained PUBLISH from a device is refused the same way (nothing a device sends is kept).
 * - packet size: every packet is decided by its fixed header before its body is read (`MqttPacketGuard`):
 *   MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT until the CONNECT is accepted, MQTT_MAX_PACKET_BYTES after. A refusal is
 *   logged (`mqtt_packet_refused`), counted in `packetStats` and closes the connection.
 * - revoke: the live client is closed at once and the device is forgotten until enrolled again.
 * - the verifier's own subscribe/publish run in-process (no MQTT client, no credentials).
 */
export class AedesBrokerAdapter implements BrokerAdapter {
  readonly kind = 'aedes' as const;
  private broker: Aedes | undefined;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly clients = new Map<string, Client>();
  /** Per accepted connection: its identity and grant. */
  private readonly connections = new WeakMap<Client, ConnectionEntry>();
  /** The latest accepted connection of each device: the only one a grant may still go to. */
  private readonly latest = new Map<string, ConnectionEntry>();
  private readonly guards = new WeakMap<Client, MqttPacketGuard>();
  /** Who published an inbound message, by its payload buffer (aedes passes the same buffer to in-process handlers). */
  private readonly publishers = new WeakMap<Buffer, Client>();
  private nextConnectionId = 1;
  readonly packetStats: BrokerPacketStats = { refusedBeforeConnect: 0, refusedAfterConnect: 0 };
  private readonly log: Logger;
  private readonly now: () => number;
  private boundUrl = '';
  private loaded = false;
  private readonly loadWaiters = new Set<() => void>();

  constructor(private readonly options: AedesBrokerOptions = {}) {
    this.log = (options.log ?? silentLogger).child({ part: 'aedes' });
    this.now = options.now ?? Date.now;
  }

  get url(): string {
    if (!this.boundUrl) throw new Error('the aedes broker is not started');
    return this.boundUrl;
  }

  /** Number of connected MQTT clients (for tests and metrics). */
  get connectedClients(): number {
    return this.broker?.connectedClients ?? 0;
  }

  /** Is a device's MQTT client connected right now? */
  isConnected(deviceId: string): boolean {
    return this.clients.has(deviceId);
  }

  /**
   * The permissions of the device's current connection (handshake-only without a live grant on it, and when it is
   * not connected; none if not enrolled).
   */
  permissionsOf(deviceId: string): TopicPermissions {
    const client = this.clients.get(deviceId);
    const t = client ? this.templateOf(client) : this.devices.has(deviceId) ? HANDSHAKE_ONLY : NOTHING;
    return { publish: templateFilters(t.publish, deviceId), subscribe: templateFilters(t.subscribe, deviceId) };
  }

  connectionOf(deviceId: string): BrokerConnection | undefined {
    return this.latest.get(deviceId)?.connection;
  }

  private templateOf(client: Client): PermissionTemplate {
    if (!this.devices.has(client.id)) return NOTHING;
    const c = this.connections.get(client);
    if (c?.granted && c.grantExpiresAt > this.now()) return c.granted;
    return HANDSHAKE_ONLY;
  }

  async start(): Promise<void> {
    // mqtt-packet (aedes' encoder) otherwise builds, on the first packet it writes, a cache of 65,536 two-byte Buffers
    // for packet ids and lengths: about 6.5 MB of heap for every process that runs a broker, to save a 2-byte write per
    // packet. The setting is process-wide; MQTT clients in the same process encode the same bytes either way.
    mqttPacket.writeToStream.cacheNumbers = false;
    const broker = await Aedes.createBroker({
      // aedes' message bus runs at most `concurrency` (default 100) messages at once and queues the rest; a queued
      // message whose handlers finish at once (every CONNECT's $SYS new/clients announcement) then runs inside the
      // previous one's callback, so a connect storm with deliveries still under way recursed once per queued message
      // and overflowed the stack at 10,000 devices. 0 = no limit: every message runs when it is emitted, as aedes' own
      // handlers and the in-process subscribers (released on a microtask) expect. What bounds the work in flight is
      // unchanged: aedes reads a client's next packets only once its previous ones are handled.
      concurrency: 0,
      queueLimit: QUEUE_BEFORE_CONNACK,
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null); // the verifier's own in-process publish
        // Devices publish nothing retained: a retained message lives in the broker's memory for as long as it runs,
        // one per topic, and a device owns unboundedly many topics (telemetry/#).
        const retainOk = !packet.retain;
        if (retainOk && templateAllows(this.templateOf(client).publish, client.id, packet.topic)) {
          // Stamp who published it (aedes copies `clientId` onto the delivered packet); never trust a wire value.
          const stamped = packet as typeof packet & { clientId?: string };
          stamped.clientId = client.id;
          if (Buffer.isBuffer(packet.payload)) this.publishers.set(packet.payload, client);
          return done(null);
        }
        this.log.warn({
          event: 'publish_refused',
          clientId: client.id,
          topic: packet.topic.slice(0, 200),
          ...(retainOk ? {} : { retain: true }),
        });
        done(new Error('ERR_TOPIC_FORBIDDEN'));
      },
      authorizeSubscribe: (client, sub, done) => {
        const allowed = this.templateOf(client).subscribe;
        // A concrete topic any permitted filter matches, or exactly one of the permitted filters (wildcards included).
        if (templateAllows(allowed, client.id, sub.topic) || templateFilters(allowed, client.id).includes(sub.topic))
          return done(null, sub);
        this.log.warn({ event: 'subscribe_refused', clientId: client.id, topic: sub.topic.slice(0, 200) });
        done(null, null); // SUBACK 0x80 (MQTT 3.1.1 §3.9.3)
      },
      // A grant that expires or is revoked while a subscription exists must not keep delivering: check on forward.
      authorizeForward: (client, packet) =>
        templateAllows(this.templateOf(client).subscribe, client.id, packet.topic) ? packet : null,
    });
    broker.on('client', (client) => {
      const previous = this.clients.get(client.id);
      if (previous && previous !== client) previous.close();
      this.clients.set(client.id, client);
    });
    broker.on('clientDisconnect', (client) => {
      if (this.clients.get(client.id) === client) this.clients.delete(client.id);
      const entry = this.connections.get(client);
      if (entry && this.latest.get(client.id) === entry) this.latest.delete(client.id);
    });
    broker.on('clientError', (client, error) => this.log.debug({ clientId: client.id, error: error.message }));
    this.broker = broker;
    // Small request/response messages: Nagle + delayed ACK would add ~40 ms per round trip (RFC 896, RFC 1122 §4.2.3.2).
    const server = createServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      this.watchPackets(broker.handle(socket), socket);
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => resolve());
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : this.options.port;
    this.boundUrl = `mqtt://${this.options.host ?? '127.0.0.1'}:${port}`;
    this.log.info({ url: this.boundUrl }, 'aedes broker listening');
  }

  /**
   * Decide every packet of this connection by its fixed header before aedes' parser sees its bytes: the parser is
   * handed a chunk only when every header in it passed, so an oversized body is never read, let alone buffered.
   */
  private watchPackets(client: Client, socket: Socket): void {
    const guard = new MqttPacketGuard(
      this.options.packetLimits ?? {
        beforeConnect: MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT,
        afterConnect: MQTT_MAX_PACKET_BYTES,
      },
    );
    this.guards.set(client, guard);
    const parser = (client as unknown as { _parser: { parse(buf: Buffer): unknown } })._parser;
    const parse = parser.parse.bind(parser);
    parser.parse = (buf: Buffer) => {
      const refusal = guard.scan(buf);
      if (refusal === undefined) return parse(buf);
      this.refusePacket(client, socket, refusal);
      return 0;
    };
  }

  private refusePacket(client: Client, socket: Socket, r: PacketRefusal): void {
    if (r.phase === 'before_connect') this.packetStats.refusedBeforeConnect++;
    else this.packetStats.refusedAfterConnect++;
    // What the header said and who sent it; never the bytes themselves (a CONNECT carries the password).
    this.log.warn({
      event: 'mqtt_packet_refused',
      code: r.code,
      phase: r.phase,
      packetType: r.packetType,
      ...(r.declaredBytes === undefined ? {} : { declaredBytes: r.declaredBytes }),
      limitBytes: r.limitBytes,
      ...(r.phase === 'after_connect' && client.id ? { clientId: client.id.slice(0, 80) } : {}),
      source: socket.remoteAddress,
    });
    socket.destroy();
  }

  /** The verifier has enrolled every device it knows: held CONNECTs are decided now, later ones at once. */
  devicesLoaded(): void {
    this.loaded = true;
    // Thousands may be waiting after a restart: decide them 200 at a time, each batch on its own turn of the event
    // loop (waking them all in one go let aedes' synchronous packet handling overflow the stack at 10,000 clients).
    const waiting = [...this.loadWaiters];
    this.loadWaiters.clear();
    const next = (from: number) => {
      for (const wake of waiting.slice(from, from + 200)) wake();
      if (from + 200 < waiting.length) setImmediate(next, from + 200);
    };
    next(0);
  }

  private authenticate(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ) {
    const hold = this.options.holdUnknownUntilLoadedMs ?? 0;
    if (!this.loaded && hold > 0 && !this.devices.has(client.id)) {
      let timer: NodeJS.Timeout | undefined;
      let decided = false;
      const wake = () => {
        if (decided) return; // the hold timer and the loaded batch may both call it
        decided = true;
        clearTimeout(timer);
        this.loadWaiters.delete(wake);
        this.decide(client, username, password, done);
      };
      timer = setTimeout(wake, hold);
      this.loadWaiters.add(wake);
      return;
    }
    this.decide(client, username, password, done);
  }

  private decide(
    client: Client,
    username: string | undefined,
    password: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ) {
    const entry = this.devices.get(client.id);
    // Always run the comparison (against a dummy when the device is unknown), so the answer time does not say which.
    const ok = brokerPasswordsEqual(entry?.password ?? 'x'.repeat(43), password) && entry !== undefined;
    if (!ok || username !== client.id) {
      this.log.warn({ event: 'connect_refused', clientId: client.id.slice(0, 80), known: entry !== undefined });
      return done(authError('bad username or password'), false);
    }
    releaseConnectBuffers(client, password);
    // A new connection of the device, with nothing granted: a reconnect or a takeover starts over.
    const connection: ConnectionEntry = {
      connection: Object.freeze({ deviceId: client.id, id: this.nextConnectionId++ }),
      grantExpiresAt: 0,
    };
    this.connections.set(client, connection);
    this.latest.set(client.id, connection);
    this.guards.get(client)?.connected();
    done(null, true);
  }

  async stop(): Promise<void> {
    for (const wake of [...this.loadWaiters]) wake();
    this.loaded = false;
    const broker = this.broker;
    const server = this.server;
    this.broker = undefined;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (broker) await new Promise<void>((resolve) => broker.close(() => resolve()));
    this.clients.clear();
    this.latest.clear();
  }

  async enrol(credentials: DeviceBrokerCredentials): Promise<void> {
    const existing = this.devices.get(credentials.deviceId);
    if (existing) existing.password = credentials.password;
    else this.devices.set(credentials.deviceId, { password: credentials.password });
  }

  async grant(grant: DeviceSessionGrant): Promise<boolean> {
    if (!this.devices.has(grant.deviceId))
      throw new TesseraError('ERR_DEVICE_UNKNOWN', 'the device is not enrolled on the broker', {
        details: { deviceId: grant.deviceId },
      });
    const entry = this.latest.get(grant.deviceId);
    if (!entry || entry.connection.id !== grant.connection.id || grant.connection.deviceId !== grant.deviceId) {
      this.log.info({ event: 'grant_connection_gone', deviceId: grant.deviceId, connection: grant.connection.id });
      return false;
    }
    entry.granted = permissionTemplate(grant.deviceId, grant.permissions);
    entry.grantExpiresAt = grant.expiresAt;
    return true;
  }

  async revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void> {
    // Forget the device first, so a reconnect racing with the close is refused by authenticate.
    this.devices.delete(deviceId);
    this.latest.delete(deviceId);
    const client = this.clients.get(deviceId);
    this.clients.delete(deviceId);
    if (client) await new Promise<void>((resolve) => client.close(() => resolve()));
    this.log.info({ event: 'device_revoked', deviceId, permanent: options.permanent, reason: options.reason });
  }

  async subscribe(filter: string, handler: InboundHandler): Promise<void> {
    const broker = this.requireBroker();
    await new Promise<void>((resolve) =>
      broker.subscribe(
        filter,
        (packet: AedesPublishPacket, cb: () => void) => {
          // aedes hands in-process subscribers the publishing client's id on the packet (undefined for our own), and
          // the payload buffer authorizePublish saw, which names the very connection that sent it.
          const clientId = (packet as AedesPublishPacket & { clientId?: string }).clientId;
          const publisher = Buffer.isBuffer(packet.payload) ? this.publishers.get(packet.payload) : undefined;
          const source = publisher ? ((publisher.conn as Socket).remoteAddress ?? undefined) : undefined;
          const connection = publisher ? this.connections.get(publisher)?.connection : undefined;
          try {
            handler(packet.topic, Buffer.from(packet.payload as Buffer), clientId, source, connection);
          } catch (e) {
            this.log.error({ error: (e as Error).message, topic: packet.topic }, 'inbound handler threw');
          }
          // Release aedes on a fresh stack: called synchronously, aedes reads the client's next packet inside this
          // call, and a client with many packets buffered (a reconnect storm) recursed until the stack overflowed.
          queueMicrotask(cb);
        },
        () => resolve(),
      ),
    );
  }

  async publish(topic: string, payload: string | Buffer): Promise<void> {
    const broker = this.requireBroker();
    checkOutboundSize(topic, payload);
    await new Promise<void>((resolve, reject) =>
      broker.publish(
        {
          cmd: 'publish',
          topic,
          payload: typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload,
          qos: 1,
          retain: false,
          dup: false,
        },
        (e) => (e ? reject(e) : resolve()),
      ),
    );
  }

  private requireBroker(): Aedes {
    if (!this.broker) throw new Error('the aedes broker is not started');
    return this.broker;
  }
}
