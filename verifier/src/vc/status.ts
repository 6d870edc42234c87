import { type Bitstring, decodeStatusList, type StatusPurpose, TesseraError } from '@tessera/protocol';

/** A decoded status list as the verifier uses it (Bitstring Status List §2.2, one list per purpose). */
export interface StatusListSnapshot {
  statusPurpose: StatusPurpose;
  bits: Bitstring;
  /** DID of the list's issuer, when known: a credential's list must come from the credential's issuer. */
  issuer?: string;
  /**
   * A Token Status List (draft-ietf-oauth-status-list §4): each entry's status value (0 valid, 1 invalid, 2 suspended,
   * 3 and up application-specific). `bits` is then unused.
   */
  token?: { size: number; get(index: number): number };
}

/**
 * Where the verifier gets status lists. The hot path asks for a list by its `statusListCredential` URL and must not
 * wait on the network when nothing changed: implementations keep lists current from the issuer's change notifications.
 * Return undefined when the list is unknown (the credential is then refused with ERR_VC_STATUS_UNAVAILABLE); throw a
 * TesseraError ERR_UNAVAILABLE or ERR_STORAGE_UNAVAILABLE when a dependency of this process that holds it is down (the
 * credential is then refused with that code).
 */
export interface StatusListProvider {
  getStatusList(url: string): Promise<StatusListSnapshot | undefined> | StatusListSnapshot | undefined;
}

/**
 * Status lists held in memory and updated by push: the issuer (or a subscriber to its notifications) calls `put` with
 * the published `encodedList`, or `setStatus` for a single flip. The next verification sees the change; nothing expires.
 */
export class InMemoryStatusListProvider implements StatusListProvider {
  private readonly lists = new Map<string, StatusListSnapshot>();

  getStatusList(url: string): StatusListSnapshot | undefined {
    return this.lists.get(url);
  }

  /**
   * Install or replace the list published at `url`, from its `encodedList`.
   * Throws a TesseraError-shaped result message on an undecodable list (the previous list stays in place).
   */
  put(url: string, statusPurpose: StatusPurpose, encodedList: string, issuer?: string): void {
    const decoded = decodeStatusList(encodedList);
    if (!decoded.ok) throw new Error(`status list ${url}: ${decoded.error.message}`);
    this.lists.set(url, { statusPurpose, bits: decoded.value, ...(issuer === undefined ? {} : { issuer }) });
  }

  /** Install a list from its bits (copied, so later changes by the caller do not leak in). */
  putBits(url: string, statusPurpose: StatusPurpose, bits: Bitstring, issuer?: string): void {
    const copy = decodeStatusList(bits.encode());
    if (!copy.ok) throw new Error(`status list ${url}: ${copy.error.message}`);
    this.lists.set(url, { statusPurpose, bits: copy.value, ...(issuer === undefined ? {} : { issuer }) });
  }

  /** Install a list already decoded and authenticated, e.g. by `PresentationVerifier.verifyStatusListCredential`. */
  set(url: string, snapshot: StatusListSnapshot): void {
    this.lists.set(url, snapshot);
  }

  /** Flip one entry of a known list (a push notification for a single revocation, suspension or resumption). */
  setStatus(url: string, index: number, value: boolean): void {
    const list = this.lists.get(url);
    if (!list) throw new Error(`status list ${url} is not known`);
    list.bits.set(index, value);
  }

  delete(url: string): void {
    this.lists.delete(url);
  }
}

/** The codes of a dependency of this process that is down: a status check failing on one is answered with it. */
export const DEPENDENCY_DOWN_CODES = ['ERR_UNAVAILABLE', 'ERR_STORAGE_UNAVAILABLE', 'ERR_CHAIN_UNAVAILABLE'] as const;

/** A TesseraError naming a dependency of this process that is down (not a list that is missing or unverifiable). */
export function isDependencyDown(e: unknown): e is TesseraError & { code: (typeof DEPENDENCY_DOWN_CODES)[number] } {
  return e instanceof TesseraError && (DEPENDENCY_DOWN_CODES as readonly string[]).includes(e.code);
}
