import { appendChainEntry, chainEntry, chainHead } from '@tessera/contracts';
import { type AuditEntry, auditHash, err, GENESIS_HASH, ok, type Result } from '@tessera/protocol';
import type { DataSource, EntityManager } from 'typeorm';
import { AuditEntity } from './store.js';

/**
 * The issuer's append-only audit trail: protocol's hash chain (`auditHash`) stored in the issuer's table, its head
 * anchored on chain (TesseraAnchor), so deleting the tail is caught by comparing with the anchor.
 */

/**
 * Append one entry inside the caller's transaction, so the entry and the change it records commit together.
 * Two writers racing for the same `seq` collide on the primary key; the loser's transaction fails and is retried.
 */
export function appendAudit(
  manager: EntityManager,
  entry: { who: string; what: string; when: string; details: Record<string, unknown> },
): Promise<AuditEntry> {
  return appendChainEntry(manager, AuditEntity, entry);
}

export interface AuditQuery {
  afterSeq?: number;
  limit?: number;
}

export async function readAudit(ds: DataSource, q: AuditQuery = {}): Promise<AuditEntry[]> {
  const qb = ds
    .getRepository(AuditEntity)
    .createQueryBuilder('a')
    .orderBy('a.seq', 'ASC')
    .take(Math.min(Math.max(q.limit ?? 100, 1), 1000));
  if (q.afterSeq !== undefined) qb.where('a.seq > :after', { after: q.afterSeq });
  return (await qb.getMany()).map(chainEntry);
}

export function auditHead(ds: DataSource): Promise<{ seq: number; hash: string }> {
  return chainHead(ds, AuditEntity);
}

export interface AuditVerification {
  /** Number of entries checked. */
  length: number;
  head: { seq: number; hash: string };
}

/**
 * Walk the whole trail and recompute every hash. With `anchored` (the head last written on chain), also detect that
 * entries up to it were deleted from the end or rewritten wholesale.
 *
 * @returns the head, or ERR_AUDIT_TAMPERED naming the first entry that does not verify.
 */
export async function verifyAuditTrail(
  ds: DataSource,
  options: { anchored?: { seq: number; hash: string }; batchSize?: number } = {},
): Promise<Result<AuditVerification>> {
  const repo = ds.getRepository(AuditEntity);
  const batch = options.batchSize ?? 1000;
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let anchoredSeen = false;
  for (;;) {
    const rows = await repo
      .createQueryBuilder('a')
      .where('a.seq >= :from', { from: expectedSeq })
      .orderBy('a.seq', 'ASC')
      .take(batch)
      .getMany();
    if (rows.length === 0) break;
    for (const row of rows) {
      const tampered = (reason: string) =>
        err('ERR_AUDIT_TAMPERED', `audit entry ${row.seq}: ${reason}`, { seq: row.seq, reason });
      if (row.seq !== expectedSeq) {
        return err('ERR_AUDIT_TAMPERED', `audit entries ${expectedSeq}..${row.seq - 1} are missing`, {
          seq: expectedSeq,
          reason: 'missing',
        });
      }
      if (row.prevHash !== prevHash) return tampered('does not link to the previous entry');
      let entry: AuditEntry;
      try {
        entry = chainEntry(row);
      } catch {
        return tampered('details are not JSON');
      }
      if (auditHash(entry) !== row.hash) return tampered('content does not match its hash');
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
      'ERR_AUDIT_TAMPERED',
      `the trail ends at ${expectedSeq - 1} but entry ${options.anchored.seq} was anchored on chain`,
      { seq: expectedSeq, reason: 'truncated' },
    );
  }
  return ok({ length: expectedSeq - 1, head: { seq: expectedSeq - 1, hash: prevHash } });
}
