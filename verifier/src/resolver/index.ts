export { CachedDidResolver, type CachedResolverOptions, type ResolverStats } from './cached-resolver.js';
export {
  RegistryWatcher,
  REGISTRY_EVENT_TOPICS,
  type IdentityChange,
  type RegistryWatcherOptions,
} from './registry-watcher.js';
export { createDidResolver, type DidResolution, type DidResolverOptions } from './create.js';
