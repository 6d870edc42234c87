import { type Result, TesseraError } from '@tessera/protocol';
import type { InMemoryStatusListProvider, StatusListProvider, StatusListSnapshot } from './status.js';

/** How long a status list fetched on demand is used before it is fetched again (the freshness bound), in ms. */
export const DEFAULT_STATUS_MAX_AGE_MS = 60_000;
/** How long the last good copy is still used while its issuer cannot be reached, in ms; then the list is unavailable. */
export const DEFAULT_STATUS_MAX_STALE_MS = 10 * 60_000;

export interface FreshStatusListsOptions {
  lists: InMemoryStatusListProvider;
  /** Fetch, verify and install one list (`StatusListSync.refresh`); concurrent calls for one URL share a fetch. */
  refresh(url: string): Promise<Result<true>>;
  maxAgeMs?: number;
  maxStaleMs?: number;
  now?: () => number;
}

/**
 * Status lists of any trusted issuer, kept fresh (DESIGN §4): a list pushed by an issuer in this process (its change
 * events) is always current; any other list — a foreign issuer's Bitstring Status List credential or Status List
 * Token — is fetched over HTTP on first use and fetched again once it is older than `maxAgeMs`, so a revocation there
 * is seen within that bound. When the issuer cannot be reached, the last verified copy serves for up to `maxStaleMs`
 * after it was fetched; past that the list is unavailable (ERR_VC_STATUS_UNAVAILABLE), never silently assumed clear.
 * A list that could not be read because a dependency of this process is down (the database that holds the issuer's own
 * lists) throws that dependency's TesseraError (ERR_UNAVAILABLE, ERR_STORAGE_UNAVAILABLE) instead.
 */
export class FreshStatusLists implements StatusListProvider {
  /** Lists this class fetched on demand, with when: they age. Lists installed by anyone else are pushed: current. */
  private readonly fetchedAt = new Map<string, number>();
  private readonly maxAge: number;
  private readonly maxStale: number;
  private readonly now: () => number;

  constructor(private readonly o: FreshStatusListsOptions) {
    this.maxAge = o.maxAgeMs ?? DEFAULT_STATUS_MAX_AGE_MS;
    this.maxStale = Math.max(this.maxAge, o.maxStaleMs ?? DEFAULT_STATUS_MAX_STALE_MS);
    this.now = o.now ?? Date.now;
  }

  /** The list at `url` was installed from a push (kept current by events, not by age). */
  markPushed(url: string): void {
    this.fetchedAt.delete(url);
  }

  /** A pushed list could not be refreshed: it is dropped and will be fetched on its next use. */
  forget(url: string): void {
    this.fetchedAt.delete(url);
    this.o.lists.delete(url);
  }

  async getStatusList(url: string): Promise<StatusListSnapshot | undefined> {
    const have = this.o.lists.getStatusList(url);
    const at = this.fetchedAt.get(url);
    if (have && (at === undefined || this.now() - at < this.maxAge)) return have;
    const r = await this.o.refresh(url);
    if (r.ok) {
      this.fetchedAt.set(url, this.now());
      return this.o.lists.getStatusList(url);
    }
    // The issuer did not answer (or answered nonsense): the last verified copy, within the stale bound.
    if (have && at !== undefined && this.now() - at < this.maxStale) return have;
    // Our own dependency is down (the database holding the list): the check names it instead of the list.
    if (r.error.code === 'ERR_UNAVAILABLE' || r.error.code === 'ERR_STORAGE_UNAVAILABLE')
      throw new TesseraError(r.error.code, r.error.message);
    return undefined;
  }
}
