import { createHash } from 'node:crypto';
import { err, ok, type Result } from '@tessera/protocol';
import type { DataSource, EntityManager, EntitySchema } from 'typeorm';
import { AuditEntity, type AuditRow } from './store.js';

/**
 * The issuer's append-only audit trail. Each entry's hash covers its sequence number, the previous entry's hash and
 * the canonical JSON of who did what, when, with which details; so editing an entry breaks its own hash, deleting one
 * breaks the chain, and deleting the tail is caught by comparing with the head anchored on chain (TesseraAnchor).
 */

/** Hash of "nothing before": the previous hash of entry 1. */
export const GENESIS_HASH = '0'.repeat(64);

export interface AuditEntry {
  seq: number;
  /** ISO 8601 time of the action. */
  when: string;
  /** DID (or service name) of whoever acted. */
  who: string;
  /** What happened, for example `credential.issue`, `credential.revoke`. */
  what: string;
  details: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

/** Canonical JSON (RFC 8785 style for the values we store): object keys sorted, no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in audit data');
    if (value === undefined) return 'null';
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

export function auditHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = canonicalJson({
    seq: e.seq,
    prevHash: e.prevHash,
    who: e.who,
    what: e.what,
    when: e.when,
    details: e.details,
  });
  return createHash('sha256').update(body).digest('hex');
}

/**
 * A table that holds a hash-chained trail: the issuer's audit trail, and any other trail with the same columns (the
 * data exchange keeps its own). The chain mechanics below are the one implementation of that concept.
 */
export type ChainTable = EntitySchema<AuditRow>;

/** A stored chain row as an entry (details parsed; throws if they are not JSON). */
export const chainEntry = (r: AuditRow): AuditEntry => ({
  seq: r.seq,
  when: r.at,
  who: r.actor,
  what: r.action,
  details: JSON.parse(r.details) as Record<string, unknown>,
  prevHash: r.prevHash,
  hash: r.hash,
});

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

/** Append one entry to the trail in `table`, inside the caller's transaction (a racing writer collides on `seq`). */
export async function appendChainEntry(
  manager: EntityManager,
  table: ChainTable,
  entry: { who: string; what: string; when: string; details: Record<string, unknown> },
): Promise<AuditEntry> {
  const repo = manager.getRepository(table);
  const last = await repo.find({ order: { seq: 'DESC' }, take: 1 });
  const seq = (last[0]?.seq ?? 0) + 1;
  const prevHash = last[0]?.hash ?? GENESIS_HASH;
  const details = JSON.parse(canonicalJson(entry.details)) as Record<string, unknown>;
  const hash = auditHash({ seq, prevHash, ...entry, details });
  await repo.insert({
    seq,
    at: entry.when,
    actor: entry.who,
    action: entry.what,
    details: canonicalJson(details),
    prevHash,
    hash,
  });
  return { seq, prevHash, hash, ...entry, details };
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

/** The last entry's seq and hash (seq 0 and the genesis hash for an empty trail). */
export async function chainHead(ds: DataSource, table: ChainTable): Promise<{ seq: number; hash: string }> {
  const last = await ds.getRepository(table).find({ order: { seq: 'DESC' }, take: 1 });
  return { seq: last[0]?.seq ?? 0, hash: last[0]?.hash ?? GENESIS_HASH };
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
