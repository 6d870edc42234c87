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

export interface ChainVerification {
  /** Number of entries checked. */
  length: number;
  head: { seq: number; hash: string };
}

/** Why a trail does not verify: the first entry that fails (or the first missing seq) and a short reason. */
export interface ChainBreak {
  seq: number;
  reason: string;
  message: string;
}

/**
 * Walk the whole trail in `table` in seq order and recompute every hash: each entry must follow the previous seq,
 * link to the previous hash and hash to its own content. With `anchored` (the head last written on chain), the entry
 * at the anchored seq must carry the anchored hash and the trail must reach it, so a deleted tail or a trail rewritten
 * wholesale is caught. `checkPage` lets the owner of the trail check what the entries refer to (for example, that a
 * recorded message still hashes to what the entry says): it gets each page's entries and answers, per entry, a reason
 * it does not verify or undefined.
 *
 * @returns the head, or the first break (the owner maps it to its error code).
 */
export async function verifyChain(
  ds: DataSource,
  table: ChainTable,
  options: {
    /** How the messages name one entry and several ("audit entry", "audit entries"). */
    noun: { one: string; many: string };
    anchored?: { seq: number; hash: string };
    batchSize?: number;
    checkPage?: (entries: AuditEntry[]) => Promise<(entry: AuditEntry) => string | undefined>;
  },
): Promise<{ ok: true; value: ChainVerification } | { ok: false; break: ChainBreak }> {
  const repo = ds.getRepository(table);
  const batch = options.batchSize ?? 1000;
  const broken = (seq: number, reason: string, message: string) => ({
    ok: false as const,
    break: { seq, reason, message },
  });
  let expectedSeq = 1;
  let prevHash = GENESIS_HASH;
  let anchoredSeen = false;
  for (;;) {
    const rows = await repo
      .createQueryBuilder('c')
      .where('c.seq >= :from', { from: expectedSeq })
      .orderBy('c.seq', 'ASC')
      .take(batch)
      .getMany();
    if (rows.length === 0) break;
    const entries: (AuditEntry | undefined)[] = rows.map((row) => {
      try {
        return chainEntry(row);
      } catch {
        return undefined;
      }
    });
    const check = options.checkPage
      ? await options.checkPage(entries.filter((e): e is AuditEntry => e !== undefined))
      : undefined;
    for (const [i, row] of rows.entries()) {
      const tampered = (reason: string) => broken(row.seq, reason, `${options.noun.one} ${row.seq}: ${reason}`);
      if (row.seq !== expectedSeq) {
        return broken(expectedSeq, 'missing', `${options.noun.many} ${expectedSeq}..${row.seq - 1} are missing`);
      }
      if (row.prevHash !== prevHash) return tampered('does not link to the previous entry');
      const entry = entries[i];
      if (!entry) return tampered('details are not JSON');
      if (auditHash(entry) !== row.hash) return tampered('content does not match its hash');
      const reason = check?.(entry);
      if (reason !== undefined) return tampered(reason);
      if (options.anchored && row.seq === options.anchored.seq) {
        if (row.hash !== options.anchored.hash) return tampered('differs from the head anchored on chain');
        anchoredSeen = true;
      }
      prevHash = row.hash;
      expectedSeq++;
    }
  }
  if (options.anchored && options.anchored.seq > 0 && !anchoredSeen) {
    return broken(
      expectedSeq,
      'truncated',
      `the trail ends at ${expectedSeq - 1} but entry ${options.anchored.seq} was anchored on chain`,
    );
  }
  return { ok: true, value: { length: expectedSeq - 1, head: { seq: expectedSeq - 1, hash: prevHash } } };
}
