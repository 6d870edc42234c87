export {
  CachedDidResolver,
  RegistryWatcher,
  REGISTRY_EVENT_TOPICS,
  type CachedResolverOptions,
  type IdentityChange,
  type RegistryWatcherOptions,
  type ResolverStats,
} from './resolver/index.js';
