import { createHash, randomBytes } from 'node:crypto';
import {
  DEVICE_ID_PATTERN,
  deviceIdFromTopic,
  handshakeTopicPermissions,
  type Logger,
  MQTT_MAX_PACKET_BYTES,
  silentLogger,
  TesseraError,
  TOPIC_ROOT,
  type TopicPermissions,
  topicMatches,
} from '@tessera/protocol';
import mqtt, { type IClientPublishOptions, type MqttClient } from 'mqtt';
import type {
  BrokerAdapter,
  BrokerConnection,
  BrokerPacketStats,
  DeviceBrokerCredentials,
  DeviceSessionGrant,
  GrantOutcome,
  InboundHandler,
} from './adapter.js';
import { checkOutboundSize } from './packet-guard.js';
import {
  type DynsecAcl,
  DynsecClient,
  type DynsecCommand,
  DYNSEC_ERRORS,
  type DynsecResponse,
  noDelay,
} from './dynsec.js';

/**
 * The Mosquitto 2 broker adapter: devices connect to an external Mosquitto with the
 * dynamic-security plugin, and this adapter manages them through `$CONTROL/dynamic-security/v1`.
 *
 * - Deny by default: at start the broker-wide default ACL access is set to deny publish, subscribe and delivery
 *   (unsubscribe stays allowed: it can only remove what was granted).
 * - Two dynsec clients per device, both with the client id pinned to the device id: its own login (username = device
 *   id, password = the derived broker password, role `tessera-device-<id>`: the handshake topics, never more) and its
 *   session login (`<id>.session`, roles `tessera-session-<id>` and the device's own), which holds the grant: the
 *   session role holds what the grant adds to the handshake topics, and nothing between grants. Roles have literal
 *   topics (Mosquitto 2.0.11 does not substitute %u/%c in ACL topics); a role change applies to live sessions at once.
 * - `grant` after a handshake on the device's own login sets the session role to the granted permissions and the
 *   session login's password to the session password (derived from K and the session id: only the device and the
 *   verifier can make it) and resolves `{ login }`: the device reconnects with it. A refresh on the session login's
 *   connection extends the role. At expiry the session role goes back to the handshake topics.
 * - Per connection. Dynsec permissions belong to a username, and Mosquitto handles what a client pipelines behind its
 *   CONNECT before anyone hears of it; since the device's own login never holds a grant, a takeover with the broker
 *   password gets nothing, not even for one packet. The adapter follows the broker's connection notices
 *   (`$SYS/broker/log/N` and `/E`, on the same MQTT connection as the handshake messages, so they arrive in order):
 *   when the device's own login connects, the session role is narrowed and the session login gets a password nobody
 *   knows; a grant applies only if the connection that answered the handshake is still the device's current one. `start` checks that the broker publishes these notices and enforces
 *   `max_packet_size` (ERR_BROKER_CONFIG otherwise). (Why not lock the device's own login while granted: every dynsec
 *   change to a client drops its live connections; docs/mosquitto.md, "Session logins".)
 * - `revoke`: `disableClient` of both logins (suspend; the broker drops the live session within milliseconds and
 *   refuses CONNECT) or `deleteClient` + `deleteRole` of both (permanent). `enrol` after a suspension re-enables them.
 * - The verifier's own traffic goes through a privileged dynsec client (role `tessera-verifier`) over MQTT 5.
 *
 * @example
 * const adapter = new MosquittoBrokerAdapter({ url: 'mqtt://broker:1883', admin: { username: 'admin', password } });
 * await adapter.start();
 * await adapter.enrol({ deviceId, password: brokerPassword });
 */

export interface MosquittoAdapterOptions {
  /** mqtt:// URL devices connect to; the adapter's own connections use it too. */
  url: string;
  /** A dynsec admin (created with `mosquitto_ctrl dynsec init`). */
  admin: { username: string; password: string };
  /**
   * The verifier's own MQTT login. Default: a fresh client `tessera-verifier-<random>` with a random password,
   * created at start and deleted at stop (so replicas never share or reset each other's password).
   */
  verifier?: { username: string; password: string };
  /** What the verifier's client may do; default VERIFIER_TOPIC_PERMISSIONS. */
  verifierPermissions?: TopicPermissions;
  /** Per dynsec command; default 5 s. */
  controlTimeoutMs?: number;
  /**
   * A grant this adapter did not make is narrowed on a connection notice only if it is older than the notice by this
   * much (default FOREIGN_GRANT_MIN_AGE_MS; see there).
   */
  foreignGrantMinAgeMs?: number;
  /**
   * Replicas on one broker: subscriptions are made as MQTT 5 shared subscriptions of this group
   * (`$share/<group>/<filter>`), so that each inbound message (a hello, a response, a reading) goes to one replica of
   * the group instead of to all of them. Without it every replica answers every hello with its own challenge, and a
   * device receiving several challenges fails its handshakes. The connection notices stay subscribed by every replica.
   */
  shareGroup?: string;
  log?: Logger;
}

const DEVICES = `${TOPIC_ROOT}/devices`;

/**
 * The verifier observes the whole device tree (hello and response above all) and publishes what the verifier sends
 * to devices: handshake challenges and results, session notices, commands.
 */
export const VERIFIER_TOPIC_PERMISSIONS: TopicPermissions = {
  publish: [
    `${DEVICES}/+/handshake/challenge`,
    `${DEVICES}/+/handshake/result`,
    `${DEVICES}/+/session`,
    `${DEVICES}/+/commands/#`,
  ],
  subscribe: [`${DEVICES}/#`],
};

export const VERIFIER_ROLE = 'tessera-verifier';
/** Where Mosquitto publishes its notice and error log lines (`log_dest topic`): connects, takeovers, disconnects. */
export const CONNECTION_NOTICE_TOPICS = ['$SYS/broker/log/N', '$SYS/broker/log/E'] as const;
/** The subscription identifier of the notices (MQTT 5 §3.8.2.1.2: 1 to 268,435,455); handler subscriptions count up. */
const NOTICE_SUBSCRIPTION_ID = 268_435_455;
/**
 * The QoS of every subscription of the verifier's connection: the connection notices and the device topics alike.
 * The session is clean, so QoS 1 would redeliver nothing after a reconnect; all it would add is a PUBACK per message
 * (a packet each way per connection event, handshake message and reading) and Mosquitto's inflight window
 * (`max_inflight_messages`, 20), behind which QoS 1 messages queue while QoS 0 ones do not. At QoS 0 on every
 * subscription, Mosquitto writes everything for the verifier in the order it queued it (src/database.c,
 * `db__message_insert`): each notice about a device comes before the messages of the connection it announces. Under
 * overload both lose messages: QoS 0 once `max_queued_messages` packets wait unsent on the connection, QoS 1 once that
 * many wait behind the window.
 */
const INBOUND_QOS = 0;
/**
 * A grant another replica made (or this one before a restart) is narrowed on a connection notice only if it is older
 * than the notice by this much: a replica that hears of a connection late must not undo the grant of that very
 * connection's handshake, made by a faster replica (clocks of replicas are assumed within this bound).
 */
const FOREIGN_GRANT_MIN_AGE_MS = 1_000;

/** What one broker notice says about a device's connection, parsed from Mosquitto 2.0's log lines (src/loop.c). */
export type ConnectionNotice =
  | { kind: 'connected'; clientId: string; username?: string }
  | { kind: 'taken-over' | 'disconnected'; clientId: string }
  | { kind: 'oversize'; clientId: string | undefined };

// A line may start with a timestamp (`log_timestamp`); client ids come from the wire, so match whole lines.
const NOTICE_PATTERNS: [RegExp, ConnectionNotice['kind']][] = [
  [/^(?:.*?: )?New client connected from \S+ as (.+) \(p\d+, c\d, k\d+(?:, u'(.*)')?\)\.$/s, 'connected'],
  [/^(?:.*?: )?Client (.+) already connected, closing old connection\.$/s, 'taken-over'],
  [/^(?:.*?: )?Client (.+) disconnected due to oversize packet\.$/s, 'oversize'],
  [
    /^(?:.*?: )?(?:Client (.+) (?:closed its connection|disconnected|has exceeded timeout, disconnecting|been disconnected by administrative action|disconnected due to .*|disconnected: .*)|Bad socket read\/write on client (.+): .*)$/s,
    'disconnected',
  ],
];

/** Parse one notice line; undefined for lines that are not about a client connection. */
export function parseConnectionNotice(line: string): ConnectionNotice | undefined {
  for (const [re, kind] of NOTICE_PATTERNS) {
    const m = re.exec(line);
    if (!m) continue;
    const id = m[1] ?? m[2] ?? '';
    if (kind === 'oversize') return { kind, clientId: id === '<unknown>' ? undefined : id };
    if (id === '<unknown>') return undefined;
    if (kind === 'connected')
      return m[2] === undefined ? { kind, clientId: m[1]! } : { kind, clientId: m[1]!, username: m[2] };
    return { kind, clientId: id };
  }
  return undefined;
}

/** The dynsec role of one device's own login: its handshake topics, never more. */
export const deviceRoleName = (deviceId: string) => `tessera-device-${deviceId}`;
/**
 * The session login of a device: a second dynsec client, client id pinned to the device id, whose password is the
 * session password of the device's latest handshake (`deriveSessionPassword(K, sessionId)`), and whose role holds the
 * grant. The device's own login (the broker password) never gets more than the handshake topics, so a takeover with
 * the broker password has nothing to inherit, not even for the packets it pipelines behind its CONNECT.
 */
export const sessionLoginOf = (deviceId: string) => `${deviceId}.session`;
/**
 * The role of a device's session login: what the grant adds to the handshake topics (the login has the device's own
 * role too, so it can refresh), and no topic at all when no grant is live.
 */
export const sessionRoleName = (deviceId: string) => `tessera-session-${deviceId}`;

/**
 * ACLs for a set of permissions. Publish filters become `publishClientSend`; subscribe filters become
 * `subscribePattern` (the filter itself and narrower filters inside it, e.g. one command under `commands/#`; the
 * plugin's check, `sub_acl_check`, takes a filter equal to the pattern, wildcards included, so a `subscribeLiteral`
 * beside it would only make the role, and the file the plugin rewrites after every change, larger) and
 * `publishClientReceive` (delivery is denied by default too, so narrowing a role also stops delivery on subscriptions
 * made before).
 */
export function aclsFor(permissions: TopicPermissions): DynsecAcl[] {
  const acls: DynsecAcl[] = [];
  const seen = new Set<string>();
  const add = (acltype: DynsecAcl['acltype'], topic: string) => {
    const key = `${acltype} ${topic}`;
    if (seen.has(key)) return;
    seen.add(key);
    acls.push({ acltype, topic, allow: true });
  };
  for (const t of permissions.publish) add('publishClientSend', checkFilter(t));
  for (const t of permissions.subscribe) {
    add('subscribePattern', checkFilter(t));
    add('publishClientReceive', t);
  }
  return acls;
}

/**
 * The device's own role: publish `hello` and `response`, subscribe to `challenge` and `result`, and one receive ACL,
 * `…/handshake/+`, for both. The role is never narrowed and the only subscriptions it allows are those two topics, so
 * the one wildcard delivers exactly what two literal receive ACLs would, and the file the plugin rewrites after every
 * change is one ACL shorter per device.
 */
export function ownRoleAcls(deviceId: string): DynsecAcl[] {
  const hs = handshakeTopicPermissions(deviceId);
  const receive = hs.subscribe[0]!.replace(/\/[^/]+$/, '/+');
  return [
    ...hs.publish.map((t): DynsecAcl => ({ acltype: 'publishClientSend', topic: checkFilter(t), allow: true })),
    ...hs.subscribe.map((t): DynsecAcl => ({ acltype: 'subscribePattern', topic: checkFilter(t), allow: true })),
    { acltype: 'publishClientReceive', topic: receive, allow: true },
  ];
}

// MQTT 3.1.1 §4.7.1: '#' only as the whole last level, '+' only as a whole level; '$' topics are the broker's.
/** A shared-subscription group name: one topic level without wildcards (MQTT 5 §4.8.2). */
function checkShareGroup(group: string): string {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(group))
    throw new TesseraError('ERR_VALIDATION', `'${group.slice(0, 80)}' is not a shared-subscription group name`);
  return group;
}

function checkFilter(filter: string): string {
  const levels = filter.split('/');
  const ok =
    filter.length > 0 &&
    !filter.startsWith('$') &&
    !filter.includes('\u0000') &&
    levels.every(
      (l, i) => (l === '#' && i === levels.length - 1) || l === '+' || (!l.includes('#') && !l.includes('+')),
    );
  if (!ok) throw new TesseraError('ERR_VALIDATION', `'${filter.slice(0, 80)}' is not a valid topic filter for a grant`);
  return filter;
}

/** What `b` adds to `a` (the device's own role holds the handshake topics; the session role the rest). */
const beyond = (a: TopicPermissions, b: TopicPermissions): TopicPermissions => ({
  publish: [...new Set(b.publish.filter((t) => !a.publish.includes(t)))],
  subscribe: [...new Set(b.subscribe.filter((t) => !a.subscribe.includes(t)))],
});
const digest = (s: string) => createHash('sha256').update(s).digest('hex');
/** A password nobody knows: a session login between sessions. */
const unknownPassword = () => randomBytes(32).toString('base64url');

/** The grant a getRole answer records in the role's description, if any. */
function recordedGrantOf(data: unknown): RecordedGrant | undefined {
  try {
    const text = (data as { role?: { textdescription?: string } } | undefined)?.role?.textdescription;
    const recorded = JSON.parse(text || '{}') as RecordedGrant;
    return typeof recorded.expiresAt === 'number' ? recorded : undefined;
  } catch {
    return undefined;
  }
}

function checkDeviceId(deviceId: string): void {
  if (!DEVICE_ID_PATTERN.test(deviceId))
    throw new TesseraError('ERR_VALIDATION', `'${deviceId.slice(0, 80)}' is not a device id`);
}

function handshakeStepOf(topic: string): string | undefined {
  const parts = topic.split('/');
  return parts.length === 6 && parts[4] === 'handshake' ? parts[5] : undefined;
}

interface Subscription {
  id: number;
  handlers: InboundHandler[];
}

/** What the role's description records about a grant (the only state replicas share). */
interface RecordedGrant {
  expiresAt?: number;
  grantedAt?: number;
}

export class MosquittoBrokerAdapter implements BrokerAdapter {
  readonly kind = 'mosquitto' as const;
  readonly url: string;

  private dynsec: DynsecClient | undefined;
  private client: MqttClient | undefined;
  private verifierLogin: { username: string; password: string; ephemeral: boolean } | undefined;
  private readonly subscriptions = new Map<string, Subscription>();
  private nextSubscriptionId = 1;
  private readonly expiryTimers = new Map<string, NodeJS.Timeout>();
  /** sha256 of the password this adapter last set per device (to notice a changed password without kicking). */
  private readonly passwords = new Map<string, string>();
  /** The last error of the verifier's MQTT connection (it keeps reconnecting), for diagnostics. */
  lastError: Error | undefined;
  readonly packetStats: BrokerPacketStats = { refusedBeforeConnect: 0, refusedAfterConnect: 0 };
  private readonly log: Logger;
  /** Per device: the id of its current connection as the notices tell it (0 = none seen since start). */
  private readonly connectionIds = new Map<string, number>();
  private lastConnectionId = 0;
  /** Devices whose last notice was a connect. */
  private readonly connected = new Set<string>();
  /** Per device, the login its latest connect notice named (absent: none seen, or forgotten). */
  private readonly currentLogin = new Map<string, 'device' | 'session'>();
  /** Grants this adapter made that may still be live, by device. */
  private readonly ownGrants = new Set<string>();
  /** Per device, the tail of its role changes: resets and grants apply in the order the notices and answers came. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly connectionWaiters = new Map<string, ((c: BrokerConnection) => void)[]>();
  private noticeWaiter: ((n: ConnectionNotice) => void) | undefined;
  private verifierConnects = 0;

  constructor(private readonly options: MosquittoAdapterOptions) {
    this.url = options.url;
    this.log = (options.log ?? silentLogger).child({ part: 'mosquitto' });
  }

  connectionOf(deviceId: string): BrokerConnection | undefined {
    return this.connected.has(deviceId) ? { deviceId, id: this.connectionIds.get(deviceId) ?? 0 } : undefined;
  }

  /**
   * Resolves with the device's next connection once the adapter has seen its notice and narrowed its role (for tests
   * and tools that grant outside a handshake; the handshake itself passes the connection with the response).
   */
  nextConnection(deviceId: string): Promise<BrokerConnection> {
    return new Promise((resolve) => {
      this.connectionWaiters.set(deviceId, [...(this.connectionWaiters.get(deviceId) ?? []), resolve]);
    });
  }

  async start(): Promise<void> {
    if (this.dynsec) return;
    const dynsec = await DynsecClient.connect({
      url: this.url,
      username: this.options.admin.username,
      password: this.options.admin.password,
      ...(this.options.controlTimeoutMs === undefined ? {} : { timeoutMs: this.options.controlTimeoutMs }),
    });
    try {
      await dynsec.setDefaultACLAccess([
        { acltype: 'publishClientSend', allow: false },
        { acltype: 'publishClientReceive', allow: false },
        { acltype: 'subscribe', allow: false },
        { acltype: 'unsubscribe', allow: true },
      ]);
      const verifierAcls = [
        ...aclsFor(this.options.verifierPermissions ?? VERIFIER_TOPIC_PERMISSIONS),
        // The broker's connection notices ($SYS topics are refused in grants; these two are read-only and ours).
        ...CONNECTION_NOTICE_TOPICS.flatMap((topic): DynsecAcl[] => [
          { acltype: 'subscribeLiteral', topic, allow: true },
          { acltype: 'publishClientReceive', topic, allow: true },
        ]),
        // Mosquitto checks a shared subscription's whole filter, `$share/<group>/…`, against the subscribe ACLs.
        ...(this.options.shareGroup
          ? (this.options.verifierPermissions ?? VERIFIER_TOPIC_PERMISSIONS).subscribe.map(
              (f): DynsecAcl => ({
                acltype: 'subscribePattern',
                topic: `$share/${checkShareGroup(this.options.shareGroup!)}/${checkFilter(f)}`,
                allow: true,
              }),
            )
          : []),
      ];
      await dynsec.batch(
        [
          { command: 'createRole', rolename: VERIFIER_ROLE, acls: verifierAcls },
          { command: 'modifyRole', rolename: VERIFIER_ROLE, acls: verifierAcls },
        ],
        [DYNSEC_ERRORS.roleExists],
      );
      const login = this.options.verifier
        ? { ...this.options.verifier, ephemeral: false }
        : {
            username: `tessera-verifier-${randomBytes(8).toString('hex')}`,
            password: randomBytes(24).toString('base64url'),
            ephemeral: true,
          };
      const [created] = await dynsec.batch(
        [
          {
            command: 'createClient',
            username: login.username,
            password: login.password,
            textname: 'Tessera verifier',
            roles: [{ rolename: VERIFIER_ROLE }],
          },
        ],
        [DYNSEC_ERRORS.clientExists],
      );
      if (created?.error) {
        // An operator-provisioned verifier login: make sure it holds the role, without resetting its password.
        const info = await dynsec.getClient(login.username);
        if (!info.roles.some((r) => r.rolename === VERIFIER_ROLE))
          await dynsec.addClientRole(login.username, VERIFIER_ROLE);
        if (info.disabled) await dynsec.enableClient(login.username);
      }
      this.verifierLogin = login;
      this.dynsec = dynsec;
      this.client = await this.connectVerifier(login);
      await this.checkBroker(login);
    } catch (e) {
      await this.client?.endAsync(true).catch(() => {});
      this.client = undefined;
      this.dynsec = undefined;
      await dynsec.close().catch(() => {});
      throw e;
    }
  }

  async stop(): Promise<void> {
    for (const t of this.expiryTimers.values()) clearTimeout(t);
    this.expiryTimers.clear();
    this.ownGrants.clear();
    this.connected.clear();
    this.currentLogin.clear();
    const client = this.client;
    const dynsec = this.dynsec;
    this.client = undefined;
    this.dynsec = undefined;
    this.subscriptions.clear();
    if (client) await client.endAsync().catch(() => {});
    if (dynsec) {
      if (this.verifierLogin?.ephemeral)
        await dynsec
          .batch([{ command: 'deleteClient', username: this.verifierLogin.username }], [DYNSEC_ERRORS.clientNotFound])
          .catch(() => {});
      await dynsec.close();
    }
  }

  /**
   * Create the device's client and role (handshake topics only), or re-enable it after a suspension (back to the
   * handshake topics, password set again). For a device that is enrolled and enabled nothing changes, so a live
   * session and its grant survive; a password different from the one this adapter set is applied (which makes
   * Mosquitto drop the session, as it should for changed credentials).
   */
  async enrol(credentials: DeviceBrokerCredentials): Promise<void> {
    const { deviceId, password } = credentials;
    checkDeviceId(deviceId);
    const dynsec = this.control('enrol');
    const role = deviceRoleName(deviceId);
    const handshakeAcls = ownRoleAcls(deviceId);
    // The plugin rewrites its whole file after every successful change, so send only the commands that change
    // something (a refused command, such as creating a role that exists, costs nothing).
    const ensureRole = async (reset: boolean) => {
      const [created] = await dynsec.batch(
        [{ command: 'createRole', rolename: role, acls: handshakeAcls }],
        [DYNSEC_ERRORS.roleExists],
      );
      if (created?.error && reset)
        await dynsec.batch([{ command: 'modifyRole', rolename: role, acls: handshakeAcls, textdescription: '' }]);
    };
    const [found, session, own] = await dynsec.execute([
      { command: 'getClient', username: deviceId },
      { command: 'getClient', username: sessionLoginOf(deviceId) },
      { command: 'getRole', rolename: role },
    ]);
    if (found?.error === DYNSEC_ERRORS.clientNotFound) {
      this.clearExpiry(deviceId);
      // A role left over from an interrupted permanent revoke is reset to the handshake topics.
      await ensureRole(true);
      await this.ensureSessionLogin(deviceId, true);
      await dynsec.batch(
        [
          {
            command: 'createClient',
            username: deviceId,
            clientid: deviceId,
            password,
            roles: [{ rolename: role }],
          },
        ],
        // A concurrent enrol (another replica, or this one twice) may have created it first: same outcome.
        [DYNSEC_ERRORS.clientExists],
      );
      this.passwords.set(deviceId, digest(password));
      return;
    }
    if (!found || found.error) throw refusedResponse(found);
    const info = (found.data as { client: { disabled?: boolean; clientid?: string; roles?: { rolename: string }[] } })
      .client;
    const hasRole = (info.roles ?? []).some((r) => r.rolename === role);
    // The device's own role holds the handshake topics only; a grant recorded there by an older version of this
    // adapter (before session logins) is taken back.
    if (hasRole && !own?.error && recordedGrantOf(own?.data) !== undefined)
      await dynsec.batch([{ command: 'modifyRole', rolename: role, acls: handshakeAcls, textdescription: '' }]);
    if (info.disabled) {
      // Resume: back to the handshake topics before the client may connect again.
      this.clearExpiry(deviceId);
      if (hasRole)
        await dynsec.batch([{ command: 'modifyRole', rolename: role, acls: handshakeAcls, textdescription: '' }]);
    }
    if (!hasRole) {
      await ensureRole(info.disabled === true);
      await dynsec.batch([{ command: 'addClientRole', username: deviceId, rolename: role }]);
    }
    const sessionInfo = (session?.data as { client?: { disabled?: boolean; roles?: { rolename: string }[] } })?.client;
    // A session login made by an earlier version of this adapter (its role held the handshake topics too) gets the
    // device's own role and starts over (adding a role drops its live connection; the device reconnects).
    const lacksOwnRole = sessionInfo !== undefined && !(sessionInfo.roles ?? []).some((r) => r.rolename === role);
    if (session?.error === DYNSEC_ERRORS.clientNotFound) await this.ensureSessionLogin(deviceId, true);
    else if (info.disabled || sessionInfo?.disabled || lacksOwnRole)
      await this.ensureSessionLogin(deviceId, true, lacksOwnRole);
    const commands: DynsecCommand[] = [];
    if (info.clientid !== deviceId) commands.push({ command: 'setClientId', username: deviceId, clientid: deviceId });
    const known = this.passwords.get(deviceId);
    if (info.disabled || (known !== undefined && known !== digest(password)))
      commands.push({ command: 'setClientPassword', username: deviceId, password });
    if (info.disabled) commands.push({ command: 'enableClient', username: deviceId });
    await dynsec.batch(commands);
    if (info.disabled || known !== undefined) this.passwords.set(deviceId, digest(password));
  }

  /**
   * Create the device's session login and its role where missing (no grant: the device's own role only; a password
   * nobody knows); `reset`: also put existing ones back so (no grant, password replaced, both roles, client enabled).
   * The device's own role must exist.
   */
  private async ensureSessionLogin(deviceId: string, reset: boolean, lacksOwnRole = false): Promise<void> {
    const dynsec = this.control('enrol');
    const rolename = sessionRoleName(deviceId);
    const username = sessionLoginOf(deviceId);
    const [role, client] = await dynsec.batch(
      [
        { command: 'createRole', rolename, acls: [] },
        {
          command: 'createClient',
          username,
          clientid: deviceId,
          password: unknownPassword(),
          roles: [{ rolename }, { rolename: deviceRoleName(deviceId) }],
        },
      ],
      [DYNSEC_ERRORS.roleExists, DYNSEC_ERRORS.clientExists],
    );
    if (!reset) return;
    const commands: DynsecCommand[] = [];
    if (role?.error) commands.push({ command: 'modifyRole', rolename, acls: [], textdescription: '' });
    if (client?.error)
      commands.push(
        { command: 'setClientPassword', username, password: unknownPassword() },
        { command: 'enableClient', username },
      );
    // An earlier version of this adapter gave the session login its session role only.
    if (client?.error && lacksOwnRole)
      commands.push({ command: 'addClientRole', username, rolename: deviceRoleName(deviceId) });
    await dynsec.batch(commands);
  }

  /**
   * The grant goes to the device's session login, never to its own: the session role gets what the granted
   * permissions add to the handshake topics (the session login has those through the device's own role, so it can
   * refresh) until `expiresAt`, and, when the handshake ran on the device's own
   * login, the session login gets the session password (`grant.sessionPassword`) and the device is told to reconnect
   * with it (`{ login }`). A refresh on the session login's connection only extends the role (`true`). Then the role
   * goes back to the handshake topics unless a later grant extended it; the expiry is kept in the role's description,
   * so a replica's timer never cuts short another replica's refresh.
   */
  async grant(grant: DeviceSessionGrant): Promise<GrantOutcome> {
    checkDeviceId(grant.deviceId);
    const dynsec = this.control('grant');
    const { deviceId } = grant;
    const acls = aclsFor(beyond(handshakeTopicPermissions(deviceId), grant.permissions));
    return this.inOrder(deviceId, async () => {
      // Checked in turn with the resets the notices queued: a connection event after the response wins.
      if (grant.connection.deviceId !== deviceId || grant.connection.id !== (this.connectionIds.get(deviceId) ?? 0)) {
        this.log.info({ event: 'grant_connection_gone', deviceId, connection: grant.connection.id });
        return false;
      }
      const onSession = this.currentLogin.get(deviceId) === 'session';
      if (!onSession && !grant.sessionPassword)
        throw new TesseraError('ERR_VALIDATION', 'a grant on Mosquitto needs the session password of the handshake');
      const recorded: RecordedGrant = { expiresAt: grant.expiresAt, grantedAt: Date.now() };
      const username = sessionLoginOf(deviceId);
      const commands: DynsecCommand[] = [
        {
          command: 'modifyRole',
          rolename: sessionRoleName(deviceId),
          acls,
          textdescription: JSON.stringify(recorded),
        },
        // Setting it drops nothing live: the session login has no connection while the device's own login has one
        // (both are pinned to the same client id).
        ...(onSession ? [] : [{ command: 'setClientPassword', username, password: grant.sessionPassword! }]),
      ];
      let rs = await dynsec.execute(commands);
      if (rs.some((r) => r.error === DYNSEC_ERRORS.roleDoesNotExist || r.error === DYNSEC_ERRORS.clientNotFound)) {
        // Enrolled by an older version of this adapter (no session login yet), or not enrolled at all.
        const [device] = await dynsec.execute([{ command: 'getClient', username: deviceId }]);
        if (device?.error === DYNSEC_ERRORS.clientNotFound)
          throw new TesseraError('ERR_DEVICE_UNKNOWN', 'the device is not enrolled on the broker', {
            details: { deviceId },
          });
        await this.ensureSessionLogin(deviceId, false);
        rs = await dynsec.execute(commands);
      }
      const failed = rs.find((r) => r.error !== undefined);
      if (failed) throw refusedResponse(failed);
      this.ownGrants.add(deviceId);
      this.scheduleExpiry(deviceId, grant.expiresAt);
      return onSession ? true : { login: username };
    });
  }

  async revoke(deviceId: string, options: { permanent: boolean; reason: string }): Promise<void> {
    checkDeviceId(deviceId);
    const dynsec = this.control('revoke');
    this.clearExpiry(deviceId);
    this.ownGrants.delete(deviceId);
    const role = deviceRoleName(deviceId);
    // Suspend is one command per login: the plugin rewrites its whole JSON file after every command, so each one costs
    // time proportional to the size of that file. The session role is narrowed on resume (`enrol`).
    // The session login first: it holds a granted device's live connection, and `disableClient` drops it before the
    // plugin rewrites its file (2.0.11 clients.c: kick, then save), so one revocation reaches the device at once. In a
    // message of its own, so that in a burst of revocations every session login's command is queued on the admin
    // connection before any second command: the last session drops after one rewrite per revocation, not two. Then
    // the device's own login (it holds at most the handshake topics).
    const [first, rest]: DynsecCommand[][] = options.permanent
      ? [
          [{ command: 'deleteClient', username: sessionLoginOf(deviceId) }],
          [
            { command: 'deleteClient', username: deviceId },
            { command: 'deleteRole', rolename: sessionRoleName(deviceId) },
            { command: 'deleteRole', rolename: role },
          ],
        ]
      : [
          [{ command: 'disableClient', username: sessionLoginOf(deviceId) }],
          [{ command: 'disableClient', username: deviceId }],
        ];
    const tolerate = [DYNSEC_ERRORS.clientNotFound, DYNSEC_ERRORS.roleNotFound, DYNSEC_ERRORS.roleDoesNotExist];
    await dynsec.batch(first!, tolerate);
    await dynsec.batch(rest!, tolerate);
    if (options.permanent) this.passwords.delete(deviceId);
  }

  /**
   * Receive what is published on `filter` (within the verifier's permissions; otherwise ERR_TOPIC_FORBIDDEN).
   * MQTT does not tell a subscriber who published; the handler gets the device id as `clientId` for handshake
   * hello and response messages, because the broker lets only the client pinned to that id publish there.
   */
  async subscribe(filter: string, handler: InboundHandler): Promise<void> {
    const client = this.mqtt('subscribe');
    const existing = this.subscriptions.get(filter);
    if (existing) {
      existing.handlers.push(handler);
      return;
    }
    const id = this.nextSubscriptionId++;
    const sub: Subscription = { id, handlers: [handler] };
    this.subscriptions.set(filter, sub);
    try {
      const group = this.options.shareGroup;
      const granted = await client.subscribeAsync(group ? `$share/${group}/${filter}` : filter, {
        qos: INBOUND_QOS,
        properties: { subscriptionIdentifier: id },
      });
      if (granted.some((g) => g.qos > 2)) throw Object.assign(new Error('refused'), { code: granted[0]?.qos });
    } catch (cause) {
      this.subscriptions.delete(filter);
      throw new TesseraError('ERR_TOPIC_FORBIDDEN', `the broker refused the verifier's subscription to ${filter}`, {
        cause,
      });
    }
  }

  async publish(topic: string, payload: string | Buffer): Promise<void> {
    const client = this.mqtt('publish');
    // Mosquitto would drop the verifier's own connection for a packet above max_packet_size.
    checkOutboundSize(topic, payload);
    const options: IClientPublishOptions = { qos: 1 };
    try {
      await client.publishAsync(topic, payload, options);
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      // MQTT 5 §3.4.2.1: PUBACK 0x87 Not authorized.
      if (code === 0x87)
        throw new TesseraError('ERR_TOPIC_FORBIDDEN', `the broker refused the verifier's publish to ${topic}`, {
          cause,
        });
      throw new TesseraError('ERR_BROKER_UNREACHABLE', `publish to ${topic} failed`, { cause });
    }
  }

  // ---- internals

  private control(operation: string): DynsecClient {
    if (!this.dynsec) throw new TesseraError('ERR_UNAVAILABLE', `${operation}: the Mosquitto adapter is not started`);
    return this.dynsec;
  }
  private mqtt(operation: string): MqttClient {
    if (!this.client) throw new TesseraError('ERR_UNAVAILABLE', `${operation}: the Mosquitto adapter is not started`);
    return this.client;
  }

  private async connectVerifier(login: { username: string; password: string }): Promise<MqttClient> {
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(
        this.url,
        {
          protocolVersion: 5,
          username: login.username,
          password: login.password,
          clientId: `${login.username}-${randomBytes(4).toString('hex')}`,
          clean: true,
          reconnectPeriod: 1_000,
          connectTimeout: 5_000,
        },
        false,
      );
    } catch (cause) {
      throw new TesseraError('ERR_BROKER_UNREACHABLE', `the verifier cannot connect to ${this.url}`, { cause });
    }
    noDelay(client);
    this.verifierConnects = 1;
    client.on('connect', () => {
      noDelay(client);
      // Back after a drop: notices sent meanwhile are lost, so no connection the adapter knew of is trusted any more.
      if (this.verifierConnects++ > 0) this.forgetConnections();
    });
    // Socket errors while the broker is away come as 'error' events; without a listener they would crash the
    // process. mqtt.js reconnects and resubscribes (with the same subscription identifiers).
    client.on('error', (e) => {
      this.lastError = e;
    });
    client.on('message', (topic, payload, packet) => {
      if (topic.startsWith('$SYS/broker/log/')) {
        this.onNotice(payload.toString('utf8'));
        return;
      }
      const ids = packet.properties?.subscriptionIdentifier;
      const idList = ids === undefined ? undefined : Array.isArray(ids) ? ids : [ids];
      const step = handshakeStepOf(topic);
      const clientId = step === 'hello' || step === 'response' ? deviceIdFromTopic(topic) : undefined;
      // The device's connection as of this message: its notices came before it on this same connection (INBOUND_QOS
      // both, one queue at the broker), so a connection event after the message cannot be mistaken for its sender.
      const connection = clientId ? { deviceId: clientId, id: this.connectionIds.get(clientId) ?? 0 } : undefined;
      for (const [filter, sub] of this.subscriptions) {
        const matches = idList ? idList.includes(sub.id) : topicMatches(filter, topic);
        if (!matches) continue;
        for (const h of sub.handlers) {
          try {
            h(topic, payload, clientId, undefined, connection);
          } catch {
            // A handler's fault must not stop delivery to the others; handlers normalise their own errors.
          }
        }
      }
    });
    try {
      const granted = await client.subscribeAsync(
        CONNECTION_NOTICE_TOPICS.map((t) => t),
        { qos: INBOUND_QOS, properties: { subscriptionIdentifier: NOTICE_SUBSCRIPTION_ID } },
      );
      if (granted.some((g) => g.qos > 2)) throw new Error(`SUBACK ${granted.map((g) => g.qos).join(',')}`);
    } catch (cause) {
      await client.endAsync(true).catch(() => {});
      throw new TesseraError('ERR_BROKER_CONFIG', 'the verifier may not subscribe to the broker notices', { cause });
    }
    return client;
  }

  /**
   * The broker must tell us of connections (else grants outlive them) and refuse packets above the protocol's limit
   * by their header. A probe connection (the verifier's login, its own client id) checks both: its connect must be
   * noticed, and a PUBLISH one byte over MQTT_MAX_PACKET_BYTES must cost it the connection, not earn a PUBACK.
   */
  private async checkBroker(login: { username: string; password: string }): Promise<void> {
    const probeId = `${login.username}-probe-${randomBytes(4).toString('hex')}`;
    const timeoutMs = this.options.controlTimeoutMs ?? 5_000;
    const noticed = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.noticeWaiter = (n) => {
        if (n.kind === 'connected' && n.clientId === probeId) {
          clearTimeout(timer);
          resolve(true);
        }
      };
    });
    let probe: MqttClient;
    try {
      probe = await mqtt.connectAsync(
        this.url,
        {
          protocolVersion: 4, // no CONNACK maximum packet size for the client to enforce on itself
          clientId: probeId,
          username: login.username,
          password: login.password,
          clean: true,
          reconnectPeriod: 0,
          connectTimeout: timeoutMs,
        },
        false,
      );
    } catch (cause) {
      this.noticeWaiter = undefined;
      throw new TesseraError('ERR_BROKER_UNREACHABLE', 'the broker probe could not connect', { cause });
    }
    probe.on('error', () => {});
    try {
      if (!(await noticed))
        throw new TesseraError(
          'ERR_BROKER_CONFIG',
          'Mosquitto does not publish connection notices: set `log_dest topic`, `log_type notice`, `log_type error` ' +
            '(and leave `connection_messages true`); without them a session grant would outlive its connection',
        );
      const closed = new Promise<'closed'>((resolve) => probe.once('close', () => resolve('closed')));
      const over = Buffer.alloc(MQTT_MAX_PACKET_BYTES);
      const acked = probe
        .publishAsync(`${TOPIC_ROOT}/probe`, over, { qos: 1 })
        .then(() => 'acked' as const)
        .catch(() => 'closed' as const);
      if ((await Promise.race([closed, acked])) === 'acked')
        throw new TesseraError(
          'ERR_BROKER_CONFIG',
          `Mosquitto accepted a ${MQTT_MAX_PACKET_BYTES + 8}-byte packet: set \`max_packet_size ${MQTT_MAX_PACKET_BYTES}\``,
        );
    } finally {
      this.noticeWaiter = undefined;
      probe.end(true);
    }
  }

  /** One notice line from the broker. */
  private onNotice(line: string): void {
    const n = parseConnectionNotice(line);
    if (!n) return;
    this.noticeWaiter?.(n);
    if (n.kind === 'oversize') {
      if (n.clientId === undefined) this.packetStats.refusedBeforeConnect++;
      else if (!n.clientId.startsWith(`${this.verifierLogin?.username}-probe-`)) this.packetStats.refusedAfterConnect++;
      this.log.warn({
        event: 'mqtt_packet_refused',
        code: 'ERR_MQTT_PACKET_TOO_LARGE',
        phase: n.clientId === undefined ? 'before_connect' : 'after_connect',
        limitBytes: MQTT_MAX_PACKET_BYTES,
        ...(n.clientId === undefined ? {} : { clientId: n.clientId.slice(0, 80) }),
      });
    }
    const deviceId = n.clientId;
    if (deviceId === undefined || !DEVICE_ID_PATTERN.test(deviceId)) return;
    const id = ++this.lastConnectionId;
    this.connectionIds.set(deviceId, id);
    if (n.kind !== 'connected') {
      // A message that came before this notice belongs to a connection that is gone; nothing else to do (see below).
      if (n.kind !== 'taken-over') this.connected.delete(deviceId);
      return;
    }
    this.connected.add(deviceId);
    // A session ends when the device's own login connects (the device starts over after losing its session's
    // connection, or someone holding the broker password took over its client id): "New client connected" is logged
    // only once a CONNECT has passed authentication. Disconnect lines are not used for this: Mosquitto logs them in
    // the same words for a refused CONNECT that merely names the device's client id, so acting on them would let
    // anyone end a device's session. The device's move from its own login to the session login ends nothing.
    const viaSession = n.username === sessionLoginOf(deviceId);
    this.currentLogin.set(deviceId, viaSession ? 'session' : 'device');
    const at = Date.now();
    void this.inOrder(deviceId, () => (viaSession ? Promise.resolve() : this.narrow(deviceId, at)))
      .catch((e: Error) =>
        this.log.error({ event: 'grant_reset_failed', deviceId, error: e.message }, 'could not narrow a device role'),
      )
      .finally(() => {
        if (this.connectionIds.get(deviceId) !== id) return;
        const waiters = this.connectionWaiters.get(deviceId);
        this.connectionWaiters.delete(deviceId);
        for (const w of waiters ?? []) w({ deviceId, id });
      });
  }

  /**
   * A session of the device ended: its session login's password is replaced by one nobody knows, so no one can log in
   * under the grant any more (every connection earns its own grant). One command: the session role keeps its topics,
   * out of anyone's reach, until its expiry timer narrows it or the next grant replaces them (each command rewrites
   * the plugin's file, and a device that starts over is granted again within milliseconds). Our own grants always; a
   * grant recorded by another replica (or by this one before a restart) when it is older than the event.
   */
  private async narrow(deviceId: string, at: number): Promise<void> {
    const dynsec = this.dynsec;
    if (!dynsec) return;
    const rolename = sessionRoleName(deviceId);
    if (!this.ownGrants.has(deviceId)) {
      const [r] = await dynsec.execute([{ command: 'getRole', rolename }]);
      if (!r || r.error) return; // no role: nothing granted
      const recorded = recordedGrantOf(r.data) ?? {};
      if (typeof recorded.expiresAt !== 'number' || recorded.expiresAt <= Date.now()) return;
      const minAge = this.options.foreignGrantMinAgeMs ?? FOREIGN_GRANT_MIN_AGE_MS;
      if (typeof recorded.grantedAt === 'number' && recorded.grantedAt > at - minAge) return;
    }
    this.ownGrants.delete(deviceId);
    await dynsec.batch(
      [{ command: 'setClientPassword', username: sessionLoginOf(deviceId), password: unknownPassword() }],
      [DYNSEC_ERRORS.clientNotFound],
    );
    this.log.info({ event: 'grant_narrowed', deviceId });
  }

  /** The verifier's connection dropped and came back: every connection it knew of gets a new id, own grants end. */
  private forgetConnections(): void {
    this.log.warn({ event: 'notices_interrupted' }, 'broker connection notices may have been missed; grants reset');
    const at = Date.now();
    const devices = new Set([...this.connectionIds.keys(), ...this.ownGrants]);
    this.currentLogin.clear();
    for (const deviceId of devices) {
      this.connectionIds.set(deviceId, ++this.lastConnectionId);
      this.connected.delete(deviceId);
      void this.inOrder(deviceId, () => this.narrow(deviceId, at)).catch(() => {});
    }
  }

  /** Run role changes of one device one after another, in call order. */
  private inOrder<T>(deviceId: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(deviceId) ?? Promise.resolve();
    const next = previous.then(fn, fn);
    const tail = next.catch(() => {});
    this.queues.set(deviceId, tail);
    void tail.then(() => {
      if (this.queues.get(deviceId) === tail) this.queues.delete(deviceId);
    });
    return next;
  }

  private scheduleExpiry(deviceId: string, expiresAt: number): void {
    this.clearExpiry(deviceId);
    // setTimeout holds at most 2^31-1 ms; a longer grant is re-checked then.
    const delay = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1);
    const timer = setTimeout(() => {
      this.expiryTimers.delete(deviceId);
      this.expire(deviceId).catch(() => {
        // The broker is unreachable: the next grant, enrol or revoke sets the role again.
      });
    }, delay);
    timer.unref();
    this.expiryTimers.set(deviceId, timer);
  }

  private clearExpiry(deviceId: string): void {
    const t = this.expiryTimers.get(deviceId);
    if (t) clearTimeout(t);
    this.expiryTimers.delete(deviceId);
  }

  /** Back to the handshake topics, unless the role's recorded expiry moved on (a refresh, maybe by a replica). */
  private async expire(deviceId: string): Promise<void> {
    const dynsec = this.dynsec;
    if (!dynsec) return;
    // In turn with grants and resets: a refresh that came in meanwhile is seen here.
    await this.inOrder(deviceId, async () => {
      const role = await dynsec.getRole(sessionRoleName(deviceId));
      let expiresAt: unknown;
      try {
        expiresAt = (JSON.parse(role.textdescription || '{}') as RecordedGrant).expiresAt;
      } catch {}
      if (typeof expiresAt === 'number' && expiresAt > Date.now()) {
        this.scheduleExpiry(deviceId, expiresAt);
        return;
      }
      this.ownGrants.delete(deviceId);
      if (typeof expiresAt !== 'number') return; // already narrowed
      await dynsec.modifyRole({ rolename: sessionRoleName(deviceId), acls: [], textdescription: '' });
    });
  }
}

function refusedResponse(r: DynsecResponse | undefined): TesseraError {
  return new TesseraError('ERR_BROKER_CONTROL_FAILED', `dynsec ${r?.command ?? 'command'} refused: ${r?.error}`, {
    details: { command: r?.command, error: r?.error },
  });
}
