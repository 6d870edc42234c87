import { err, ok, type Result } from '@tessera/protocol';
import { type InMemoryStatusListProvider, isDependencyDown } from './status.js';
import type { PresentationVerifier } from './verify.js';

export interface StatusListSyncOptions {
  verifier: Pick<PresentationVerifier, 'verifyStatusListCredential'>;
  provider: Pick<InMemoryStatusListProvider, 'set'>;
  /** Fetch the status list credential JWT published at `url` (HTTP GET in production). */
  fetchList(url: string): Promise<string>;
  /** Called when a refresh fails; the previous list stays in place. */
  onError?(url: string, error: { code: string; message: string }): void;
}

/**
 * Keeps status lists current from the issuer's change notifications: `notify(urls)` on every status change
 * event refetches, verifies and installs those lists. Refreshes of one URL never overlap, and a notification that arrives
 * during a refresh triggers one more refresh after it, so the installed list is never older than the last notification
 * (the issuer signs a list after committing the change). Verification reads only memory: no network on the hot path.
 */
export class StatusListSync {
  private readonly running = new Map<string, Promise<Result<true>>>();
  private readonly again = new Set<string>();

  constructor(private readonly o: StatusListSyncOptions) {}

  /** Refresh these lists (fire and forget; failures go to `onError`). */
  notify(urls: readonly string[]): void {
    for (const url of urls) void this.refresh(url);
  }

  /** Refresh one list; resolves once a fetch started after this call has been installed (or failed). */
  refresh(url: string): Promise<Result<true>> {
    const current = this.running.get(url);
    if (current) {
      // The fetch in flight may have read the list before this change: run once more after it. `current` settles
      // only after that follow-up, so the caller waits for a list at least as new as its notification.
      this.again.add(url);
      return current;
    }
    const run = this.once(url).then(async (r) => {
      this.running.delete(url);
      if (this.again.delete(url)) return this.refresh(url);
      return r;
    });
    this.running.set(url, run);
    return run;
  }

  private async once(url: string): Promise<Result<true>> {
    let jwt: string;
    try {
      jwt = await this.o.fetchList(url);
    } catch (cause) {
      // A fetcher that knows the cause is one of our own dependencies (the database holding our own lists) says so
      // with its code; anything else is the list's publisher not answering.
      const code = isDependencyDown(cause) ? cause.code : 'ERR_VC_STATUS_UNAVAILABLE';
      const e = err(code, `status list ${url} could not be fetched: ${(cause as Error).message}`);
      this.o.onError?.(url, e.error);
      return e;
    }
    const verified = await this.o.verifier.verifyStatusListCredential(jwt, url);
    if (!verified.ok) {
      this.o.onError?.(url, verified.error);
      return verified;
    }
    this.o.provider.set(url, verified.value.snapshot);
    return ok(true);
  }
}
