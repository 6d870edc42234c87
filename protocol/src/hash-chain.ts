import { createHash } from 'node:crypto';

/**
 * A hash-chained trail (the issuer's audit trail, the data exchange's trail): each entry's hash covers its sequence
 * number, the previous entry's hash and the canonical JSON of who did what, when, with which details; so editing an
 * entry breaks its own hash, deleting one breaks the chain, and deleting the tail is caught by comparing with the head
 * anchored on chain. The storage side is `@tessera/contracts`' `appendChainEntry`.
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

/** The hash of one entry: SHA-256 of the canonical JSON of its fields (its own hash excluded). */
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
