/**
 * `npm run deploy`: deploy Tessera's contracts to an external chain (TESSERA_CHAIN_RPC_URL), paid by the stack's
 * relayer key from the data directory (fund it first; its address is printed). Idempotent, like the embedded deploy.
 * It takes the data directory's lock, so it does not run beside `npm start` on the same directory.
 */
import { type Command, CliFailure, cliProgram, finishProgram, isMain, runCli } from '@tessera/runtime/cli';

/** The data directory is held by another process (`npm start`). */
export const EXIT_LOCKED = 3;

async function deploy(): Promise<void> {
  const [{ join }, contracts, { lockDataDir }, { loadConfig }] = await Promise.all([
    import('node:path'),
    import('@tessera/contracts'),
    import('@tessera/runtime'),
    import('./config.js'),
  ]);
  const config = loadConfig();
  if (!config.chain.rpcUrl)
    throw new CliFailure(
      'ERR_CONFIG_INVALID',
      'set TESSERA_CHAIN_RPC_URL to the chain to deploy to (npm start deploys to its embedded chain by itself)',
    );
  const { mkdirSync } = await import('node:fs');
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const lock = lockDataDir(config.dataDir, { command: 'npm run deploy' });
  if (!lock.ok) throw new CliFailure(lock.error.code, lock.error.message, EXIT_LOCKED);
  const conn = await contracts.connectChain(config.chain.rpcUrl);
  try {
    const relayer = contracts.Keystore.open(join(config.dataDir, 'keys'), config.masterKey)
      .getOrCreate('relayer')
      .connect(conn.provider);
    const balance = await conn.provider.getBalance(relayer.address);
    console.log(`relayer ${relayer.address} on chain ${conn.chainId}, balance ${balance} wei`);
    if (balance === 0n)
      throw new CliFailure('ERR_CHAIN_TX_FAILED', `fund the relayer ${relayer.address} before deploying`);
    const out = await contracts.ensureDeployed({
      provider: conn.provider,
      deployer: relayer,
      chainId: conn.chainId,
      file: contracts.deploymentsFile(config.dataDir),
      allowDeploy: true,
      ...(config.chain.registryAddress ? { overrides: { EthereumDIDRegistry: config.chain.registryAddress } } : {}),
      log: (m) => console.log(m),
    });
    for (const [name, address] of Object.entries(out)) console.log(`${name.padEnd(22)} ${address}`);
  } finally {
    conn.provider.destroy();
    lock.value.release();
  }
}

export function deployProgram(): Command {
  const program = cliProgram({
    name: 'npm run deploy --',
    description:
      "Deploy Tessera's contracts to the external chain in TESSERA_CHAIN_RPC_URL, paid by the stack's relayer key from the data directory (fund it first: its address is printed). Idempotent: deployed contracts are recorded in <data dir>/deployments.json and not deployed again.",
    exitCodes: [{ code: EXIT_LOCKED, meaning: 'another process (npm start) holds the data directory' }],
    environment: [
      ['TESSERA_CHAIN_RPC_URL', 'the chain to deploy to (required)'],
      ['TESSERA_DATA_DIR', 'data directory with the relayer key (default ./.tessera)'],
      ['TESSERA_DID_REGISTRY_ADDRESS', 'an ERC-1056 registry already on that chain (else one is deployed)'],
      ['TESSERA_MASTER_KEY', 'the key sealing the data directory keys (default <data dir>/keys/master.key)'],
    ],
    examples: ['TESSERA_CHAIN_RPC_URL=http://127.0.0.1:8545 npm run deploy'],
  });
  program.action(deploy);
  return finishProgram(program);
}

if (isMain(import.meta.url)) await runCli(deployProgram());
