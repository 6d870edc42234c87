import { EligibilityRegistry__factory, type Outbox, readEligibility } from '@tessera/contracts';
import { type Logger, type Result, type StatusPurpose, silentLogger } from '@tessera/protocol';
import type { JsonRpcProvider } from 'ethers';
import type { OfferingService } from '../service.js';
import type { OfferingStore } from '../store.js';

const INVESTOR = 'AccreditedInvestorCredential';
const CERTIFIER = 'CertifierCredential';
const registryIface = EligibilityRegistry__factory.createInterface();

/**
 * The identifier of a credential the offerings keep for revocation: its revocation status entry (list URL and index,
 * W3C Bitstring Status List §2.1), which the access token's credentials and the issuer's status events both name.
 */
export function credentialKey(statusListCredential: string, index: number | string): string {
  return `${statusListCredential}#${index}`;
}

/** A change of one credential's status, as the issuer announces it. */
export interface CredentialStatusChange {
  type: string;
  status: string;
  previous: string;
  statusList: number;
  statusIndex: number;
  auditSeq: number;
}

/**
 * What the offerings read of the issuer of investor and certifier credentials: its status changes as they happen,
 * its ledger by type and status (to catch up at start), and its status list URLs. The stack passes its issuer.
 */
export interface CredentialStatuses {
  events: {
    on(event: 'status', listener: (e: CredentialStatusChange) => void): unknown;
    off(event: 'status', listener: (e: CredentialStatusChange) => void): unknown;
  };
  list(query: {
    type: string;
    status: 'revoked' | 'suspended';
    limit: number;
    cursor?: string;
  }): Promise<Result<{ items: { statusList: number; statusIndex: number }[]; nextCursor?: string }>>;
  statusListUrl(listId: number, purpose: StatusPurpose): string;
}

export interface RevocationLinkOptions {
  issuer: Pick<CredentialStatuses, 'events' | 'statusListUrl'>;
  service: Pick<OfferingService, 'revokeCredential' | 'withdrawCertifications'>;
  /** For suspension: the wallets a credential put on chain. */
  store: OfferingStore;
  /** For suspension: freeze and unfreeze in the registry. */
  outbox: Outbox;
  registryAddress: string;
  log?: Logger;
}

/** Freeze (or unfreeze) in the registry every wallet the credential `key` put on chain; `tag` makes the outbox keys. */
async function freezeWallets(
  o: Pick<RevocationLinkOptions, 'store' | 'outbox' | 'registryAddress'>,
  key: string,
  frozen: boolean,
  tag: string,
): Promise<string[]> {
  const rows = await o.store.eligibility().findBy({ credentialId: key, status: 'active' });
  for (const row of rows) await enqueueFreeze(o, row.wallet, frozen, `elig:freeze:${row.wallet}:${tag}`);
  return rows.map((r) => r.wallet);
}

function enqueueFreeze(
  o: Pick<RevocationLinkOptions, 'outbox' | 'registryAddress'>,
  wallet: string,
  frozen: boolean,
  outboxKey: string,
) {
  return o.outbox.enqueue(outboxKey, {
    kind: frozen ? 'eligibility.freeze' : 'eligibility.unfreeze',
    to: o.registryAddress,
    data: registryIface.encodeFunctionData('setFrozen', [wallet, frozen]),
  });
}

export interface RevocationLink {
  /** Resolves once every status change seen so far is queued for the chain. */
  idle(): Promise<void>;
  stop(): void;
}

/**
 * Follow the issuer's status events for AccreditedInvestor credentials (one action, every effect):
 * revoked → `revokeCredential` queues `removeEligibility` for every wallet the credential put on chain, so the
 * investor's next transfer reverts (`NotEligible`); suspended → the registry freezes those wallets for every token
 * (`WalletFrozen`); resumed → unfrozen. Each write goes through the outbox under a key of its event. And for
 * CertifierCredentials: revoked or suspended → the badge of every offering it certified is withdrawn; resumed → back.
 */
export function connectRevocations(o: RevocationLinkOptions): RevocationLink {
  const log = o.log ?? silentLogger;
  const pending = new Set<Promise<void>>();

  async function freeze(key: string, frozen: boolean, auditSeq: number) {
    const wallets = await freezeWallets(o, key, frozen, String(auditSeq));
    if (wallets.length > 0) log.info({ wallets, frozen }, 'investor wallets (un)frozen');
  }

  const onStatus = (e: CredentialStatusChange) => {
    const key = credentialKey(o.issuer.statusListUrl(e.statusList, 'revocation'), e.statusIndex);
    let work: Promise<void>;
    if (e.type === CERTIFIER) {
      // a certification shows only while its certifier's credential verifies (the badge)
      if (e.status !== 'revoked' && e.status !== 'suspended' && e.previous !== 'suspended') return;
      work = o.service.withdrawCertifications(key, e.status !== 'active').then((ids) => {
        if (ids.length > 0) log.info({ offerings: ids, status: e.status }, 'certification badge withdrawn or restored');
      });
    } else if (e.type !== INVESTOR) {
      return;
    } else if (e.status === 'revoked') {
      work = o.service.revokeCredential(key).then((r) => {
        if (r.ok && r.value.wallets.length > 0) log.info({ wallets: r.value.wallets }, 'investor eligibility removed');
      });
    } else if (e.status === 'suspended') {
      work = freeze(key, true, e.auditSeq);
    } else if (e.status === 'active' && e.previous === 'suspended') {
      work = freeze(key, false, e.auditSeq);
    } else {
      return;
    }
    const run = work
      .catch((err) => log.error({ err, credential: key }, 'applying an investor credential status change failed'))
      .finally(() => pending.delete(run));
    pending.add(run);
  };
  o.issuer.events.on('status', onStatus);
  return {
    idle: async () => {
      await Promise.allSettled([...pending]);
    },
    stop: () => {
      o.issuer.events.off('status', onStatus);
    },
  };
}

/** Every credential of the issuer of `type` with `status`, by its key (`credentialKey`). */
async function credentialKeys(
  issuer: Pick<CredentialStatuses, 'list' | 'statusListUrl'>,
  status: 'revoked' | 'suspended',
  type = INVESTOR,
): Promise<string[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await issuer.list({ type, status, limit: 500, ...(cursor ? { cursor } : {}) });
    if (!page.ok) throw new Error(`listing ${status} credentials: ${page.error.message}`);
    for (const c of page.value.items) {
      keys.push(credentialKey(issuer.statusListUrl(c.statusList, 'revocation'), c.statusIndex));
    }
    cursor = page.value.nextCursor;
  } while (cursor);
  return keys;
}

export interface ReconcileOptions extends Pick<RevocationLinkOptions, 'store' | 'outbox' | 'registryAddress'> {
  issuer: Pick<CredentialStatuses, 'list' | 'statusListUrl'>;
  service: Pick<OfferingService, 'revokeCredential' | 'withdrawCertifications' | 'certifierCredentials'>;
  /** Reads the registry's frozen flags. */
  provider: JsonRpcProvider;
}

/**
 * At start, catch up on what a stopped process missed between the issuer's commit and the event handler above,
 * from the issuer's current statuses rather than from events:
 * - every revoked AccreditedInvestor credential: its wallets' eligibility removed (only active records are touched);
 * - every wallet still eligible: frozen in the registry exactly when its credential is suspended now, so a suspension
 *   and a resumption while nobody listened both take effect. Only the suspension path sets the registry's frozen
 *   flag, so the flag on chain is compared with the issuer's status and written only where they differ;
 * - every certification badge: withdrawn exactly when its certifier's CertifierCredential is revoked or suspended now.
 * Idempotent: a second run finds nothing to do once the first run's writes are mined.
 */
export async function reconcileRevocations(
  o: ReconcileOptions,
): Promise<{ removed: number; frozen: number; unfrozen: number; badges: number }> {
  let removed = 0;
  for (const key of await credentialKeys(o.issuer, 'revoked')) {
    const r = await o.service.revokeCredential(key);
    if (r.ok) removed += r.value.wallets.length;
  }
  const suspended = new Set(await credentialKeys(o.issuer, 'suspended'));
  const registry = EligibilityRegistry__factory.connect(o.registryAddress, o.provider);
  const at = Date.now();
  let frozen = 0;
  let unfrozen = 0;
  for (const row of await o.store.eligibility().findBy({ status: 'active' })) {
    const want = suspended.has(row.credentialId);
    const onChain = await readEligibility(registry, row.wallet);
    // no record on chain yet (its write still queued): setFrozen would revert NoRecord; the next start catches up
    if (onChain.expiry === 0 || onChain.frozen === want) continue;
    await enqueueFreeze(o, row.wallet, want, `elig:freeze:${row.wallet}:start:${at}`);
    if (want) frozen++;
    else unfrozen++;
  }
  const dead = new Set([
    ...(await credentialKeys(o.issuer, 'revoked', CERTIFIER)),
    ...(await credentialKeys(o.issuer, 'suspended', CERTIFIER)),
  ]);
  let badges = 0;
  for (const key of await o.service.certifierCredentials()) {
    badges += (await o.service.withdrawCertifications(key, dead.has(key))).length;
  }
  return { removed, frozen, unfrozen, badges };
}
