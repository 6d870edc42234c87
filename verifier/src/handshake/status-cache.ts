import type { DeviceChainStatus } from '@tessera/contracts';
import { LRUCache } from 'lru-cache';
import type { DeviceStateWatcher } from './revocation-watcher.js';

/**
 * DeviceRegistry reads behind a cache that the registry's own events invalidate (never a timer), like the
 * DID cache: any event about a device (state change, commissioning, firmware update) drops its entry, and while the
 * watcher's push subscription is down nothing is cached at all. A read that was in flight when an event arrived is
 * not cached.
 */
export class DeviceStatusCache {
  private readonly cache: LRUCache<string, DeviceChainStatus>;
  private readonly generation = new Map<string, number>();
  private live = false;
  readonly stats = { hits: 0, misses: 0, invalidations: 0 };

  constructor(
    private readonly read: (deviceId: string) => Promise<DeviceChainStatus>,
    watcher: DeviceStateWatcher,
    options: { maxEntries?: number } = {},
  ) {
    this.cache = new LRUCache({ max: options.maxEntries ?? 100_000 });
    watcher.on('record', (deviceId: string) => this.invalidate(deviceId));
    watcher.on('live', (live: boolean) => {
      this.live = live;
      if (!live) this.cache.clear();
    });
    this.live = watcher.isLive;
  }

  invalidate(deviceId: string): void {
    const id = deviceId.toLowerCase();
    this.generation.set(id, (this.generation.get(id) ?? 0) + 1);
    if (this.cache.delete(id)) this.stats.invalidations++;
  }

  readStatus = async (deviceId: string): Promise<DeviceChainStatus> => {
    const id = deviceId.toLowerCase();
    const hit = this.cache.get(id);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    const gen = this.generation.get(id) ?? 0;
    const status = await this.read(deviceId);
    if (this.live && gen === (this.generation.get(id) ?? 0)) this.cache.set(id, status);
    return status;
  };
}
