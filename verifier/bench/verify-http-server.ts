/**
 * The verifier as the `verify` bench runs it: its own processes (so the load generator does not take its CPU), the
 * HTTP router on an express app on an ephemeral port, the event-invalidated DID cache on the bench's anvil, status
 * lists installed up front. Configured by the parent over IPC; answers `{ port }` when listening.
 *
 * With `workers` > 1 it runs as replicas under node:cluster sharing one port, with nonces (and the request each was
 * issued for) in Redis
 * (RedisNonceStore), as verifier replicas behind a load balancer do; a nonce issued by one replica is
 * spent on whichever one receives the presentation, once.
 */
import cluster from 'node:cluster';
import type { AddressInfo } from 'node:net';
import { makeProvider } from '@tessera/contracts';
import { Bitstring, parsePolicySet, silentLogger } from '@tessera/protocol';
import { errorHandler } from '@tessera/runtime/http';
import express from 'express';
import { Redis } from 'ioredis';
import { createDidResolver, createVerifier, parseTrustList, RedisNonceStore } from '../src/index.js';

export interface BenchServerConfig {
  rpcUrl: string;
  wsUrl: string;
  chainId: number;
  registry: string;
  verifierDid: string;
  verifierKey: string;
  issuerDid: string;
  statusList: string;
  /** The Status List Token the SD-JWT VCs point at (installed up front, all valid). */
  tokenStatusList: string;
  /** DIDs to resolve before listening (the cache is warm, as on a running verifier). */
  warm: string[];
  /** Replicas (node:cluster); more than one needs `redisUrl`. */
  workers: number;
  redisUrl?: string;
}

async function start(c: BenchServerConfig): Promise<number> {
  const { resolver } = await createDidResolver({
    chainId: c.chainId,
    provider: makeProvider(c.rpcUrl, c.chainId),
    registry: c.registry,
    wsUrl: c.wsUrl,
  });
  for (const did of c.warm) await resolver.resolve(did);
  const trust = parseTrustList({ EnergyProsumerCredential: [c.issuerDid] });
  if (!trust.ok) throw new Error(trust.error.message);
  const policies = parsePolicySet({
    version: 1,
    policies: [
      {
        id: 'energy.order.place',
        resource: '/energy/meters/:meterId/orders',
        actions: ['POST'],
        require: [
          { credentialType: 'EnergyProsumerCredential', claims: [{ claim: 'meterId', equalsParam: 'meterId' }] },
        ],
      },
    ],
  });
  if (!policies.ok) throw new Error(policies.error.message);
  const redis = c.workers > 1 ? new Redis(c.redisUrl ?? 'redis://127.0.0.1:6379') : undefined;
  // As the stack builds it (stack/src/verifier-part.ts): the one factory, libsecp256k1 on a worker thread unless
  // TESSERA_BENCH_SIGNATURE_WORKER=0 (to compare).
  // The OpenID4VP endpoints need the public URL (the response_uri in each request object): the port is known once
  // listening, so the app is up first and the core mounted right after.
  const app = express();
  app.disable('x-powered-by');
  let router: express.Router | undefined;
  app.use('/verifier', (req, res, next) => router!(req, res, next));
  const server = app.listen(0, '127.0.0.1');
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;
  const core = createVerifier(
    {
      did: c.verifierDid,
      privateKey: c.verifierKey,
      publicUrl: `http://127.0.0.1:${port}/verifier`,
      policies: policies.value,
      trust: trust.value,
      // The bench's one client stands for many wallets: no per-address budget on presentation requests.
      requestLimits: {
        perSourcePerWindow: Number.MAX_SAFE_INTEGER,
        windowMs: 60_000,
        heldPerSource: Number.MAX_SAFE_INTEGER,
        maxSources: 1,
      },
    },
    {
      resolver,
      ...(redis ? { nonces: new RedisNonceStore(redis, { prefix: `tessera:bench:${c.verifierDid}:n:` }) } : {}),
      // The lists are installed up front and never change during the run; nothing is ever notified.
      fetchStatusList: async (url) => {
        throw new Error(`the bench publishes no status list at ${url}`);
      },
      ...(process.env.TESSERA_BENCH_SIGNATURE_WORKER === '0' ? { signatureWorker: false as const } : {}),
    },
  );
  core.statusLists.putBits(c.statusList, 'revocation', Bitstring.create(), c.issuerDid);
  core.statusLists.set(c.tokenStatusList, {
    statusPurpose: 'revocation',
    bits: Bitstring.create(),
    issuer: c.issuerDid,
    token: { size: 131_072, get: () => 0 },
  });
  // As the stack's app (stack/src/http.ts): no body parser of its own, the router parses its bodies.
  router = core.router;
  app.post('/stats', (_req, res) => {
    res.json({ signatures: core.checks.signatures.stats, resolver: resolver.stats, cpu: process.cpuUsage() });
  });
  app.use(errorHandler(silentLogger, 'bench'));
  return port;
}

if (cluster.isWorker) {
  start(JSON.parse(process.env.TESSERA_BENCH_CONFIG!) as BenchServerConfig).then(
    (port) => process.send?.({ port }),
    (e: Error) => {
      process.send?.({ error: e.message });
      process.exit(1);
    },
  );
} else {
  process.once('message', (c: BenchServerConfig) => {
    if (c.workers <= 1) {
      start(c).then(
        (port) => process.send?.({ port }),
        (e: Error) => {
          process.send?.({ error: e.message });
          process.exit(1);
        },
      );
      return;
    }
    const ports: number[] = [];
    for (let i = 0; i < c.workers; i++) {
      const w = cluster.fork({ TESSERA_BENCH_CONFIG: JSON.stringify(c) });
      w.on('message', (m: { port?: number; error?: string }) => {
        if (m.error) process.send?.(m);
        else if (m.port !== undefined && ports.push(m.port) === c.workers) process.send?.({ port: m.port });
      });
    }
  });
  process.on('disconnect', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
}
