import { err, ok, parseDid, type Result } from '@tessera/protocol';
import { z } from 'zod';

/**
 * Which issuers are trusted for which credential type (configuration, not code).
 * Keys are VC types (`EnergyProsumerCredential`), values the DIDs allowed to issue them.
 */
export type TrustList = ReadonlyMap<string, ReadonlySet<string>>;

/** did:ethr identifiers are hex addresses: compare them case-insensitively (EIP-55 checksums are cosmetic). */
export function normaliseDid(did: string): string {
  return did.startsWith('did:ethr:') ? did.toLowerCase() : did;
}

const TrustListFile = z.record(
  z.string().min(1).max(128),
  z
    .array(
      z
        .string()
        .max(512)
        .refine((s) => parseDid(s).ok && !/[/?#]/.test(s), 'must be a DID'),
    )
    .max(10_000),
);

/**
 * Parse a trust list from configuration data: `{ "<CredentialType>": ["did:...", ...] }`.
 *
 * @returns the list, or ERR_CONFIG_INVALID listing every problem in `details`.
 * @example parseTrustList({ EnergyProsumerCredential: ['did:ethr:0x7a69:0xabc…'] })
 */
export function parseTrustList(data: unknown): Result<TrustList> {
  const r = TrustListFile.safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
    return err(
      'ERR_CONFIG_INVALID',
      `trust list is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return ok(new Map(Object.entries(r.data).map(([type, dids]) => [type, new Set(dids.map(normaliseDid))])));
}

/** True when `issuer` is trusted for `type`. */
export function isTrustedIssuer(trust: TrustList, type: string, issuer: string): boolean {
  return trust.get(type)?.has(normaliseDid(issuer)) ?? false;
}
