/**
 * Test helper run as a child process: issues credentials and suspends every other one, printing each id only after
 * its transaction has committed, until the parent kills it with SIGKILL. Input: one JSON argument.
 */
import { type DatabaseConfig, makeProvider } from '@tessera/contracts';
import { buildIssuer } from '../issuer.js';
import { openIssuerDatabase } from '../store.js';

const input = JSON.parse(process.argv[2]!) as {
  dataDir: string;
  db: DatabaseConfig;
  rpcUrl: string;
  chainId: number;
  registryAddress: string;
};
const provider = makeProvider(input.rpcUrl, input.chainId);
const dataSource = await openIssuerDatabase(input.db);
const issuer = await buildIssuer(
  { dataDir: input.dataDir },
  { dataSource, provider, chainId: input.chainId, registryAddress: input.registryAddress },
);
const subject = `did:ethr:0x7a69:0x${'c3'.repeat(20)}`;
for (let i = 0; ; i++) {
  const r = await issuer.issue({ type: 'AdminCredential', subject, claims: { name: `Admin ${i}` } });
  if (!r.ok) throw new Error(r.error.message);
  process.stdout.write(`issued ${r.value.id}\n`);
  if (i % 2 === 1) {
    const s = await issuer.suspend(r.value.id);
    if (!s.ok) throw new Error(s.error.message);
    process.stdout.write(`suspended ${r.value.id}\n`);
  }
}
