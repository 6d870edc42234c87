import { randomBytes } from 'node:crypto';
import { TesseraError } from '@tessera/protocol';
import mqtt, { type MqttClient } from 'mqtt';

/**
 * A typed client for Mosquitto's dynamic-security control API (Mosquitto 2.0 `mosquitto_dynamic_security.so`):
 * commands are JSON published to `$CONTROL/dynamic-security/v1`, answers arrive on
 * `$CONTROL/dynamic-security/v1/response`. Every command carries a random `correlationData` that the plugin echoes,
 * so several admin connections (verifier replicas) can share the broker: each one only picks up its own answers.
 *
 * All commands of one `execute` call travel in one PUBLISH and the plugin applies them in order inside one broker
 * callback, so no client traffic is processed between them (used to replace a role's ACLs and disable a client
 * as one step).
 *
 * @example
 * const dynsec = await DynsecClient.connect({ url: 'mqtt://127.0.0.1:1884', username: 'admin', password });
 * await dynsec.createClient({ username: 'dev1', password: 'pw', clientid: 'dev1' });
 * await dynsec.disableClient('dev1'); // drops the live session of dev1 at once
 */

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
/** How long a command may take before it fails with ERR_BROKER_CONTROL_TIMEOUT. */
export const DYNSEC_DEFAULT_TIMEOUT_MS = 5_000;

export type DynsecAclType =
  | 'publishClientSend'
  | 'publishClientReceive'
  | 'subscribeLiteral'
  | 'subscribePattern'
  | 'unsubscribeLiteral'
  | 'unsubscribePattern';

export interface DynsecAcl {
  acltype: DynsecAclType;
  topic: string;
  allow: boolean;
  priority?: number;
}

/** The four broker-wide defaults used when no role ACL matches. */
export type DynsecDefaultAclType = 'publishClientSend' | 'publishClientReceive' | 'subscribe' | 'unsubscribe';

export interface DynsecRoleRef {
  rolename: string;
  priority?: number;
}

export interface DynsecClientInfo {
  username: string;
  clientid?: string;
  textname?: string;
  textdescription?: string;
  /** Present and true when the client is disabled. */
  disabled?: boolean;
  roles: DynsecRoleRef[];
  groups: { groupname: string; priority?: number }[];
}

export interface DynsecRoleInfo {
  rolename: string;
  textname?: string;
  textdescription?: string;
  acls: DynsecAcl[];
}

/** One command as the plugin expects it; `correlationData` is added by the client. */
export type DynsecCommand = { command: string } & Record<string, unknown>;

/** One answer: `error` is the plugin's message ("Client not found", "Role already exists", …) when it failed. */
export interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
}

export interface DynsecConnectOptions {
  /** mqtt:// URL of the broker. */
  url: string;
  username: string;
  password: string;
  /** Default: a random `tessera-dynsec-…` id, so replicas never take over each other's connection. */
  clientId?: string;
  /** Per-command timeout; default DYNSEC_DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
  /** How long to wait for CONNACK; default 5 s. */
  connectTimeoutMs?: number;
}

interface Pending {
  command: string;
  resolve: (r: DynsecResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class DynsecClient {
  private readonly pending = new Map<string, Pending>();
  private closed = false;
  /** The last connection error (the client keeps reconnecting), for diagnostics. */
  lastError: Error | undefined;

  private constructor(
    private readonly mqttClient: MqttClient,
    private readonly timeoutMs: number,
  ) {
    noDelay(mqttClient);
    mqttClient.on('connect', () => noDelay(mqttClient));
    // mqtt.js emits socket errors (ECONNREFUSED while the broker restarts) as 'error': without a listener they would
    // crash the process. It keeps reconnecting; commands meanwhile fail or time out.
    mqttClient.on('error', (e) => {
      this.lastError = e;
    });
    mqttClient.on('message', (topic, payload) => {
      if (topic === DYNSEC_RESPONSE_TOPIC) this.onResponse(payload);
    });
    mqttClient.on('close', () => {
      // Commands in flight are lost with the connection: the plugin answers on the old session only.
      this.failAll(new TesseraError('ERR_BROKER_UNREACHABLE', 'the connection to the broker closed'));
    });
  }

  /** Connect as a dynsec admin and subscribe to the response topic; fails with ERR_BROKER_UNREACHABLE. */
  static async connect(options: DynsecConnectOptions): Promise<DynsecClient> {
    let client: MqttClient;
    try {
      client = await mqtt.connectAsync(
        options.url,
        {
          protocolVersion: 5,
          username: options.username,
          password: options.password,
          clientId: options.clientId ?? `tessera-dynsec-${randomBytes(8).toString('hex')}`,
          clean: true,
          connectTimeout: options.connectTimeoutMs ?? 5_000,
          reconnectPeriod: 1_000,
        },
        false,
      );
    } catch (cause) {
      throw new TesseraError('ERR_BROKER_UNREACHABLE', `cannot connect to ${options.url} as dynsec admin`, { cause });
    }
    try {
      const granted = await client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 0 });
      if (granted.some((g) => g.qos > 2)) throw new Error(`SUBACK ${granted.map((g) => g.qos).join(',')}`);
    } catch (cause) {
      await client.endAsync(true);
      throw new TesseraError('ERR_BROKER_CONTROL_FAILED', `${options.username} may not use the dynsec API`, { cause });
    }
    return new DynsecClient(client, options.timeoutMs ?? DYNSEC_DEFAULT_TIMEOUT_MS);
  }

  /**
   * Send commands in one message and return one answer per command, in order. A command the plugin refuses is
   * returned with its `error` (this does not throw); a missing answer throws ERR_BROKER_CONTROL_TIMEOUT, a lost
   * connection ERR_BROKER_UNREACHABLE.
   */
  async execute(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    if (this.closed) throw new TesseraError('ERR_BROKER_UNREACHABLE', 'the dynsec client is closed');
    if (commands.length === 0) return [];
    const tagged = commands.map((c) => ({ ...c, correlationData: randomBytes(12).toString('hex') }));
    const answers = tagged.map(
      (c) =>
        new Promise<DynsecResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.pending.delete(c.correlationData);
            reject(
              new TesseraError(
                'ERR_BROKER_CONTROL_TIMEOUT',
                `no answer to dynsec ${c.command} in ${this.timeoutMs} ms`,
                {
                  details: { command: c.command },
                },
              ),
            );
          }, this.timeoutMs);
          this.pending.set(c.correlationData, { command: c.command, resolve, reject, timer });
        }),
    );
    // Keep a timeout from becoming an unhandled rejection while an earlier answer is awaited.
    for (const a of answers) a.catch(() => {});
    this.send(tagged);
    return Promise.all(answers);
  }

  private send(tagged: (DynsecCommand & { correlationData: string })[]): void {
    // QoS 0: a PUBACK followed at once by the answer would be held back by Nagle's algorithm on a broker without
    // `set_tcp_nodelay` (Mosquitto's default), about 40 ms per command. A command lost with the connection fails with
    // ERR_BROKER_UNREACHABLE (or times out); every command the adapter sends is safe to repeat.
    this.mqttClient.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands: tagged }), { qos: 0 }).catch((cause) => {
      const e = new TesseraError('ERR_BROKER_UNREACHABLE', 'could not send a dynsec command', { cause });
      for (const c of tagged) this.settle(c.correlationData, e);
    });
  }

  /** Like `execute`, but throws ERR_BROKER_CONTROL_FAILED for the first refused command whose error is not in `tolerate`. */
  async batch(commands: readonly DynsecCommand[], tolerate: readonly string[] = []): Promise<DynsecResponse[]> {
    const responses = await this.execute(commands);
    const failed = responses.find((r) => r.error !== undefined && !tolerate.includes(r.error));
    if (failed) throw refused(failed);
    return responses;
  }

  /** One command; throws ERR_BROKER_CONTROL_FAILED when the plugin refuses it. */
  async run(command: DynsecCommand): Promise<unknown> {
    const [r] = await this.batch([command]);
    return r?.data;
  }

  // ---- clients

  createClient(c: {
    username: string;
    password?: string;
    /** Pin the MQTT client id: the broker then refuses this username with any other client id. */
    clientid?: string;
    textname?: string;
    textdescription?: string;
    roles?: DynsecRoleRef[];
  }): Promise<unknown> {
    return this.run({ command: 'createClient', ...c });
  }
  /** Delete a client; its live session is dropped at once. */
  deleteClient(username: string): Promise<unknown> {
    return this.run({ command: 'deleteClient', username });
  }
  enableClient(username: string): Promise<unknown> {
    return this.run({ command: 'enableClient', username });
  }
  /** Refuse the client at CONNECT from now on and drop its live session at once. */
  disableClient(username: string): Promise<unknown> {
    return this.run({ command: 'disableClient', username });
  }
  /** Note: Mosquitto 2.0 disconnects the client's live session when its password is set. */
  setClientPassword(username: string, password: string): Promise<unknown> {
    return this.run({ command: 'setClientPassword', username, password });
  }
  async getClient(username: string): Promise<DynsecClientInfo> {
    const data = (await this.run({ command: 'getClient', username })) as { client: DynsecClientInfo };
    return data.client;
  }
  async listClients(options: { count?: number; offset?: number } = {}): Promise<DynsecClientInfo[]> {
    const data = (await this.run({ command: 'listClients', verbose: true, ...options })) as {
      clients: DynsecClientInfo[];
    };
    return data.clients;
  }
  addClientRole(username: string, rolename: string, priority?: number): Promise<unknown> {
    return this.run({ command: 'addClientRole', username, rolename, ...(priority === undefined ? {} : { priority }) });
  }
  removeClientRole(username: string, rolename: string): Promise<unknown> {
    return this.run({ command: 'removeClientRole', username, rolename });
  }

  // ---- roles

  createRole(r: {
    rolename: string;
    textname?: string;
    textdescription?: string;
    acls?: DynsecAcl[];
  }): Promise<unknown> {
    return this.run({ command: 'createRole', ...r });
  }
  deleteRole(rolename: string): Promise<unknown> {
    return this.run({ command: 'deleteRole', rolename });
  }
  /** Replace a role's text fields and, when `acls` is given, its whole ACL list (applied to live sessions at once). */
  modifyRole(r: {
    rolename: string;
    textname?: string;
    textdescription?: string;
    acls?: DynsecAcl[];
  }): Promise<unknown> {
    return this.run({ command: 'modifyRole', ...r });
  }
  async getRole(rolename: string): Promise<DynsecRoleInfo> {
    const data = (await this.run({ command: 'getRole', rolename })) as { role: DynsecRoleInfo };
    return { ...data.role, acls: data.role.acls ?? [] };
  }
  addRoleACL(rolename: string, acl: DynsecAcl): Promise<unknown> {
    return this.run({ command: 'addRoleACL', rolename, ...acl });
  }
  removeRoleACL(rolename: string, acl: Pick<DynsecAcl, 'acltype' | 'topic'>): Promise<unknown> {
    return this.run({ command: 'removeRoleACL', rolename, acltype: acl.acltype, topic: acl.topic });
  }

  // ---- defaults

  setDefaultACLAccess(acls: { acltype: DynsecDefaultAclType; allow: boolean }[]): Promise<unknown> {
    return this.run({ command: 'setDefaultACLAccess', acls });
  }
  async getDefaultACLAccess(): Promise<Record<DynsecDefaultAclType, boolean>> {
    const data = (await this.run({ command: 'getDefaultACLAccess' })) as {
      acls: { acltype: DynsecDefaultAclType; allow: boolean }[];
    };
    return Object.fromEntries(data.acls.map((a) => [a.acltype, a.allow])) as Record<DynsecDefaultAclType, boolean>;
  }

  /** Is the admin connection up right now? */
  get connected(): boolean {
    return this.mqttClient.connected;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.failAll(new TesseraError('ERR_BROKER_UNREACHABLE', 'the dynsec client is closed'));
    await this.mqttClient.endAsync();
  }

  private onResponse(payload: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return; // not ours to judge; answers we wait for time out
    }
    const responses = (parsed as { responses?: unknown }).responses;
    if (!Array.isArray(responses)) return;
    for (const r of responses as (DynsecResponse & { correlationData?: unknown })[]) {
      if (typeof r?.correlationData !== 'string') continue;
      const { correlationData, ...answer } = r;
      this.settle(correlationData, answer);
    }
  }

  private settle(id: string, outcome: DynsecResponse | Error): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (outcome instanceof Error) p.reject(outcome);
    else p.resolve(outcome);
  }

  private failAll(e: Error): void {
    for (const id of [...this.pending.keys()]) this.settle(id, e);
  }
}

/**
 * Small request/answer exchanges suffer from Nagle's algorithm meeting delayed ACKs (about 40 ms per round trip on
 * Linux); the adapter's connections send each packet at once. (Mosquitto's own side: `set_tcp_nodelay true`.)
 */
export function noDelay(client: MqttClient): void {
  const stream = client.stream as { setNoDelay?: (on: boolean) => void } | undefined;
  stream?.setNoDelay?.(true);
}

/** The plugin's error strings this code relies on (Mosquitto 2.0.11). */
export const DYNSEC_ERRORS = {
  clientNotFound: 'Client not found',
  clientExists: 'Client already exists',
  roleNotFound: 'Role not found',
  /** modifyRole's wording for a missing role. */
  roleDoesNotExist: 'Role does not exist',
  roleExists: 'Role already exists',
} as const;

function refused(r: DynsecResponse): TesseraError {
  return new TesseraError('ERR_BROKER_CONTROL_FAILED', `dynsec ${r.command} refused: ${r.error}`, {
    details: { command: r.command, error: r.error },
  });
}

/** The broker's error string of a refused command (ERR_BROKER_CONTROL_FAILED), if `e` is one. */
export function dynsecErrorOf(e: unknown): string | undefined {
  if (!(e instanceof TesseraError) || e.code !== 'ERR_BROKER_CONTROL_FAILED') return undefined;
  const d = e.details as { error?: unknown } | undefined;
  return typeof d?.error === 'string' ? d.error : undefined;
}
