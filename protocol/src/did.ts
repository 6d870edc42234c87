import { computeAddress, getAddress, isAddress } from 'ethers';
import { err, ok, type Result } from './result.js';

/** Maximum DID length we accept; real did:ethr identifiers are under 120 characters. */
export const MAX_DID_LENGTH = 512;

// DID Core §3.1: did = "did:" method-name ":" method-specific-id
const DID_SYNTAX = /^did:([a-z0-9]+):((?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*(?::(?:[A-Za-z0-9._-]|%[0-9A-Fa-f]{2})*)*)$/;
const ETHR_ID = /^(?:(0x[0-9a-fA-F]+|[a-z0-9-]+):)?(0x[0-9a-fA-F]{40}|0x0[23][0-9a-fA-F]{64})$/;

export interface ParsedDid {
  did: string;
  method: string;
  id: string;
}

export interface ParsedEthrDid extends ParsedDid {
  method: 'ethr';
  /** network name or hex chain id as written in the DID, or undefined for mainnet form */
  network?: string;
  /** the identifier: an address or a compressed public key */
  identifier: string;
}

/** Parse the DID part of a DID URL (path, query and fragment are stripped). */
export function parseDid(input: unknown): Result<ParsedDid> {
  if (typeof input !== 'string' || input.length === 0)
    return err('ERR_DID_MALFORMED', 'a DID must be a non-empty string');
  if (input.length > MAX_DID_LENGTH)
    return err('ERR_DID_MALFORMED', `a DID must be at most ${MAX_DID_LENGTH} characters`);
  const did = input.split(/[/?#]/, 1)[0]!;
  const m = DID_SYNTAX.exec(did);
  if (!m || m[2]!.length === 0)
    return err('ERR_DID_MALFORMED', `'${did.slice(0, 80)}' is not a DID (expected did:<method>:<id>)`);
  return ok({ did, method: m[1]!, id: m[2]! });
}

/** Parse a did:ethr (ethr-did-resolver's syntax: did:ethr[:network]:address-or-public-key). */
export function parseEthrDid(input: unknown): Result<ParsedEthrDid> {
  const parsed = parseDid(input);
  if (!parsed.ok) return parsed;
  if (parsed.value.method !== 'ethr') {
    return err('ERR_DID_METHOD_UNSUPPORTED', `DID method '${parsed.value.method}' is not supported (only did:ethr)`);
  }
  const m = ETHR_ID.exec(parsed.value.id);
  if (!m) return err('ERR_DID_MALFORMED', `'${parsed.value.did.slice(0, 80)}' is not a valid did:ethr identifier`);
  const network = m[1];
  return ok({
    ...parsed.value,
    method: 'ethr',
    identifier: m[2]!,
    ...(network === undefined ? {} : { network }),
  });
}

/** The canonical did:ethr for an address on a chain: `did:ethr:0x<chainId hex>:0x<address>`. */
export function ethrDid(chainId: number | bigint, address: string): string {
  return `did:ethr:0x${BigInt(chainId).toString(16)}:${address.toLowerCase()}`;
}

/**
 * The account a did:ethr controls at creation (ERC-1056 identity): its address, or the address of its public-key
 * identifier, checksummed (EIP-55); undefined for anything that is not a did:ethr.
 */
export function ethrAddress(did: unknown): string | undefined {
  const parsed = parseEthrDid(did);
  if (!parsed.ok) return undefined;
  const id = parsed.value.identifier;
  try {
    return isAddress(id) ? getAddress(id) : computeAddress(id);
  } catch {
    return undefined;
  }
}
