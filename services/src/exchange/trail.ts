import { appendChainEntry, chainEntry, chainHead } from '@tessera/contracts';
import { type AuditEntry, auditHash, GENESIS_HASH } from '@tessera/protocol';
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
  const repo = ds.getRepository(TrailEntity);
  const messages = ds.getRepository(MessageEntity);
  const batch = options.batchSize ?? 500;
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let anchoredSeen = false;
  for (;;) {
    const rows = await repo
      .createQueryBuilder('t')
      .where('t.seq >= :from', { from: expectedSeq })
      .orderBy('t.seq', 'ASC')
      .take(batch)
      .getMany();
    if (rows.length === 0) break;
    const ids = [
      ...new Set(rows.map((r) => (JSON.parse(r.details) as { messageId?: string }).messageId).filter(Boolean)),
    ] as string[];
    const byId = new Map<string, MessageRow>();
    if (ids.length > 0) {
      for (const m of await messages.createQueryBuilder('m').where('m.id IN (:...ids)', { ids }).getMany()) {
        byId.set(m.id, m);
      }
    }
    for (const row of rows) {
      const tampered = (reason: string) =>
        err('ERR_EXCHANGE_TRAIL_TAMPERED', `trail entry ${row.seq}: ${reason}`, { seq: row.seq, reason });
      if (row.seq !== expectedSeq) {
        return err('ERR_EXCHANGE_TRAIL_TAMPERED', `trail entries ${expectedSeq}..${row.seq - 1} are missing`, {
          seq: expectedSeq,
          reason: 'missing',
        });
      }
      if (row.prevHash !== prevHash) return tampered('does not link to the previous entry');
      let entry: TrailEntry;
      try {
        entry = chainEntry(row);
      } catch {
        return tampered('details are not JSON');
      }
      if (auditHash(entry) !== row.hash) return tampered('content does not match its hash');
      const d = entry.details as { messageId?: string; messageHash?: string; ackHash?: string };
      if (d.messageId !== undefined) {
        const m = byId.get(d.messageId);
        if (!m) return tampered(`message ${d.messageId} is missing`);
        if (sha256Hex(m.jws) !== d.messageHash || m.hash !== d.messageHash) {
          return tampered(`message ${d.messageId} was changed after it was recorded`);
        }
        if (d.ackHash !== undefined && (m.ackJws === null || sha256Hex(m.ackJws) !== d.ackHash)) {
          return tampered(`the acknowledgement of ${d.messageId} was changed after it was recorded`);
        }
      }
      if (options.anchored && row.seq === options.anchored.seq) {
        if (row.hash !== options.anchored.hash) return tampered('differs from the head anchored on chain');
        anchoredSeen = true;
      }
      prevHash = row.hash;
      expectedSeq++;
    }
  }
  if (options.anchored && options.anchored.seq > 0 && !anchoredSeen) {
    return err(
      'ERR_EXCHANGE_TRAIL_TAMPERED',
      `the trail ends at ${expectedSeq - 1} but entry ${options.anchored.seq} was anchored on chain`,
      { seq: expectedSeq, reason: 'truncated' },
    );
  }
  return ok({
    length: expectedSeq - 1,
    head: { seq: expectedSeq - 1, hash: prevHash },
    ...(options.anchored ? { anchored: options.anchored } : {}),
  });
}
