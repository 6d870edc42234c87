import type { JsonRpcProvider } from 'ethers';
import { CachedDidResolver } from './cached-resolver.js';
import { RegistryWatcher } from './registry-watcher.js';

export interface DidResolverOptions {
  chainId: number;
  provider: JsonRpcProvider;
  /** The ERC-1056 registry. */
  registry: string;
  /** Push new heads over WebSocket when the chain offers it; otherwise the watcher polls. */
  wsUrl?: string;
  maxEntries?: number;
  onError?(error: unknown): void;
}

/** The resolver and the watcher that invalidates it; `stop` ends the watcher. */
export interface DidResolution {
  resolver: CachedDidResolver;
  watcher: RegistryWatcher;
  stop(): Promise<void>;
}

/**
 * The one way to build DID resolution: did:ethr on the configured chain through an LRU cache that the registry's own
 * events invalidate (never a cache that waits to expire). The watcher is started before this returns, so nothing
 * changed on chain after it is missed.
 */
export async function createDidResolver(o: DidResolverOptions): Promise<DidResolution> {
  const watcher = new RegistryWatcher({
    registry: o.registry,
    provider: o.provider,
    ...(o.wsUrl ? { wsUrl: o.wsUrl } : {}),
    ...(o.onError ? { onError: o.onError } : {}),
  });
  await watcher.start();
  const resolver = new CachedDidResolver({
    chainId: o.chainId,
    provider: o.provider,
    registry: o.registry,
    watcher,
    ...(o.maxEntries === undefined ? {} : { maxEntries: o.maxEntries }),
  });
  return { resolver, watcher, stop: () => watcher.stop() };
}
