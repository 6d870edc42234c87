import { gunzipSync, gzipSync } from 'node:zlib';
import { err, ok, type Result } from './result.js';

/**
 * W3C Bitstring Status List v1.0 codec: a bitstring where bit i is the status of the credential whose
 * `statusListIndex` is i, published GZIP-compressed and multibase base64url encoded in `encodedList`.
 * Only `statusSize` 1 is supported (one bit per credential, one list per purpose).
 */

/** Bitstring Status List §2.1: a list MUST have at least 131,072 entries (16 KiB), for herd privacy. */
export const STATUS_LIST_MIN_ENTRIES = 131_072;
/** Upper bound on a decoded list, in bytes (2^27 entries); refuses gzip bombs from a hostile publisher. */
export const STATUS_LIST_MAX_BYTES = 16 * 1024 * 1024;

export const STATUS_PURPOSES = ['revocation', 'suspension'] as const;
export type StatusPurpose = (typeof STATUS_PURPOSES)[number];

export const STATUS_LIST_ENTRY_TYPE = 'BitstringStatusListEntry';
export const STATUS_LIST_CREDENTIAL_TYPE = 'BitstringStatusListCredential';
export const STATUS_LIST_SUBJECT_TYPE = 'BitstringStatusList';
/**
 * The status of an SD-JWT VC (`status.status_list` `{ idx, uri }`, IETF Token Status List §6.1), carried in the same
 * entry shape as a BitstringStatusListEntry so one check reads both: its `statusListCredential` is the Status List
 * Token's URI, and one entry covers revocation and suspension (the token's 2-bit values).
 */
export const TOKEN_STATUS_ENTRY_TYPE = 'TokenStatusListEntry';
/** Status values of a Token Status List (draft-ietf-oauth-status-list §7.1). */
export const TOKEN_STATUS = { VALID: 0, INVALID: 1, SUSPENDED: 2 } as const;

/** The `credentialStatus` of a credential (Bitstring Status List §2.1, BitstringStatusListEntry). */
export interface BitstringStatusListEntry {
  id: string;
  type: typeof STATUS_LIST_ENTRY_TYPE | typeof TOKEN_STATUS_ENTRY_TYPE;
  statusPurpose: StatusPurpose;
  /** Decimal string, as the spec requires. */
  statusListIndex: string;
  statusListCredential: string;
}

/** The `credentialSubject` of a BitstringStatusListCredential (Bitstring Status List §2.2). */
export interface BitstringStatusListSubject {
  id: string;
  type: typeof STATUS_LIST_SUBJECT_TYPE;
  statusPurpose: StatusPurpose;
  encodedList: string;
}

/**
 * A mutable bitstring with the spec's bit order: index 0 is the most significant (left-most) bit of the first byte
 * (Bitstring Status List §3.2 "the first index ... is located at the left-most bit").
 */
export class Bitstring {
  readonly bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** An all-zero list of `entries` bits (rounded up to whole bytes, at least STATUS_LIST_MIN_ENTRIES). */
  static create(entries: number = STATUS_LIST_MIN_ENTRIES): Bitstring {
    if (!Number.isSafeInteger(entries) || entries < STATUS_LIST_MIN_ENTRIES) {
      throw new RangeError(`a status list has at least ${STATUS_LIST_MIN_ENTRIES} entries, got ${entries}`);
    }
    if (Math.ceil(entries / 8) > STATUS_LIST_MAX_BYTES) throw new RangeError(`a status list is too large: ${entries}`);
    return new Bitstring(new Uint8Array(Math.ceil(entries / 8)));
  }

  /** Wrap existing bytes (copied), e.g. a list kept in a database. */
  static fromBytes(bytes: Uint8Array): Bitstring {
    return new Bitstring(Uint8Array.from(bytes));
  }

  /** Number of entries. */
  get length(): number {
    return this.bytes.length * 8;
  }

  get(index: number): boolean {
    this.check(index);
    return ((this.bytes[index >> 3]! >> (7 - (index & 7))) & 1) === 1;
  }

  set(index: number, value: boolean): void {
    this.check(index);
    const mask = 1 << (7 - (index & 7));
    const i = index >> 3;
    this.bytes[i] = value ? this.bytes[i]! | mask : this.bytes[i]! & ~mask;
  }

  /** `encodedList` form: multibase base64url ('u' prefix, no padding) of the GZIP-compressed bits (§3.1). */
  encode(): string {
    return encodeStatusList(this.bytes);
  }

  private check(index: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= this.length) {
      throw new RangeError(`status list index ${index} is outside 0..${this.length - 1}`);
    }
  }
}

/** GZIP then multibase base64url ('u' + base64url without padding), Bitstring Status List §3.1 Generate Algorithm. */
export function encodeStatusList(bytes: Uint8Array): string {
  return `u${gzipSync(bytes).toString('base64url')}`;
}

/**
 * Decode an `encodedList` (Bitstring Status List §3.2 Expand Algorithm). Accepts the multibase form ('u' prefix)
 * and, for StatusList2021 publishers, the bare base64url form. Never throws on hostile input.
 */
export function decodeStatusList(encoded: unknown): Result<Bitstring> {
  if (typeof encoded !== 'string' || encoded.length === 0) {
    return err('ERR_VC_STATUS_UNAVAILABLE', 'encodedList must be a non-empty string');
  }
  // gzip always starts with 0x1f8b, i.e. base64 'H4sI': a leading 'u' can only be the multibase prefix.
  const body = encoded.startsWith('u') ? encoded.slice(1) : encoded;
  if (!/^[A-Za-z0-9_-]+$/.test(body)) {
    return err('ERR_VC_STATUS_UNAVAILABLE', 'encodedList is not base64url');
  }
  let bytes: Buffer;
  try {
    bytes = gunzipSync(Buffer.from(body, 'base64url'), { maxOutputLength: STATUS_LIST_MAX_BYTES });
  } catch (cause) {
    return err('ERR_VC_STATUS_UNAVAILABLE', `encodedList does not decompress: ${(cause as Error).message}`);
  }
  if (bytes.length * 8 < STATUS_LIST_MIN_ENTRIES) {
    return err(
      'ERR_VC_STATUS_UNAVAILABLE',
      `status list has ${bytes.length * 8} entries, fewer than the ${STATUS_LIST_MIN_ENTRIES} the spec requires`,
    );
  }
  return ok(Bitstring.fromBytes(bytes));
}

/** Build the `credentialStatus` entry for index `index` of the list published at `listUrl`. */
export function statusListEntry(
  listUrl: string,
  index: number,
  statusPurpose: StatusPurpose = 'revocation',
): BitstringStatusListEntry {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad status list index ${index}`);
  return {
    id: `${listUrl}#${index}`,
    type: STATUS_LIST_ENTRY_TYPE,
    statusPurpose,
    statusListIndex: String(index),
    statusListCredential: listUrl,
  };
}

/** The entry for an SD-JWT VC's `status.status_list` reference (Token Status List §6.1). */
export function tokenStatusEntry(uri: string, idx: number): BitstringStatusListEntry {
  if (!Number.isSafeInteger(idx) || idx < 0) throw new RangeError(`bad status list index ${idx}`);
  return {
    id: `${uri}#${idx}`,
    type: TOKEN_STATUS_ENTRY_TYPE,
    statusPurpose: 'revocation',
    statusListIndex: String(idx),
    statusListCredential: uri,
  };
}

/** Build the `credentialSubject` of the status list credential published at `listUrl`. */
export function statusListSubject(
  listUrl: string,
  statusPurpose: StatusPurpose,
  bits: Bitstring,
): BitstringStatusListSubject {
  return { id: `${listUrl}#list`, type: STATUS_LIST_SUBJECT_TYPE, statusPurpose, encodedList: bits.encode() };
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Parse one `credentialStatus` value from a credential (an entry or an array of entries) into entries that this
 * verifier understands. Unknown status types are an error: a status we cannot check must not read as "valid".
 */
export function parseStatusListEntries(value: unknown): Result<BitstringStatusListEntry[]> {
  const items = Array.isArray(value) ? value : [value];
  const out: BitstringStatusListEntry[] = [];
  for (const item of items) {
    if (!isRecord(item)) return err('ERR_VC_MALFORMED', 'credentialStatus must be an object');
    if (item.type !== STATUS_LIST_ENTRY_TYPE) {
      return err('ERR_VC_MALFORMED', `credentialStatus type '${String(item.type)}' is not ${STATUS_LIST_ENTRY_TYPE}`);
    }
    const purpose = item.statusPurpose;
    if (typeof purpose !== 'string' || !(STATUS_PURPOSES as readonly string[]).includes(purpose)) {
      return err('ERR_VC_MALFORMED', `credentialStatus statusPurpose '${String(purpose)}' is not supported`);
    }
    // §2.1: statusListIndex is an integer >= 0 expressed as a string in base 10.
    const index = item.statusListIndex;
    if (typeof index !== 'string' || !/^(0|[1-9][0-9]{0,9})$/.test(index)) {
      return err('ERR_VC_MALFORMED', 'credentialStatus statusListIndex must be a base-10 integer string');
    }
    // §2.1 statusSize: only one-bit entries are read here; a wider entry read as one bit would misreport its status.
    if (item.statusSize !== undefined && item.statusSize !== 1) {
      return err(
        'ERR_VC_MALFORMED',
        `credentialStatus statusSize ${String(item.statusSize)} is not supported (only 1)`,
      );
    }
    const url = item.statusListCredential;
    if (typeof url !== 'string' || !URL.canParse(url)) {
      return err('ERR_VC_MALFORMED', 'credentialStatus statusListCredential must be a URL');
    }
    out.push({
      id: typeof item.id === 'string' ? item.id : `${url}#${index}`,
      type: STATUS_LIST_ENTRY_TYPE,
      statusPurpose: purpose as StatusPurpose,
      statusListIndex: index,
      statusListCredential: url,
    });
  }
  return ok(out);
}
