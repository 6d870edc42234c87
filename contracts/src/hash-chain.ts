import { type AuditEntry, auditHash, canonicalJson, GENESIS_HASH } from '@tessera/protocol';
import type { DataSource, EntityManager, EntitySchema } from 'typeorm';

/** A stored entry of a hash-chained trail (protocol's `auditHash` chain). */
export interface ChainRow {
  seq: number;
  at: string;
  actor: string;
  action: string;
  /** Canonical JSON of the details. */
  details: string;
  prevHash: string;
  hash: string;
}

/** A table that holds a hash-chained trail: the issuer's audit trail, and any other trail with the same columns. */
export type ChainTable = EntitySchema<ChainRow>;

/** A stored chain row as an entry (details parsed; throws if they are not JSON). */
export const chainEntry = (r: ChainRow): AuditEntry => ({
  seq: r.seq,
  when: r.at,
  who: r.actor,
  what: r.action,
  details: JSON.parse(r.details) as Record<string, unknown>,
  prevHash: r.prevHash,
  hash: r.hash,
});

/**
 * Append one entry to the trail in `table`, inside the caller's transaction, so the entry and the change it records
 * commit together. Two writers racing for the same `seq` collide on the primary key; the loser's transaction fails
 * and is retried.
 */
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

/** The last entry's seq and hash (seq 0 and the genesis hash for an empty trail). */
export async function chainHead(ds: DataSource, table: ChainTable): Promise<{ seq: number; hash: string }> {
  const last = await ds.getRepository(table).find({ order: { seq: 'DESC' }, take: 1 });
  return { seq: last[0]?.seq ?? 0, hash: last[0]?.hash ?? GENESIS_HASH };
}
