import { appendChainEntry, chainEntry, chainHead, verifyChain } from '@tessera/contracts';
import type { AuditEntry } from '@tessera/protocol';
import { err, ok, type Result } from '@tessera/protocol';
import type { DataSource, EntityManager } from 'typeorm';
import { sha256Hex } from './messages.js';
import { MessageEntity, type MessageRow, TrailEntity } from './store.js';

/**
 * The exchange trail: append-only and hash-chained exactly like the issuer's audit trail (same entry fields, same
 * canonical JSON, same `auditHash`), in a table and under an anchor trail id of its own. Each entry's hash covers its
 * seq, the previous hash and its content, so an edited entry breaks its own hash and a deleted one breaks the chain;
 * a deleted tail is caught against the head anchored on chain (TesseraAnchor). Entries also carry the SHA-256 of the
 * signed message or acknowledgement they record, so an edit of the stored JWS is caught too.
 */

export type TrailEntry = AuditEntry;

/** Append one entry inside the caller's transaction; a racing writer collides on `seq` (primary key) and fails. */
export function appendTrail(
  m: EntityManager,
  entry: { who: string; what: string; when: string; details: Record<string, unknown> },
): Promise<TrailEntry> {
  return appendChainEntry(m, TrailEntity, entry);
}

export async function readTrail(
  ds: DataSource,
  q: { afterSeq?: number; limit?: number; party?: string } = {},
): Promise<TrailEntry[]> {
  const qb = ds
    .getRepository(TrailEntity)
    .createQueryBuilder('t')
    .orderBy('t.seq', 'ASC')
    .take(Math.min(Math.max(q.limit ?? 100, 1), 1000));
  if (q.afterSeq !== undefined) qb.andWhere('t.seq > :after', { after: q.afterSeq });
  // Parties see the entries they took part in: as the actor, or named as the other party in the details.
  if (q.party !== undefined) {
    qb.andWhere('(t.actor = :party OR t.details LIKE :named)', {
      party: q.party,
      named: `%${JSON.stringify(q.party)}%`,
    });
  }
  return (await qb.getMany()).map(chainEntry);
}

export function trailHead(ds: DataSource): Promise<{ seq: number; hash: string }> {
  return chainHead(ds, TrailEntity);
}

export interface TrailVerification {
  length: number;
  head: { seq: number; hash: string };
  /** The head anchored on chain that the trail was checked against (seq 0 = none yet). */
  anchored?: { seq: number; hash: string };
}

/**
 * Walk the whole trail and recompute every hash; check that each recorded message and acknowledgement still hashes
 * to what the trail says; with `anchored`, check the entry at the anchored seq against it and that the trail reaches it.
 *
 * @returns the head, or ERR_EXCHANGE_TRAIL_TAMPERED with `{ seq, reason }` for the first entry that does not verify.
 */
export async function verifyTrail(
  ds: DataSource,
  options: { anchored?: { seq: number; hash: string }; batchSize?: number } = {},
): Promise<Result<TrailVerification>> {
  const messages = ds.getRepository(MessageEntity);
  const r = await verifyChain(ds, TrailEntity, {
    noun: { one: 'trail entry', many: 'trail entries' },
    batchSize: options.batchSize ?? 500,
    ...(options.anchored ? { anchored: options.anchored } : {}),
    // Each entry that records a message carries the SHA-256 of its JWS (and of the acknowledgement's): the stored
    // message must still hash to it.
    checkPage: async (entries) => {
      const ids = [
        ...new Set(entries.map((e) => (e.details as { messageId?: string }).messageId).filter(Boolean)),
      ] as string[];
      const byId = new Map<string, MessageRow>();
      if (ids.length > 0) {
        for (const m of await messages.createQueryBuilder('m').where('m.id IN (:...ids)', { ids }).getMany()) {
          byId.set(m.id, m);
        }
      }
      return (entry) => {
        const d = entry.details as { messageId?: string; messageHash?: string; ackHash?: string };
        if (d.messageId === undefined) return undefined;
        const m = byId.get(d.messageId);
        if (!m) return `message ${d.messageId} is missing`;
        if (sha256Hex(m.jws) !== d.messageHash || m.hash !== d.messageHash) {
          return `message ${d.messageId} was changed after it was recorded`;
        }
        if (d.ackHash !== undefined && (m.ackJws === null || sha256Hex(m.ackJws) !== d.ackHash)) {
          return `the acknowledgement of ${d.messageId} was changed after it was recorded`;
        }
        return undefined;
      };
    },
  });
  if (!r.ok) return err('ERR_EXCHANGE_TRAIL_TAMPERED', r.break.message, { seq: r.break.seq, reason: r.break.reason });
  return ok({ ...r.value, ...(options.anchored ? { anchored: options.anchored } : {}) });
}
