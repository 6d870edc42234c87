import { appendChainEntry, chainEntry, chainHead, verifyChain } from '@tessera/contracts';
import { type AuditEntry, err, ok, type Result } from '@tessera/protocol';
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
  const r = await verifyChain(ds, AuditEntity, { ...options, noun: { one: 'audit entry', many: 'audit entries' } });
  if (!r.ok) return err('ERR_AUDIT_TAMPERED', r.break.message, { seq: r.break.seq, reason: r.break.reason });
  return ok(r.value);
}
