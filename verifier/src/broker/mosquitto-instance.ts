import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { MQTT_MAX_PACKET_BYTES, TesseraError } from '@tessera/protocol';
import { MosquittoBrokerAdapter } from './mosquitto.js';

/**
 * Start and stop a dedicated Mosquitto 2 with the dynamic-security plugin, for tests and local operations: its own
 * temporary directory, config and dynsec JSON, a free port on 127.0.0.1, anonymous access off, no persistence,
 * `max_packet_size` at MQTT_MAX_PACKET_BYTES and connection notices published on `$SYS/broker/log` (what the adapter
 * checks at start).
 * It never touches a system instance.
 *
 * @example
 * const broker = await startMosquitto();
 * // broker.url = 'mqtt://127.0.0.1:40123', broker.admin = { username: 'tessera-admin', password: '…' }
 * await broker.stop();
 */

export interface MosquittoInstance {
  url: string;
  host: string;
  port: number;
  /** The dynsec admin created with `mosquitto_ctrl dynsec init`. */
  admin: { username: string; password: string };
  /** The temporary directory (config, dynsec JSON, log); removed by `stop`. */
  dir: string;
  pid: number;
  /** What the broker logged so far (for diagnosing a failed test). */
  log(): string;
  /** Stop the broker (SIGTERM, then SIGKILL after 3 s) and remove its directory. Idempotent. */
  stop(): Promise<void>;
}

export interface StartMosquittoOptions {
  /** Default: /usr/sbin/mosquitto when present, else `mosquitto` on PATH. */
  binary?: string;
  /** Default: `mosquitto_ctrl` next to the usual install locations. */
  ctrlBinary?: string;
  /** Default: the first dynamic-security plugin found in the usual Debian/Ubuntu/Alpine/local library paths. */
  pluginPath?: string;
  /** Default: a free port picked by the OS. */
  port?: number;
  adminUsername?: string;
  /** Default: 24 random bytes, base64url. */
  adminPassword?: string;
  /** How long to wait for the listener; default 10 s. */
  startTimeoutMs?: number;
  /**
   * Leave out what the adapter requires, to show that its start refuses such a broker (tests): the connection notices
   * on $SYS/broker/log, or max_packet_size.
   */
  omit?: { connectionNotices?: boolean; maxPacketSize?: boolean };
}

const PLUGIN_CANDIDATES = [
  '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so',
  '/usr/lib/mosquitto_dynamic_security.so',
  '/usr/local/lib/mosquitto_dynamic_security.so',
];
const firstExisting = (paths: string[]) => paths.find((p) => existsSync(p));

/** Is a dynsec-capable Mosquitto installed here? (Lets a caller explain a skip instead of failing obscurely.) */
export function mosquittoAvailable(): boolean {
  return (
    firstExisting(PLUGIN_CANDIDATES) !== undefined &&
    firstExisting(['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto', '/usr/bin/mosquitto']) !== undefined
  );
}

export async function startMosquitto(options: StartMosquittoOptions = {}): Promise<MosquittoInstance> {
  const binary = options.binary ?? firstExisting(['/usr/sbin/mosquitto', '/usr/local/sbin/mosquitto']) ?? 'mosquitto';
  const ctrl =
    options.ctrlBinary ??
    firstExisting(['/usr/bin/mosquitto_ctrl', '/usr/local/bin/mosquitto_ctrl']) ??
    'mosquitto_ctrl';
  const plugin = options.pluginPath ?? firstExisting(PLUGIN_CANDIDATES);
  if (!plugin) {
    throw new TesseraError('ERR_BROKER_START_FAILED', 'the Mosquitto dynamic-security plugin is not installed', {
      details: { looked: PLUGIN_CANDIDATES },
    });
  }
  const admin = {
    username: options.adminUsername ?? 'tessera-admin',
    password: options.adminPassword ?? randomBytes(24).toString('base64url'),
  };
  const dir = await mkdtemp(join(tmpdir(), 'tessera-mosquitto-'));
  const dynsecFile = join(dir, 'dynamic-security.json');
  try {
    await promisify(execFile)(ctrl, ['dynsec', 'init', dynsecFile, admin.username, admin.password]);
  } catch (cause) {
    await rm(dir, { recursive: true, force: true });
    throw new TesseraError('ERR_BROKER_START_FAILED', `${ctrl} dynsec init failed`, { cause });
  }

  // A port picked by the OS can be taken again before Mosquitto binds it; try a few.
  const attempts = options.port === undefined ? 3 : 1;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = options.port ?? (await freePort());
    const configFile = join(dir, 'mosquitto.conf');
    await writeFile(
      configFile,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous false',
        `plugin ${plugin}`,
        `plugin_opt_config_file ${dynsecFile}`,
        'persistence false',
        // Answer small packets at once (Nagle's algorithm against delayed ACKs costs ~40 ms per exchange).
        'set_tcp_nodelay true',
        // Refuse a packet by its fixed header before reading its body (the protocol's limit; MQTT 5 §3.1.2.11.4).
        ...(options.omit?.maxPacketSize ? [] : [`max_packet_size ${MQTT_MAX_PACKET_BYTES}`]),
        // Devices publish nothing retained (a retained message would live in the broker for ever); a retained PUBLISH
        // closes the connection.
        'retain_available false',
        // Connection notices on $SYS/broker/log/N and /E: the adapter narrows a device's role on every connection
        // event as soon as it hears of it (what a takeover pipelines behind its CONNECT comes first:
        // docs/mosquitto.md, "Why the window stays open").
        'connection_messages true',
        ...(options.omit?.connectionNotices ? [] : ['log_dest topic']),
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        // Run as root (CI containers), Mosquitto would switch to the `mosquitto` user, which cannot write our
        // temporary directory; stay as the invoking user instead.
        ...(process.getuid?.() === 0 ? ['user root'] : []),
        '',
      ].join('\n'),
    );
    const child = spawn(binary, ['-c', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    const collect = (b: Buffer) => {
      log = (log + b.toString('utf8')).slice(-64 * 1024);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    try {
      await waitForListener(child, port, options.startTimeoutMs ?? 10_000, () => log);
    } catch (e) {
      lastError = e;
      await kill(child);
      continue;
    }
    let stopped: Promise<void> | undefined;
    return {
      url: `mqtt://127.0.0.1:${port}`,
      host: '127.0.0.1',
      port,
      admin,
      dir,
      pid: child.pid ?? -1,
      log: () => log,
      stop: () => {
        stopped ??= kill(child).then(() => rm(dir, { recursive: true, force: true }));
        return stopped;
      },
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError instanceof TesseraError
    ? lastError
    : new TesseraError('ERR_BROKER_START_FAILED', 'Mosquitto did not start', { cause: lastError });
}

/** A MosquittoBrokerAdapter that owns a dedicated instance: stopping the adapter stops the broker too. */
export class DedicatedMosquittoAdapter extends MosquittoBrokerAdapter {
  constructor(readonly instance: MosquittoInstance) {
    super({ url: instance.url, admin: instance.admin });
  }

  override async stop(): Promise<void> {
    try {
      await super.stop();
    } finally {
      await this.instance.stop();
    }
  }
}

/**
 * Start a dedicated Mosquitto and return an adapter for it (not yet started), e.g. as a conformance-suite factory.
 *
 * @example handshakeConformanceSuite('mosquitto', () => startDedicatedMosquittoAdapter());
 */
export async function startDedicatedMosquittoAdapter(
  options: StartMosquittoOptions = {},
): Promise<DedicatedMosquittoAdapter> {
  return new DedicatedMosquittoAdapter(await startMosquitto(options));
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function waitForListener(child: ChildProcess, port: number, timeoutMs: number, log: () => string) {
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });
  child.once('error', (e) => {
    exited = e.message;
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    // "running" is logged after every listener is bound, so a foreign listener on a reused port is not mistaken for ours.
    if (/ running/.test(log()) && (await canConnect(port))) {
      if (exited === undefined) return;
      break;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new TesseraError(
    'ERR_BROKER_START_FAILED',
    `Mosquitto ${exited ?? `did not listen on ${port} within ${timeoutMs} ms`}: ${log().trim().slice(-500)}`,
  );
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
