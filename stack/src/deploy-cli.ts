/**
 * `npm run deploy`: deploy Tessera's contracts to an external chain (TESSERA_CHAIN_RPC_URL), paid by the stack's
 * relayer key from the data directory (fund it first; its address is printed). Idempotent, like the embedded deploy.
 */
import { join } from 'node:path';
import { Keystore, connectChain, deploymentsFile, ensureDeployed } from '@tessera/contracts';
import { TesseraError } from '@tessera/protocol';
import { loadConfig } from './config.js';

try {
  const config = loadConfig();
  if (!config.chain.rpcUrl) {
    throw new TesseraError(
      'ERR_CONFIG_INVALID',
      'set TESSERA_CHAIN_RPC_URL to the chain to deploy to (npm start deploys to its embedded chain by itself)',
    );
  }
  const conn = await connectChain(config.chain.rpcUrl);
  const relayer = Keystore.open(join(config.dataDir, 'keys'), config.masterKey)
    .getOrCreate('relayer')
    .connect(conn.provider);
  const balance = await conn.provider.getBalance(relayer.address);
  console.log(`relayer ${relayer.address} on chain ${conn.chainId}, balance ${balance} wei`);
  if (balance === 0n)
    throw new TesseraError('ERR_CHAIN_TX_FAILED', `fund the relayer ${relayer.address} before deploying`);
  const out = await ensureDeployed({
    provider: conn.provider,
    deployer: relayer,
    chainId: conn.chainId,
    file: deploymentsFile(config.dataDir),
    allowDeploy: true,
    ...(config.chain.registryAddress ? { overrides: { EthereumDIDRegistry: config.chain.registryAddress } } : {}),
    log: (m) => console.log(m),
  });
  for (const [name, address] of Object.entries(out)) console.log(`${name.padEnd(22)} ${address}`);
  conn.provider.destroy();
} catch (e) {
  const err = e instanceof TesseraError ? e : new TesseraError('ERR_INTERNAL', String((e as Error)?.message ?? e));
  console.error(`error ${err.code}: ${err.message}`);
  process.exit(1);
}
