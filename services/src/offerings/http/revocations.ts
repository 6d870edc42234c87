import { EligibilityRegistry__factory, type Outbox } from '@tessera/contracts';
import type { Issuer } from '@tessera/issuer';
import { type Logger, silentLogger } from '@tessera/protocol';
import type { OfferingService } from '../service.js';
import type { OfferingStore } from '../store.js';

const INVESTOR = 'AccreditedInvestorCredential';
const registryIface = EligibilityRegistry__factory.createInterface();

/**
 * The identifier of a credential the offerings keep for revocation: its revocation status entry (list URL and index,
 * W3C Bitstring Status List §2.1), which the access token's credentials and the issuer's status events both name.
 */
export function credentialKey(statusListCredential: string, index: number | string): string {
  return `${statusListCredential}#${index}`;
}

export interface RevocationLinkOptions {
  issuer: Pick<Issuer, 'events' | 'statusListUrl'>;
  service: Pick<OfferingService, 'revokeCredential'>;
  /** For suspension: the wallets a credential put on chain. */
  store: OfferingStore;
  /** For suspension: freeze and unfreeze in the registry. */
  outbox: Outbox;
  registryAddress: string;
  log?: Logger;
}

export interface RevocationLink {
  /** Resolves once every status change seen so far is queued for the chain. */
  idle(): Promise<void>;
  stop(): void;
}

/**
 * Follow the issuer's status events for AccreditedInvestor credentials (DESIGN §6: one action, every effect):
 * revoked → `revokeCredential` queues `removeEligibility` for every wallet the credential put on chain, so the
 * investor's next transfer reverts (`NotEligible`); suspended → the registry freezes those wallets for every token
 * (`WalletFrozen`); resumed → unfrozen. Each write goes through the outbox under a key of its event.
 */
export function connectRevocations(o: RevocationLinkOptions): RevocationLink {
  const log = o.log ?? silentLogger;
  const pending = new Set<Promise<void>>();

  async function freeze(key: string, frozen: boolean, auditSeq: number) {
    const rows = await o.store.eligibility().findBy({ credentialId: key, status: 'active' });
    for (const row of rows) {
      await o.outbox.enqueue(`elig:freeze:${row.wallet}:${auditSeq}`, {
        kind: frozen ? 'eligibility.freeze' : 'eligibility.unfreeze',
        to: o.registryAddress,
        data: registryIface.encodeFunctionData('setFrozen', [row.wallet, frozen]),
      });
    }
    if (rows.length > 0) log.info({ wallets: rows.map((r) => r.wallet), frozen }, 'investor wallets (un)frozen');
  }

  const onStatus = (e: {
    type: string;
    status: string;
    previous: string;
    statusList: number;
    statusIndex: number;
    auditSeq: number;
  }) => {
    if (e.type !== INVESTOR) return;
    const key = credentialKey(o.issuer.statusListUrl(e.statusList, 'revocation'), e.statusIndex);
    let work: Promise<void>;
    if (e.status === 'revoked') {
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

/**
 * At start: remove the eligibility of every AccreditedInvestor credential the issuer has revoked, in case a process
 * stopped between the issuer's commit and the event handler above. Idempotent (only active records are touched).
 */
export async function reconcileRevocations(
  issuer: Pick<Issuer, 'list' | 'statusListUrl'>,
  service: Pick<OfferingService, 'revokeCredential'>,
): Promise<{ removed: number }> {
  let removed = 0;
  let cursor: string | undefined;
  do {
    const page = await issuer.list({ type: INVESTOR, status: 'revoked', limit: 500, ...(cursor ? { cursor } : {}) });
    if (!page.ok) throw new Error(`listing revoked credentials: ${page.error.message}`);
    for (const c of page.value.items) {
      const r = await service.revokeCredential(
        credentialKey(issuer.statusListUrl(c.statusList, 'revocation'), c.statusIndex),
      );
      if (r.ok) removed += r.value.wallets.length;
    }
    cursor = page.value.nextCursor;
  } while (cursor);
  return { removed };
}
