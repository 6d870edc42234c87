import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '@tessera/runtime';
import { ethrDid, type HolderKeyFile, TesseraError } from '@tessera/protocol';
import { Wallet } from 'ethers';
import type { Issuer } from './issuer.js';

export const ROOT_ADMIN_WALLET_FILE = 'root-admin-wallet.json';

/**
 * On first start, create the root admin: a fresh did:ethr key and an AdminCredential issued to it, written to
 * `<dataDir>/root-admin-wallet.json` with mode 0600. The key is written before the credential is issued, so a crash
 * in between is finished on the next start instead of leaving an orphan credential. Idempotent.
 *
 * @returns the wallet path and whether it was created now.
 */
export async function ensureRootAdmin(
  issuer: Issuer,
  options: { dataDir: string; chainId: number; name?: string },
): Promise<{ file: string; did: string; created: boolean }> {
  const file = join(options.dataDir, ROOT_ADMIN_WALLET_FILE);
  let wallet: HolderKeyFile;
  if (existsSync(file)) {
    wallet = JSON.parse(readFileSync(file, 'utf8')) as HolderKeyFile;
    if (wallet.credentials.length > 0) return { file, did: wallet.did, created: false };
  } else {
    const key = Wallet.createRandom();
    wallet = {
      did: ethrDid(options.chainId, key.address),
      privateKey: key.privateKey,
      credentials: [],
      createdAt: new Date().toISOString(),
    };
    writeFileAtomic(file, `${JSON.stringify(wallet, null, 2)}\n`, 0o600);
  }
  const vc = await issuer.issue(
    { type: 'AdminCredential', subject: wallet.did, claims: { name: options.name ?? 'root admin', root: true } },
    { actor: 'issuer' },
  );
  if (!vc.ok) throw new TesseraError(vc.error.code, `root admin credential: ${vc.error.message}`);
  wallet.credentials.push(vc.value.jwt);
  writeFileAtomic(file, `${JSON.stringify(wallet, null, 2)}\n`, 0o600);
  return { file, did: wallet.did, created: true };
}
