import { createServer, type Server, type Socket } from 'node:net';
import {
  brokerPasswordsEqual,
  handshakeTopicPermissions,
  type Logger,
  type PermissionTemplate,
  permissionTemplate,
  silentLogger,
  type TopicPermissions,
  templateAllows,
  templateFilters,
} from '@tessera/protocol';
import { Aedes, type AedesPublishPacket, type AuthenticateError, type Client } from 'aedes';
import mqttPacket from 'mqtt-packet';
import type { BrokerAdapter, DeviceBrokerCredentials, DeviceSessionGrant, InboundHandler } from './adapter.js';

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
}

/** What the broker keeps per enrolled device: its password and, after a handshake, its grant (shared template). */
interface DeviceEntry {
  password: string;
  granted?: PermissionTemplate;
  grantExpiresAt: number;
}

// Before a handshake (or after its grant expired) a device may only speak its own handshake: one template for all.
const HANDSHAKE_ONLY = permissionTemplate(`0x${'0'.repeat(64)}`, handshakeTopicPermissions(`0x${'0'.repeat(64)}`));
const NOTHING: PermissionTemplate = Object.freeze({ publish: [], subscribe: [] });

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
 * - authorizePublish / authorizeSubscribe: against the device's current permissions: its handshake topics until a
 *   grant, the granted topics until `expiresAt`, handshake topics again after it. A refused PUBLISH closes the
 *   connection (MQTT 3.1.1 has no negative PUBACK); a refused SUBSCRIBE gets return code 0x80 (§3.9.3).
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

  /** The permissions a device has at this moment (handshake-only without a live grant; none if not enrolled). */
  permissionsOf(deviceId: string): TopicPermissions {
    const t = this.templateOf(deviceId);
    return { publish: templateFilters(t.publish, deviceId), subscribe: templateFilters(t.subscribe, deviceId) };
  }

  private templateOf(deviceId: string): PermissionTemplate {
    const entry = this.devices.get(deviceId);
    if (!entry) return NOTHING;
    if (entry.granted && entry.grantExpiresAt > this.now()) return entry.granted;
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
      authenticate: (client, username, password, done) => this.authenticate(client, username, password, done),
      authorizePublish: (client, packet, done) => {
        if (!client) return done(null); // the verifier's own in-process publish
        if (templateAllows(this.templateOf(client.id).publish, client.id, packet.topic)) {
          // Stamp who published it (aedes copies `clientId` onto the delivered packet); never trust a wire value.
          const stamped = packet as typeof packet & { clientId?: string };
          stamped.clientId = client.id;
          return done(null);
        }
        this.log.warn({ event: 'publish_refused', clientId: client.id, topic: packet.topic.slice(0, 200) });
        done(new Error('ERR_TOPIC_FORBIDDEN'));
      },
      authorizeSubscribe: (client, sub, done) => {
        const allowed = this.templateOf(client.id).subscribe;
        // A concrete topic any permitted filter matches, or exactly one of the permitted filters (wildcards included).
        if (templateAllows(allowed, client.id, sub.topic) || templateFilters(allowed, client.id).includes(sub.topic))
          return done(null, sub);
        this.log.warn({ event: 'subscribe_refused', clientId: client.id, topic: sub.topic.slice(0, 200) });
        done(null, null); // SUBACK 0x80 (MQTT 3.1.1 §3.9.3)
      },
      // A grant that expires or is revoked while a subscription exists must not keep delivering: check on forward.
      authorizeForward: (client, packet) =>
        templateAllows(this.templateOf(client.id).subscribe, client.id, packet.topic) ? packet : null,
    });
    broker.on('client', (client) => {
      const previous = this.clients.get(client.id);
      if (previous && previous !== client) previous.close();
      this.clients.set(client.id, client);
    });
    broker.on('clientDisconnect', (client) => {
      if (this.clients.get(client.id) === client) this.clients.delete(client.id);
    });
    broker.on('clientError', (client, error) => this.log.debug({ clientId: client.id, error: error.message }));
    this.broker = broker;
    // Small request/response messages: Nagle + delayed ACK would add ~40 ms per round trip (RFC 896, RFC 1122 §4.2.3.2).
    const server = createServer({ noDelay: true }, (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
      broker.handle(socket);
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

  /** The remote address of a connected device (per-source rate limits). */
  private sourceOf(clientId: string): string | undefined {
    const c = this.clients.get(clientId);
    return c ? ((c.conn as Socket).remoteAddress ?? undefined) : undefined;
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
  }

  async enrol(credentials: DeviceBrokerCredentials): Promise<void> {
    const existing = this.devices.get(credentials.deviceId);
    if (existing) existing.password = credentials.password;
    else this.devices.set(credentials.deviceId, { password: credentials.password, grantExpiresAt: 0 });
  }

  async grant(grant: DeviceSessionGrant): Promise<void> {
    const entry = this.devices.get(grant.deviceId);
    if (!entry) throw new Error(`device ${grant.deviceId} is not enrolled`);
    entry.granted = permissionTemplate(grant.deviceId, grant.permissions);
    entry.grantExpiresAt = grant.expiresAt;
  }

  async revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void> {
    // Forget the device first, so a reconnect racing with the close is refused by authenticate.
    this.devices.delete(deviceId);
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
          // aedes hands in-process subscribers the publishing client's id on the packet (undefined for our own).
          const clientId = (packet as AedesPublishPacket & { clientId?: string }).clientId;
          const source = clientId ? this.sourceOf(clientId) : undefined;
          try {
            handler(packet.topic, Buffer.from(packet.payload as Buffer), clientId, source);
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
