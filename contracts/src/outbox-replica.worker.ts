/**
 * One replica's outbox in its own process, for the replicas services test (killed -9 there): it sends through the
 * shared lease on PostgreSQL and submits `TEST_COUNT` mints of 1 to an address derived from each key, printing
 * `leader` when it holds the lease and `ack <key>` for every write it saw mined.
 */
import { Wallet, keccak256, toUtf8Bytes } from 'ethers';
import { makeProvider } from './chain.js';
import { openDatabase } from './db.js';
import { PlainERC20__factory } from './generated/index.js';
import { Outbox, outboxDatabaseParts } from './outbox.js';

const env = (k: string) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`${k} is required`);
  return v;
};

export const recipientOf = (key: string) => `0x${keccak256(toUtf8Bytes(key)).slice(26)}`;

const main = async () => {
  const chainId = Number(env('TEST_CHAIN_ID'));
  const provider = makeProvider(env('TEST_RPC_URL'), chainId);
  const db = await openDatabase({ url: env('TEST_DATABASE_URL') }, outboxDatabaseParts);
  const outbox = new Outbox({
    dataSource: db,
    signer: new Wallet(env('TEST_RELAYER_KEY'), provider),
    provider,
    chainId,
    batchSize: 20,
    lease: { ttlMs: Number(env('TEST_LEASE_MS')), holder: env('TEST_NAME') },
    onError: (e) => process.stderr.write(`outbox: ${String(e)}\n`),
  });
  await outbox.reconcile();
  outbox.start(100);
  const leader = setInterval(() => {
    if (outbox.isSender) {
      process.stdout.write('leader\n');
      clearInterval(leader);
    }
  }, 20);
  const token = env('TEST_TOKEN');
  const iface = PlainERC20__factory.createInterface();
  const prefix = env('TEST_NAME');
  const count = Number(env('TEST_COUNT'));
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const key = `mint:${prefix}:${i}`;
      const row = await outbox.submit(key, {
        kind: 'mint',
        to: token,
        data: iface.encodeFunctionData('mint', [recipientOf(key), 1n]),
      });
      if (row.status === 'mined') process.stdout.write(`ack ${key}\n`);
    }),
  );
  process.stdout.write('done\n');
  clearInterval(leader);
  await outbox.stop();
  await db.destroy();
  provider.destroy();
};

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  main().catch((e) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  });
}
