import { type ErrorShape, err, ok, parseEthrDid, type Result } from '@tessera/protocol';
import type { DIDDocument, DIDResolutionOptions, DIDResolutionResult, Resolvable } from 'did-resolver';
import { Resolver } from 'did-resolver';
import { computeAddress, type JsonRpcProvider } from 'ethers';
import { getResolver } from 'ethr-did-resolver';
import { LRUCache } from 'lru-cache';
import type { IdentityChange, RegistryWatcher } from './registry-watcher.js';

export interface CachedResolverOptions {
  chainId: number;
  provider: JsonRpcProvider;
  registry: string;
  /** Invalidation source; without one nothing is cached (there would be no way to know a document changed). */
  watcher?: RegistryWatcher;
  maxEntries?: number;
}

export interface ResolverStats {
  hits: number;
  misses: number;
  invalidations: number;
  resets: number;
  size: number;
}

/**
 * did:ethr resolution (did-resolver + ethr-did-resolver on the configured chain, with an explicit provider) behind a
 * bounded LRU cache that is invalidated by the registry's own events, never by a timer: a resolve after an on-chain
 * change returns the new document, and an unchanged DID costs no chain call.
 * Implements did-resolver's `Resolvable`, so did-jwt and did-jwt-vc can use it directly.
 */
export class CachedDidResolver implements Resolvable {
  private readonly inner: Resolver;
  private readonly cache: LRUCache<string, DIDResolutionResult>;
  /** identity address → cache key(s) of the DIDs that resolve through it (nearly always one: a string, not a Set) */
  private readonly byIdentity = new Map<string, string | Set<string>>();
  /** identity address → generation, bumped on every change so an in-flight resolution never caches stale data */
  private readonly generation = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<DIDResolutionResult>>();
  private globalGeneration = 0;
  private readonly counters = { hits: 0, misses: 0, invalidations: 0, resets: 0 };
  readonly networkNames: string[];

  constructor(private readonly options: CachedResolverOptions) {
    const hex = `0x${options.chainId.toString(16)}`;
    this.networkNames = [hex, String(options.chainId)];
    this.inner = new Resolver(
      getResolver({
        // ethr-did-resolver's typings point at ethers' CommonJS build; the runtime object is the same ethers 6 provider.
        networks: [
          { name: hex, chainId: options.chainId, provider: options.provider as never, registry: options.registry },
        ],
      }),
    );
    this.cache = new LRUCache({
      max: options.maxEntries ?? 100_000,
      dispose: (_value, key) => this.unindex(key),
    });
    options.watcher?.on('change', (c: IdentityChange) => this.invalidateIdentity(c.identity));
    options.watcher?.on('reset', () => this.clear());
  }

  private unindex(key: string) {
    const identity = this.identityOf(key);
    const keys = identity && this.byIdentity.get(identity);
    if (!keys) return;
    if (typeof keys === 'string') {
      if (keys === key) this.byIdentity.delete(identity);
    } else {
      keys.delete(key);
      if (keys.size === 0) this.byIdentity.delete(identity);
    }
  }

  private index(identity: string, key: string) {
    const keys = this.byIdentity.get(identity);
    if (keys === undefined || keys === key) this.byIdentity.set(identity, key);
    else if (typeof keys === 'string') this.byIdentity.set(identity, new Set([keys, key]));
    else keys.add(key);
  }

  private identityOf(did: string): string | undefined {
    const p = parseEthrDid(did);
    if (!p.ok) return undefined;
    const id = p.value.identifier;
    return id.length === 42 ? id.toLowerCase() : computeAddress(id).toLowerCase();
  }

  /** Forget every cached document of an identity (all its DID spellings). */
  invalidateIdentity(identity: string): void {
    const address = identity.toLowerCase();
    this.generation.set(address, (this.generation.get(address) ?? 0) + 1);
    const keys = this.byIdentity.get(address);
    if (!keys) return;
    this.counters.invalidations++;
    for (const k of typeof keys === 'string' ? [keys] : [...keys]) this.cache.delete(k);
  }

  clear(): void {
    this.globalGeneration++;
    this.counters.resets++;
    this.cache.clear();
    this.byIdentity.clear();
  }

  get stats(): ResolverStats {
    return { ...this.counters, size: this.cache.size };
  }

  /** did-resolver's Resolvable. Errors are reported in didResolutionMetadata, as DID Resolution §7.1 says. */
  async resolve(didUrl: string, _options?: DIDResolutionOptions): Promise<DIDResolutionResult> {
    const parsed = parseEthrDid(didUrl);
    if (!parsed.ok) {
      return {
        didResolutionMetadata: {
          error: parsed.error.code === 'ERR_DID_METHOD_UNSUPPORTED' ? 'unsupportedDidMethod' : 'invalidDid',
          message: parsed.error.message,
        },
        didDocument: null,
        didDocumentMetadata: {},
      };
    }
    const key = parsed.value.did.toLowerCase();
    const hit = this.cache.get(key);
    if (hit) {
      this.counters.hits++;
      return hit;
    }
    const running = this.inflight.get(key);
    if (running) return running;
    this.counters.misses++;
    const identity = this.identityOf(key)!;
    const gen = this.generation.get(identity) ?? 0;
    const global = this.globalGeneration;
    const p = this.inner
      .resolve(parsed.value.did)
      .then((result) => {
        const cacheable = !result.didResolutionMetadata.error && this.options.watcher !== undefined;
        // Cache only if nothing changed for this identity while we were reading the chain.
        if (cacheable && gen === (this.generation.get(identity) ?? 0) && global === this.globalGeneration) {
          const kept = compact(result);
          this.cache.set(key, kept);
          this.index(identity, key);
          return kept;
        }
        return result;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  /** Resolve to a document or a coded error (ERR_DID_MALFORMED, ERR_DID_METHOD_UNSUPPORTED, ERR_DID_NETWORK_UNKNOWN…). */
  async resolveDocument(did: string): Promise<Result<DIDDocument, ErrorShape>> {
    const parsed = parseEthrDid(did);
    if (!parsed.ok) return parsed;
    const network = parsed.value.network;
    if (network !== undefined && !this.networkNames.includes(network.toLowerCase())) {
      return err(
        'ERR_DID_NETWORK_UNKNOWN',
        `did:ethr network '${network}' is not the configured chain ${this.networkNames[0]}`,
      );
    }
    if (network === undefined) {
      return err(
        'ERR_DID_NETWORK_UNKNOWN',
        `did:ethr without a network means mainnet; use did:ethr:${this.networkNames[0]}:…`,
      );
    }
    let result: DIDResolutionResult;
    try {
      result = await this.resolve(did);
    } catch (cause) {
      return err('ERR_DID_RESOLUTION_FAILED', `resolution of ${parsed.value.did} failed: ${(cause as Error).message}`);
    }
    const e = result.didResolutionMetadata.error;
    if (e === 'notFound' || (result.didDocumentMetadata as { deactivated?: boolean }).deactivated) {
      return err('ERR_DID_NOT_FOUND', `${parsed.value.did} is not found or deactivated`);
    }
    if (e === 'unknownNetwork') return err('ERR_DID_NETWORK_UNKNOWN', `${parsed.value.did}: unknown network`);
    if (e === 'invalidDid')
      return err('ERR_DID_MALFORMED', String(result.didResolutionMetadata.message ?? 'invalid DID'));
    if (e || !result.didDocument) {
      return err(
        'ERR_DID_RESOLUTION_FAILED',
        `${parsed.value.did}: ${e ?? 'no document'} ${result.didResolutionMetadata.message ?? ''}`.trim(),
      );
    }
    return ok(result.didDocument);
  }
}

/**
 * The copy of a resolution result that the cache keeps for as long as the DID does not change (one per device in a
 * fleet): a JSON round trip gives it flat strings (not slices of the RPC response or concatenations that keep their
 * parts alive) and the same object shapes for every document. Resolution results are JSON by definition (DID Core).
 * Equal strings are kept once: within a document (the DID and its `#controller` ids recur in id, controller,
 * authentication and assertionMethod), and across documents for strings that name no account (contexts, types,
 * content type), which every document of the fleet repeats.
 */
function compact(result: DIDResolutionResult): DIDResolutionResult {
  const own = new Map<string, string>();
  return JSON.parse(JSON.stringify(result), (_key, value: unknown) =>
    typeof value === 'string' ? intern(value, own) : value,
  ) as DIDResolutionResult;
}

/** Strings every cached document may share (no account in them); bounded, so hostile input cannot grow it. */
const SHARED_STRINGS = new Map<string, string>();
const SHARED_STRINGS_MAX = 1024;
const NAMES_AN_ACCOUNT = /[0-9a-f]{40}/i;

function intern(s: string, own: Map<string, string>): string {
  const pool = NAMES_AN_ACCOUNT.test(s) ? own : SHARED_STRINGS;
  const kept = pool.get(s);
  if (kept !== undefined) return kept;
  if (pool === SHARED_STRINGS && (pool.size >= SHARED_STRINGS_MAX || s.length > 256)) return s;
  pool.set(s, s);
  return s;
}
