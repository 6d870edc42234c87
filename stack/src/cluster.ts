/**
 * A local cluster on this machine's engines: N stack replicas (each `npm start` in its own process, its own empty
 * data directory) on one PostgreSQL database, one Redis, one Mosquitto 2 with dynamic security, one anvil chain
 * outside the replicas, optionally behind HAProxy (Debian's package). Used by `npm run cluster`, the cluster services
 * test and `npm run bench -- cluster`.
 *
 * What it does, in order (docs/scale-out.md describes the same by hand):
 * 1. a fresh database on the PostgreSQL admin URL, a Mosquitto with its own dynsec file, an anvil;
 * 2. a master key; the first replica's relayer key sealed under it, funded from anvil's first account, the contracts
 *    deployed with it (what `npm run deploy` does);
 * 3. the first replica started alone (it offers keys and deployments to the database), then the others with empty
 *    data directories, from configuration alone;
 * 4. HAProxy in front (round robin, health checked on /healthz), when asked.
 * `stop()` stops the load balancer, the replicas (SIGTERM, as Ctrl-C would), the broker and the chain, drops the
 * database and removes the directories it made.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  Keystore,
  deploymentsFile,
  ensureDeployed,
  makeProvider,
  openDatabase,
  startAnvil,
} from '@tessera/contracts';
import { TesseraError } from '@tessera/protocol';
import { type MosquittoInstance, startMosquitto } from '@tessera/verifier';
import { Wallet, parseEther } from 'ethers';

const MAIN = join(import.meta.dirname, 'main.ts');
const HAPROXY_CANDIDATES = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy', '/usr/bin/haproxy'];

/** Where HAProxy is installed here, if it is. */
export function haproxyBinary(): string | undefined {
  return HAPROXY_CANDIDATES.find((p) => existsSync(p));
}

export interface ClusterOptions {
  /** How many replicas (1 or more). */
  replicas: number;
  /** Put HAProxy in front (needs Debian's `haproxy`); its port (0: a free one). Default: no load balancer. */
  loadBalancer?: { port?: number };
  /** The replicas' HTTP ports; default: free ports picked now. */
  httpPorts?: number[];
  /** PostgreSQL superuser URL a fresh database is created on (default: TESSERA_PG_ADMIN_URL, else postgres@127.0.0.1). */
  pgAdminUrl?: string;
  /** Default: TESSERA_REDIS_URL, else redis://127.0.0.1:6379. */
  redisUrl?: string;
  /** Anvil blocks every N s (default: a block per transaction). */
  blockTimeSeconds?: number;
  /** More environment for every replica (TESSERA_ENERGY_PERIOD_SECONDS, TESSERA_LOG_LEVEL, …). */
  env?: Record<string, string>;
  /** A replica's output lines (stdout and stderr), for a terminal or a failing test. */
  onLine?: (replica: number, stream: 'out' | 'err', line: string) => void;
  /** How long one replica may take to print its ready line (default 120 s). */
  readyTimeoutMs?: number;
}

export interface Replica {
  index: number;
  name: string;
  http: string;
  port: number;
  dataDir: string;
  child: ChildProcess | undefined;
  /** The replica's output so far (the last 64 KiB). */
  output(): string;
}

export interface Cluster {
  /** The load balancer's URL, or the first replica's without one (the replicas' TESSERA_PUBLIC_URL). */
  url: string;
  loadBalancer: string | undefined;
  replicas: Replica[];
  chain: { rpcUrl: string; wsUrl: string; chainId: number };
  databaseUrl: string;
  redisUrl: string;
  mqtt: { url: string; admin: { username: string; password: string } };
  /** The root admin's wallet file (written by the first replica). */
  rootAdminWallet: string;
  /** Signal a replica (`SIGKILL` for a crash); resolves when its process has exited. */
  kill(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Start a stopped replica again on its port and data directory; resolves at its ready line. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function onPostgres(adminUrl: string, sql: string): Promise<void> {
  const ds = await openDatabase({ url: adminUrl }, { entities: [], migrations: [] });
  try {
    await ds.query(sql);
  } finally {
    await ds.destroy();
  }
}

/** The HAProxy configuration for `ports` behind `lbPort` (round robin, /healthz checked every second). */
export function haproxyConfig(lbPort: number, ports: number[]): string {
  return [
    'global',
    '  maxconn 4096',
    'defaults',
    '  mode http',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  option http-server-close',
    // The replicas count their per-source limits by the client named here (TESSERA_TRUSTED_PROXIES below).
    '  option forwardfor',
    '  retries 2',
    '  option redispatch',
    'frontend tessera',
    `  bind 127.0.0.1:${lbPort}`,
    '  default_backend replicas',
    'backend replicas',
    '  balance roundrobin',
    '  option httpchk GET /healthz',
    '  http-check expect status 200',
    ...ports.map((p, i) => `  server r${i + 1} 127.0.0.1:${p} check inter 1s fall 2 rise 1`),
    '',
  ].join('\n');
}

function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM', forceMs = 15_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), forceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  if (!Number.isInteger(o.replicas) || o.replicas < 1)
    throw new TesseraError('ERR_BAD_REQUEST', `the number of replicas must be a whole number from 1: ${o.replicas}`);
  const haproxy = o.loadBalancer ? haproxyBinary() : undefined;
  if (o.loadBalancer && !haproxy)
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      'HAProxy is not installed (apt-get install haproxy); it is the load balancer in front of the replicas',
    );
  const root = mkdtempSync(join(tmpdir(), 'tessera-cluster-'));
  const pgAdmin =
    o.pgAdminUrl ??
    process.env.TESSERA_PG_ADMIN_URL ??
    process.env.TESSERA_TEST_PG_ADMIN_URL ??
    'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = o.redisUrl ?? process.env.TESSERA_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const dbName = `tessera_cluster_${randomBytes(4).toString('hex')}`;
  let dbCreated = false;
  let chain: AnvilChain | undefined;
  let mosquitto: MosquittoInstance | undefined;
  let lb: ChildProcess | undefined;
  const replicas: Replica[] = [];
  // the replicas and HAProxy run in their own process groups: if this process ends without stop(), they end too
  const orphans = () => {
    for (const c of [lb, ...replicas.map((r) => r.child)])
      if (c && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', orphans);
  const cleanup = async () => {
    process.off('exit', orphans);
    await stopChild(lb);
    await Promise.all(replicas.map((r) => stopChild(r.child)));
    await mosquitto?.stop();
    await chain?.stop();
    if (dbCreated) await onPostgres(pgAdmin, `DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => {});
    rmSync(root, { recursive: true, force: true, maxRetries: 5 });
  };
  try {
    await onPostgres(pgAdmin, `CREATE DATABASE ${dbName}`);
    dbCreated = true;
    const databaseUrl = pgAdmin.replace(/\/[^/]*$/, `/${dbName}`);
    [chain, mosquitto] = await Promise.all([
      startAnvil(o.blockTimeSeconds ? { blockTimeSeconds: o.blockTimeSeconds } : {}),
      startMosquitto(),
    ]);
    const masterKey = randomBytes(32).toString('hex');
    const ports = o.httpPorts ?? (await Promise.all(Array.from({ length: o.replicas }, () => freePort())));
    const lbPort = o.loadBalancer ? o.loadBalancer.port || (await freePort()) : undefined;
    const url = lbPort ? `http://127.0.0.1:${lbPort}` : `http://127.0.0.1:${ports[0]}`;

    // The operator's deploy (npm run deploy): the first replica's relayer key, funded, deploys the contracts.
    const dirOf = (i: number) => join(root, `r${i + 1}`);
    mkdirSync(dirOf(0), { recursive: true, mode: 0o700 });
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    try {
      const relayer = Keystore.open(join(dirOf(0), 'keys'), masterKey)
        .getOrCreate('relayer')
        .connect(provider);
      const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
      await (await funder.sendTransaction({ to: relayer.address, value: parseEther('1000') })).wait();
      await ensureDeployed({
        provider,
        deployer: relayer,
        chainId: chain.chainId,
        file: deploymentsFile(dirOf(0)),
        allowDeploy: true,
      });
    } finally {
      provider.destroy();
    }

    const env = {
      ...process.env,
      TESSERA_LOG_LEVEL: 'warn',
      ...o.env,
      TESSERA_CHAIN_RPC_URL: chain.rpcUrl,
      TESSERA_CHAIN_WS_URL: chain.wsUrl,
      TESSERA_DATABASE_URL: databaseUrl,
      TESSERA_REDIS_URL: redisUrl,
      TESSERA_MASTER_KEY: masterKey,
      TESSERA_MQTT_URL: mosquitto.url,
      TESSERA_MQTT_ADMIN_USERNAME: mosquitto.admin.username,
      TESSERA_MQTT_ADMIN_PASSWORD: mosquitto.admin.password,
      TESSERA_PUBLIC_URL: url,
      TESSERA_HOST: '127.0.0.1',
      // HAProxy connects from loopback; its X-Forwarded-For names the client.
      TESSERA_TRUSTED_PROXIES: '127.0.0.1',
    };
    const launch = (r: Replica) => {
      let out = '';
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
        env: { ...env, TESSERA_DATA_DIR: r.dataDir, TESSERA_HTTP_PORT: String(r.port) },
        stdio: ['ignore', 'pipe', 'pipe'],
        // its own process group: a Ctrl-C at the terminal reaches the cluster, which stops the replicas in order
        detached: true,
      });
      r.child = child;
      r.output = () => out;
      for (const [stream, name] of [
        [child.stdout!, 'out'],
        [child.stderr!, 'err'],
      ] as const) {
        let partial = '';
        stream.on('data', (c: Buffer) => {
          const text = c.toString('utf8');
          out = (out + text).slice(-64 * 1024);
          partial += text;
          const lines = partial.split('\n');
          partial = lines.pop() ?? '';
          for (const l of lines) o.onLine?.(r.index, name, l);
        });
      }
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(poll);
          reject(new Error(`replica ${r.name} printed no ready line in time: ${out.slice(-2000)}`));
        }, o.readyTimeoutMs ?? 120_000);
        const poll = setInterval(() => {
          if (/tessera ready/.test(out)) {
            clearInterval(poll);
            clearTimeout(timer);
            resolve();
          } else if (child.exitCode !== null || child.signalCode !== null) {
            clearInterval(poll);
            clearTimeout(timer);
            reject(new Error(`replica ${r.name} exited (${child.exitCode ?? child.signalCode}): ${out.slice(-2000)}`));
          }
        }, 50);
      });
    };
    for (let i = 0; i < o.replicas; i++) {
      replicas.push({
        index: i,
        name: `r${i + 1}`,
        port: ports[i]!,
        http: `http://127.0.0.1:${ports[i]}`,
        dataDir: dirOf(i),
        child: undefined,
        output: () => '',
      });
    }
    // the first alone (it offers the keys and deployments to the database), then the others from configuration alone
    await launch(replicas[0]!);
    await Promise.all(replicas.slice(1).map(launch));

    if (lbPort && haproxy) {
      const cfg = join(root, 'haproxy.cfg');
      writeFileSync(cfg, haproxyConfig(lbPort, ports));
      execFileSync(haproxy, ['-c', '-q', '-f', cfg]);
      let lbOut = '';
      lb = spawn(haproxy, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      lb.stdout!.on('data', (c) => (lbOut = (lbOut + c).slice(-8192)));
      lb.stderr!.on('data', (c) => (lbOut = (lbOut + c).slice(-8192)));
      const deadline = Date.now() + 15_000;
      for (;;) {
        const up = await fetch(`${url}/healthz`)
          .then((r) => r.status === 200)
          .catch(() => false);
        if (up) break;
        if (lb.exitCode !== null || Date.now() > deadline)
          throw new Error(`HAProxy did not answer on ${url}: ${lbOut.slice(-1000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    let stopped: Promise<void> | undefined;
    return {
      url,
      loadBalancer: lbPort ? url : undefined,
      replicas,
      chain: { rpcUrl: chain.rpcUrl, wsUrl: chain.wsUrl, chainId: chain.chainId },
      databaseUrl,
      redisUrl,
      mqtt: { url: mosquitto.url, admin: mosquitto.admin },
      rootAdminWallet: join(dirOf(0), 'root-admin-wallet.json'),
      kill: async (index, signal = 'SIGKILL') => stopChild(replicas[index]?.child, signal),
      restart: async (index) => {
        const r = replicas[index]!;
        await stopChild(r.child);
        await launch(r);
      },
      stop: () => {
        stopped ??= cleanup();
        return stopped;
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
