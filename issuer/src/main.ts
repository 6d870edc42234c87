/**
 * The issuer on its own: `node --import tsx issuer/src/main.ts`. Embedded anvil (state in `<dataDir>/chain`) unless
 * TESSERA_CHAIN_RPC_URL is set, SQLite in the data directory unless TESSERA_DATABASE_URL is set. Prints where the root
 * admin wallet is on first start. The full stack (`npm start`) mounts the same service under `/issuer`.
 */
import { createServer } from 'node:http';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  connectChain,
  deploymentsFile,
  ensureDeployed,
  Keystore,
  makeProvider,
  Outbox,
  startAnvil,
} from '@tessera/contracts';
import { LOG_REDACT_PATHS, TesseraError } from '@tessera/protocol';
import { type JsonRpcProvider, parseEther, Wallet } from 'ethers';
import pino from 'pino';
import { issuerConfigFromEnv } from './config.js';
import { startIssuerService } from './service.js';
import { openIssuerDatabase } from './store.js';

const log = pino(
  { level: process.env.TESSERA_LOG_LEVEL ?? 'info', redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' } },
  pino.destination(2),
);
const closers: (() => Promise<unknown> | unknown)[] = [];
const stop = async () => {
  for (const c of closers.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
};

try {
  const config = issuerConfigFromEnv();
  const dataDir = config.issuer.dataDir;
  let anvil: AnvilChain | undefined;
  let provider: JsonRpcProvider;
  let chainId: number;
  if (config.chainRpcUrl) {
    ({ provider, chainId } = await connectChain(config.chainRpcUrl));
  } else {
    anvil = await startAnvil({ stateDir: join(dataDir, 'chain'), pidFile: join(dataDir, 'chain', 'anvil.pid') });
    closers.push(() => anvil?.stop());
    chainId = anvil.chainId;
    provider = makeProvider(anvil.rpcUrl, chainId);
  }
  closers.push(() => provider.destroy());
  const relayer = Keystore.open(join(dataDir, 'keys'), config.masterKey).getOrCreate('relayer').connect(provider);
  if (anvil && (await provider.getBalance(relayer.address)) < parseEther('100')) {
    const tx = await new Wallet(ANVIL_FUNDER_KEY, provider).sendTransaction({
      to: relayer.address,
      value: parseEther('1000'),
    });
    await tx.wait();
  }
  const contracts = await ensureDeployed({
    provider,
    deployer: relayer,
    chainId,
    file: deploymentsFile(dataDir),
    allowDeploy: anvil !== undefined,
    overrides: {
      ...(config.registryAddress ? { EthereumDIDRegistry: config.registryAddress } : {}),
      ...(config.anchorAddress ? { TesseraAnchor: config.anchorAddress } : {}),
    },
    log: (msg) => log.info(msg),
  });
  const ds = await openIssuerDatabase({
    ...(config.issuer.databaseUrl ? { url: config.issuer.databaseUrl } : {}),
    sqlitePath: join(dataDir, 'tessera.sqlite'),
  });
  closers.push(() => ds.destroy());
  const outbox = new Outbox({ dataSource: ds, signer: relayer, provider, chainId });
  await outbox.reconcile();
  // Listen first, so that with port 0 the status list URLs carry the real port.
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(
        e.code === 'EADDRINUSE'
          ? new TesseraError('ERR_PORT_IN_USE', `port ${config.port} is in use; set TESSERA_ISSUER_PORT`)
          : e,
      ),
    );
    server.listen(config.port, config.host);
  });
  closers.push(() => new Promise((r) => server.close(r)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const svc = await startIssuerService({
    config: { ...config.issuer, ...(config.publicUrlFromListener ? { publicBaseUrl: url } : {}) },
    dataSource: ds,
    provider,
    chainId,
    registryAddress: contracts.EthereumDIDRegistry,
    outbox,
    anchorAddress: contracts.TesseraAnchor,
    anchorIntervalMs: config.anchorIntervalMs,
    log,
  });
  closers.push(() => svc.stop());
  server.on('request', svc.app);
  console.log(`tessera issuer ready  ${url}  docs ${url}/docs  did ${svc.issuer.did}`);
  console.log(`  root admin wallet ${svc.rootAdmin.file}${svc.rootAdmin.created ? ' (created now)' : ''}`);
  const shutdown = async () => {
    await stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
} catch (e) {
  await stop();
  const code = e instanceof TesseraError ? e.code : 'ERR_INTERNAL';
  console.error(`error ${code}: ${(e as Error)?.message ?? e}`);
  if (!(e instanceof TesseraError)) log.error({ err: e }, 'startup failed');
  process.exit(1);
}
