import { accessSync, constants } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type ContractName,
  type DatabaseParts,
  Keystore,
  Outbox,
  connectChain,
  deploymentsFile,
  dialectOf,
  ensureDeployed,
  makeProvider,
  ChainWatch,
  openDatabase,
  storageHealth,
  outboxDatabaseParts,
  startAnvil,
} from '@tessera/contracts';
import { type Logger, TesseraError } from '@tessera/protocol';
import { lockDataDir, privateDirectory } from '@tessera/runtime';
import { type IssuerService, issuerDatabaseParts, startIssuerService } from '@tessera/issuer';
import {
  type CachedDidResolver,
  createDidResolver,
  type HandshakeAuditEvent,
  RedisHandshakeLimiter,
  RedisNonceStore,
} from '@tessera/verifier';
import { Router } from 'express';
import type { Redis } from 'ioredis';
import { type ApiPart, apiDocsRouter, stackOpenApi } from './api-docs.js';
import { type JsonRpcProvider, Wallet, parseEther } from 'ethers';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DataSource } from 'typeorm';
import { ChainMetrics } from './chain-metrics.js';
import { consoleApi, consoleStatic, LastHandshakes } from './console-part.js';
import type { StackConfig } from './config.js';
import { SharedFiles, replicaFilesDatabaseParts } from './shared-files.js';
import { type DevicesPart, attachHandshake, devicePermissions, startBroker } from './devices-part.js';
import { type HealthReport, buildStackApp } from './http.js';
import { type ActorIdentity, type StackActor, ensureActorIdentities } from './identities.js';
import { assertPortFree, portError } from './ports.js';
import { type RunningServices, SERVICE_DATABASE_PARTS, startServices } from './services-part.js';
import { type VerifierPart, startVerifierPart } from './verifier-part.js';

export interface RunningStack {
  urls: { http: string; healthz: string; metrics: string; chainRpc: string; mqtt: string };
  chainId: number;
  embeddedChain: boolean;
  contracts: Record<ContractName, string>;
  identities: Record<StackActor, ActorIdentity>;
  resolver: CachedDidResolver;
  issuer: IssuerService;
  verifier: VerifierPart;
  services: RunningServices;
  /** The embedded MQTT broker and the device handshake verifier on it. */
  devices: DevicesPart;
  health(): Promise<HealthReport>;
  stop(): Promise<void>;
}

/** Count one more in a window key shared by the replicas (it expires after the window) and return the count. */
async function redisWindowCount(redis: Redis, key: string): Promise<number> {
  const r = await redis.multi().incr(key).pexpire(key, 120_000).exec();
  const n = r?.[0]?.[1];
  if (typeof n !== 'number') throw new TesseraError('ERR_UNAVAILABLE', 'the shared rate limit did not answer');
  return n;
}

/** Keep the relayer comfortably funded on the embedded chain (dev ether from anvil's first account). */
async function fundRelayer(provider: JsonRpcProvider, relayer: string, log: Logger) {
  const balance = await provider.getBalance(relayer);
  if (balance >= parseEther('100')) return;
  const funder = new Wallet(ANVIL_FUNDER_KEY, provider);
  const tx = await funder.sendTransaction({ to: relayer, value: parseEther('1000') });
  await tx.wait();
  log.info({ relayer }, 'funded the relayer account on the embedded chain');
}

/**
 * The composition root: start every part on the embedded defaults (anvil, SQLite) or on the configured external
 * infrastructure, in dependency order, and stop them in reverse. A failure half-way stops what was started.
 */
export async function startStack(
  config: StackConfig,
  deps: { log: Logger /** What holds the data directory's lock, as a person typed it. */; command?: string },
): Promise<RunningStack> {
  const { log } = deps;
  const closers: { name: string; close: () => Promise<void> | void }[] = [];
  const stop = async () => {
    for (const c of closers.splice(0).reverse()) {
      try {
        await c.close();
      } catch (e) {
        log.warn({ err: e, part: c.name }, 'error while stopping');
      }
    }
  };
  try {
    try {
      // Everything in the data directory is the owner's only (keys, the database, chain state, deployments), also
      // what an older version left readable.
      privateDirectory(config.dataDir);
      accessSync(config.dataDir, constants.W_OK);
    } catch (cause) {
      throw new TesseraError('ERR_DATA_DIR', `data directory ${config.dataDir} is not writable; set TESSERA_DATA_DIR`, {
        cause,
      });
    }
    // One process per data directory: a second one would share the chain state, the database and the keys.
    const lock = lockDataDir(config.dataDir, { command: deps.command ?? 'tessera stack' });
    if (!lock.ok) throw new TesseraError(lock.error.code, lock.error.message, { details: lock.error.details });
    closers.push({ name: 'data-dir-lock', close: () => lock.value.release() });
    await assertPortFree(config.host, config.httpPort, 'TESSERA_HTTP_PORT');
    if (!config.mqtt) await assertPortFree(config.host, config.mqttPort, 'TESSERA_MQTT_PORT');

    // chain
    let anvil: AnvilChain | undefined;
    let provider: JsonRpcProvider;
    let chainId: number;
    let rpcUrl: string;
    let wsUrl: string | undefined;
    if (config.chain.rpcUrl) {
      const conn = await connectChain(config.chain.rpcUrl);
      ({ provider, chainId, rpcUrl } = conn);
      wsUrl = config.chain.wsUrl;
      log.info({ rpcUrl, chainId }, 'using external chain');
    } else {
      const chainDir = join(config.dataDir, 'chain');
      anvil = await startAnvil({ stateDir: chainDir, pidFile: join(chainDir, 'anvil.pid') });
      const a = anvil;
      closers.push({ name: 'anvil', close: () => a.stop() });
      ({ rpcUrl, wsUrl, chainId } = anvil);
      provider = makeProvider(rpcUrl, chainId);
      log.info({ rpcUrl, chainId, pid: anvil.pid }, 'embedded anvil chain started');
    }
    closers.push({ name: 'provider', close: () => provider.destroy() });
    // A chain that stops or freezes is known within about 2 s; from then on chain calls are refused at once
    // (ERR_CHAIN_UNAVAILABLE) instead of each waiting for the provider's timeout.
    const chainWatch = new ChainWatch({
      rpcUrl,
      onChange: (down, reason) =>
        down
          ? log.warn({ rpcUrl, reason }, 'the chain does not answer: chain calls are refused until it does')
          : log.info({ rpcUrl }, 'the chain answers again'),
    });
    chainWatch.guard(provider);
    chainWatch.start();
    closers.push({ name: 'chain-watch', close: () => chainWatch.stop() });

    // database (before the keys: a joining replica takes the shared keys and deployments from it)
    const db: DataSource = await openDatabase(
      {
        ...(config.databaseUrl ? { url: config.databaseUrl } : {}),
        sqlitePath: join(config.dataDir, 'tessera.sqlite'),
        ...(config.sqliteMaxPages !== undefined ? { sqliteMaxPages: config.sqliteMaxPages } : {}),
      },
      {
        entities: [
          ...outboxDatabaseParts.entities,
          ...issuerDatabaseParts.entities,
          ...SERVICE_DATABASE_PARTS.flatMap((p) => p.entities as unknown[]),
        ] as DatabaseParts['entities'],
        migrations: [
          ...outboxDatabaseParts.migrations,
          ...issuerDatabaseParts.migrations,
          ...SERVICE_DATABASE_PARTS.flatMap((p) => p.migrations as unknown[]),
          ...replicaFilesDatabaseParts.migrations,
        ] as DatabaseParts['migrations'],
      },
    );
    closers.push({ name: 'database', close: () => db.destroy() });
    // Replicas on PostgreSQL with the master key in the configuration share their keys and deployments through it.
    const shared =
      config.masterKey && dialectOf(db) === 'postgres'
        ? new SharedFiles(db, config.dataDir, config.masterKey, log)
        : undefined;
    await shared?.pull();

    // keys, contracts
    const keystore = Keystore.open(join(config.dataDir, 'keys'), config.masterKey);
    const relayer = keystore.getOrCreate('relayer').connect(provider);
    if (anvil) await fundRelayer(provider, relayer.address, log);
    else if ((await provider.getBalance(relayer.address)) === 0n) {
      log.warn(
        { relayer: relayer.address },
        'the relayer account has no funds on the external chain; on-chain writes will fail',
      );
    }
    const contracts = await ensureDeployed({
      provider,
      deployer: relayer,
      chainId,
      file: deploymentsFile(config.dataDir),
      allowDeploy: anvil !== undefined,
      ...(config.chain.registryAddress ? { overrides: { EthereumDIDRegistry: config.chain.registryAddress } } : {}),
      log: (msg) => log.info(msg),
    });

    // outbox
    const outbox = new Outbox({
      dataSource: db,
      signer: relayer,
      provider,
      chainId,
      onError: (e) => log.warn({ err: e }, 'outbox flush failed; will retry'),
      // Replicas on one PostgreSQL share the outbox: one sender at a time (a lease with a fencing token), the others
      // enqueue. On SQLite the stack is one process and sends alone.
      ...(dialectOf(db) === 'postgres' ? { lease: true } : {}),
    });
    const reconciled = await outbox.reconcile();
    if (reconciled.resent + reconciled.resigned + reconciled.confirmed > 0) log.info(reconciled, 'outbox reconciled');
    outbox.start(500);
    closers.push({ name: 'outbox', close: () => outbox.stop() });

    // DID resolution, invalidated by registry events
    const dids = await createDidResolver({
      chainId,
      provider,
      registry: contracts.EthereumDIDRegistry,
      ...(wsUrl ? { wsUrl } : {}),
      onError: (e) => log.warn({ err: e }, 'registry watcher error'),
    });
    closers.push({ name: 'watcher', close: () => dids.stop() });
    const { resolver, watcher } = dids;

    // HTTP
    const httpUrlFor = (port: number) =>
      `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics, prefix: 'tessera_' });
    let lastBlock = 0;
    let devices: DevicesPart | undefined;
    const health = async (): Promise<HealthReport> => {
      const parts: HealthReport['parts'] = {};
      try {
        // a frozen chain must not make /healthz hang for the provider's timeout: it is down if it does not answer soon
        chainWatch.assertUp();
        let timer: NodeJS.Timeout | undefined;
        lastBlock = await Promise.race([
          // asked now (getBlockNumber may answer from ethers' cache of a call made just before the chain froze)
          provider.send('eth_blockNumber', []).then((hex: string) => Number(hex)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error('the chain RPC endpoint did not answer within 2 s')), 2000);
          }),
        ]).finally(() => clearTimeout(timer));
        parts.chain = { ok: true, chainId, block: lastBlock, rpcUrl, embedded: anvil !== undefined };
      } catch (e) {
        // what /healthz calls down is down for every caller until a probe answers (a handshake granted from cached
        // state while /healthz says the chain is down would be two answers to one question)
        if (!chainWatch.down) chainWatch.reportFailure((e as Error).message);
        parts.chain = { ok: false, chainId, rpcUrl, error: (e as Error).message };
      }
      try {
        await db.query('SELECT 1');
        // a store that refused a write (full disk) stays red until a write probe succeeds
        const storage = await storageHealth(db);
        parts.database = storage.ok
          ? { ok: true, dialect: dialectOf(db) }
          : {
              ok: false,
              dialect: dialectOf(db),
              error: `not writable: ${storage.message}`,
              fault: storage.fault,
              since: storage.since,
            };
      } catch (e) {
        parts.database = { ok: false, error: (e as Error).message };
      }
      const counts = await outbox.counts().catch(() => undefined);
      parts.outbox = { ok: counts !== undefined, relayer: outbox.address, sender: outbox.isSender, ...(counts ?? {}) };
      parts.resolver = { ok: true, processedBlock: watcher.processedBlock, ...resolver.stats };
      parts.contracts = { ok: true, ...contracts };
      parts.mqtt = {
        ok: devices?.handshake != null,
        url: devices?.mqttUrl,
        connectedClients: devices?.broker.connectedClients ?? 0,
      };
      parts.identities = { ok: true, ...Object.fromEntries(Object.entries(identities).map(([k, v]) => [k, v.did])) };
      return { ok: Object.values(parts).every((p) => p.ok), parts };
    };
    new Gauge({
      name: 'tessera_chain_block',
      help: 'Latest block seen by the stack',
      registers: [metrics],
      collect() {
        this.set(Math.max(lastBlock, chainMetrics.head));
      },
    });
    new Gauge({
      name: 'tessera_outbox_rows',
      help: 'Outbox rows by status',
      labelNames: ['status'],
      registers: [metrics],
      async collect() {
        const c = await outbox.counts();
        for (const [status, n] of Object.entries(c)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'tessera_did_cache',
      help: 'DID resolution cache counters',
      labelNames: ['counter'],
      registers: [metrics],
      collect() {
        for (const [counter, n] of Object.entries(resolver.stats)) this.set({ counter }, n);
      },
    });

    new Counter({
      name: 'tessera_mqtt_packets_refused_total',
      help: 'MQTT packets the broker refused by their fixed header (over the size limit, or a malformed length), by phase',
      labelNames: ['phase'],
      registers: [metrics],
      collect() {
        const s = devices?.broker.packetStats;
        this.reset();
        this.inc({ phase: 'before_connect' }, s?.refusedBeforeConnect ?? 0);
        this.inc({ phase: 'after_connect' }, s?.refusedAfterConnect ?? 0);
      },
    });

    // Device handshakes by outcome and refusal code, and each device's last one (the console shows it with the session).
    const handshakes = new Counter({
      name: 'tessera_mqtt_handshakes_total',
      help: 'Device handshakes on the broker by outcome (challenged, granted, denied) and the code a refusal carried',
      labelNames: ['outcome', 'code'],
      registers: [metrics],
    });
    const lastHandshakes = new LastHandshakes();
    const onHandshake = (e: HandshakeAuditEvent) => {
      const outcome = e.event.replace('handshake_', '');
      handshakes.inc({ outcome, code: e.code ?? '' });
      if (e.deviceId) lastHandshakes.record(e.deviceId, outcome, e.code);
    };

    const chainMetrics = new ChainMetrics({
      provider,
      registry: metrics,
      knownContracts: Object.keys(contracts).length,
      relayer: relayer.address,
      log,
    });
    await chainMetrics.step();
    chainMetrics.start();
    closers.push({ name: 'chain-metrics', close: () => chainMetrics.stop() });

    const parts = Router();
    const app = buildStackApp({
      log,
      health,
      metrics,
      parts,
      ...(config.trustedProxies ? { trustedProxies: config.trustedProxies } : {}),
    });
    const server: Server = await new Promise((resolve, reject) => {
      const s = app.listen(config.httpPort, config.host);
      s.once('listening', () => resolve(s));
      s.once('error', (e: NodeJS.ErrnoException) =>
        reject(portError(config.host, config.httpPort, 'TESSERA_HTTP_PORT', e)),
      );
    });
    closers.push({
      name: 'http',
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    });
    const address = server.address();
    const httpPort = typeof address === 'object' && address ? address.port : config.httpPort;
    const httpUrl = httpUrlFor(httpPort);

    // identities are anchored against the URL people reach the stack on
    const identities = await ensureActorIdentities({
      keystore,
      outbox,
      provider,
      registry: contracts.EthereumDIDRegistry,
      chainId,
      publicUrl: config.publicUrl ?? httpUrl,
    });
    const stackInfo = () => ({
      name: 'tessera',
      issuer: `${config.publicUrl ?? httpUrl}/issuer`,
      chainId,
      healthz: '/healthz',
      metrics: '/metrics',
      console: '/',
      energyPeriodSeconds: config.energyPeriodSeconds,
    });
    // The console at / (a browser asking for HTML); a client asking for JSON still gets the stack's description.
    parts.use(consoleStatic({ info: stackInfo }));

    // MQTT: the broker listens before the issuer starts (its URL goes into device provisioning files)
    const broker = await startBroker({
      host: config.host,
      port: config.mqttPort,
      ...(config.mqtt ? { external: config.mqtt } : {}),
      log: log.child({ part: 'mqtt' }),
    });
    devices = broker;
    closers.push({ name: 'mqtt', close: () => broker.stop() });

    // issuer: its DID is the stack's issuer actor (one key, sealed in the keystore and imported into its agent). It
    // signs admins in and guards its routes through the credential core, built once the issuer exists (the core reads
    // the issuer's status lists).
    const publicUrl = config.publicUrl ?? httpUrl;
    const verifierKey = keystore.getOrCreate('verifier');
    let verifier: VerifierPart | undefined;
    const issuer = await startIssuerService({
      config: {
        dataDir: config.dataDir,
        publicBaseUrl: `${publicUrl}/issuer`,
        ...(config.databaseUrl ? { databaseUrl: config.databaseUrl } : {}),
      },
      dataSource: db,
      provider,
      chainId,
      registryAddress: contracts.EthereumDIDRegistry,
      outbox,
      anchorAddress: contracts.TesseraAnchor,
      anchorIntervalMs: 60_000,
      issuerPrivateKey: keystore.getOrCreate('issuer').privateKey,
      deviceRegistryAddress: contracts.DeviceRegistry,
      chainDown: () => chainWatch.down,
      deviceBrokerUrl: broker.mqttUrl,
      // With Redis, the sign-in rate limit is one count per source for every replica (not one per process).
      http: {
        ...(config.trustedProxies ? { trustedProxies: config.trustedProxies } : {}),
        ...(config.redisUrl
          ? {
              authRequestCounter: (source: string, windowStart: number) => {
                if (!verifier?.redis) throw new TesseraError('ERR_UNAVAILABLE', 'Redis is not connected');
                return redisWindowCount(
                  verifier.redis,
                  `tessera:issuer-auth:${identities.issuer.did}:${windowStart}:${source}`,
                );
              },
            }
          : {}),
      },
      auth: async (issuerDomain) => {
        verifier = await startVerifierPart({
          resolver,
          issuer: issuerDomain,
          verifierDid: identities.verifier.did,
          verifierPrivateKey: verifierKey.privateKey,
          publicUrl: `${publicUrl}/verifier`,
          ...(config.policyFile ? { policyFile: config.policyFile } : {}),
          ...(config.trustListFile ? { trustListFile: config.trustListFile } : {}),
          ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
          statusMaxAgeSeconds: config.statusMaxAgeSeconds,
          statusMaxStaleSeconds: config.statusMaxStaleSeconds,
          log: log.child({ part: 'verifier' }),
        });
        const v = verifier;
        closers.push({ name: 'verifier', close: () => v.stop() });
        return v.core;
      },
      log: log.child({ part: 'issuer' }),
    });
    closers.push({ name: 'issuer', close: () => issuer.stop() });
    if (issuer.issuer.did !== identities.issuer.did) {
      throw new TesseraError(
        'ERR_INTERNAL',
        `issuer DID ${issuer.issuer.did} is not the stack's issuer ${identities.issuer.did}`,
      );
    }
    if (!verifier) throw new TesseraError('ERR_INTERNAL', 'the issuer started without the credential core');
    // OpenID4VCI 1.0 §12.2.2 / RFC 8414 §3.1: well-known metadata at the origin, with the issuer's path after it.
    parts.get('/.well-known/openid-credential-issuer/issuer', (req, res, next) => {
      req.url = '/.well-known/openid-credential-issuer';
      issuer.app(req, res, next);
    });
    parts.get('/.well-known/oauth-authorization-server/issuer', (req, res, next) => {
      req.url = '/.well-known/oauth-authorization-server';
      issuer.app(req, res, next);
    });
    parts.use('/issuer', issuer.app);
    parts.use('/verifier', verifier.core.router);
    parts.use(
      consoleApi({
        core: verifier.core,
        info: stackInfo,
        session: (id) => ({ connected: broker.broker.isConnected(id), lastHandshake: lastHandshakes.get(id) ?? null }),
      }),
    );

    // device handshake: secrets from the issuer's vault, sessions signed with the verifier's key
    if (!issuer.devices) throw new TesseraError('ERR_INTERNAL', 'the issuer started without its device lifecycle');
    await attachHandshake(broker, {
      provider,
      chainId,
      deviceRegistry: contracts.DeviceRegistry,
      ...(wsUrl ? { wsUrl } : {}),
      vault: issuer.devices.vault,
      resolver,
      // Session credentials are the issuer's, in the status slot of the device's identity credential.
      signer: { did: identities.issuer.did, privateKey: keystore.getOrCreate('issuer').privateKey },
      sessionStatus: issuer.devices.sessionStatus,
      permissionsFor: devicePermissions(issuer.issuer, verifier.core, verifier.fanout),
      ...(verifier.redis
        ? {
            challenges: new RedisNonceStore(verifier.redis, { prefix: 'tessera:hs-challenge:' }),
            limiter: new RedisHandshakeLimiter(verifier.redis),
          }
        : {}),
      audit: onHandshake,
      // a device is neither granted nor refused while the chain cannot say its state: it is told to retry
      unavailable: () => (chainWatch.down ? 'the chain does not answer' : undefined),
      log: log.child({ part: 'devices' }),
    });

    const services = await startServices({
      config,
      parts,
      publicUrl,
      db,
      outbox,
      provider,
      assertChainUp: () => chainWatch.assertUp(),
      chainId,
      contracts,
      keystore,
      identities,
      resolver,
      registryWatcher: watcher,
      issuer,
      verifier,
      devices: broker,
      metrics,
      log,
    });
    closers.push({ name: 'services', close: () => services.stop() });
    // what this replica created (keys, deployments, the issuer's key-encryption key) is offered to the next ones
    await shared?.push();

    // one OpenAPI document for the whole stack at /openapi.json, rendered at /docs/
    const apiParts: ApiPart[] = [
      { prefix: '/issuer', tag: 'issuer', handler: issuer.app },
      { prefix: '/verifier', tag: 'verifier', handler: verifier.core.router },
      { prefix: '/services/offerings', tag: 'offerings', handler: services.offerings.router },
      { prefix: '/services/energy', tag: 'energy', handler: services.energy.router },
      { prefix: '/services/exchange', tag: 'exchange', handler: services.exchange.router },
      { prefix: '/services/whiteflag', tag: 'whiteflag', handler: services.whiteflag.router },
    ];
    parts.use(apiDocsRouter(() => stackOpenApi(publicUrl, apiParts)));

    return {
      urls: {
        http: httpUrl,
        healthz: `${httpUrl}/healthz`,
        metrics: `${httpUrl}/metrics`,
        chainRpc: rpcUrl,
        mqtt: broker.mqttUrl,
      },
      chainId,
      embeddedChain: anvil !== undefined,
      contracts,
      identities,
      resolver,
      issuer,
      verifier: verifier as VerifierPart,
      services,
      devices: broker,
      health,
      stop,
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
