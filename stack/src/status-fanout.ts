import { randomBytes } from 'node:crypto';
import type { Issuer } from '@tessera/issuer';
import type { Logger } from '@tessera/protocol';
import type { Redis } from 'ioredis';

/** The Redis channel replicas publish their issuer's status changes and issuances on. */
export const STATUS_CHANNEL = 'tessera:status-changes';

interface Message {
  /** The replica that made the change (it has applied it already). */
  origin: string;
  kind: 'status' | 'issued';
  /** Status list URLs to refetch. */
  urls: string[];
  /** When the change was committed at the origin (ISO), for the propagation figure. */
  at: string;
}

export interface StatusFanout {
  /** This replica's name on the channel. */
  readonly origin: string;
  /** Changes received from other replicas (and applied). */
  readonly received: number;
  /** Call `fn` whenever another replica's change arrives (or after a reconnection), before its lists are refetched. */
  onRemote(fn: () => void): void;
  stop(): Promise<void>;
}

/**
 * Carry each status change (and issuance) made at this replica's issuer to every other replica sharing Redis: they
 * refetch the lists it touched into their credential core (`onStatusChange`) and drop what they derived from the old
 * state (`onRemote`, such as a device's topic permissions). Without it, another replica's core keeps the list it was
 * pushed last, since only its own issuer's events push lists into it.
 *
 * Redis pub/sub rather than PostgreSQL LISTEN/NOTIFY: replicas already share Redis for nonces and other ephemeral
 * state, and a message carries nothing that must survive (the lists themselves are in the database). A replica that
 * was disconnected may have missed messages, so on every reconnection it refetches every list in use (`onResync`).
 */
export async function startStatusFanout(o: {
  redis: Redis;
  issuer: Pick<Issuer, 'events' | 'tokenStatusListUrl'>;
  core: { onStatusChange(urls: readonly string[]): Promise<void> };
  onResync: () => Promise<void>;
  log: Logger;
}): Promise<StatusFanout> {
  const origin = randomBytes(8).toString('hex');
  const sub = o.redis.duplicate({ lazyConnect: true });
  let received = 0;
  const listeners: (() => void)[] = [];
  const remote = () => {
    for (const fn of listeners) fn();
  };
  let connectedOnce = false;
  sub.on('message', (_channel: string, raw: string) => {
    let m: Message;
    try {
      m = JSON.parse(raw) as Message;
    } catch {
      return;
    }
    if (m.origin === origin || !Array.isArray(m.urls)) return;
    received++;
    remote();
    o.core.onStatusChange(m.urls.filter((u) => typeof u === 'string')).catch((err) => {
      o.log.warn({ err }, 'applying a status change from another replica failed');
    });
  });
  sub.on('ready', () => {
    if (!connectedOnce) {
      connectedOnce = true;
      return;
    }
    // Reconnected: messages may have been missed meanwhile.
    remote();
    o.onResync().catch((err) => o.log.warn({ err }, 'refetching the status lists after a reconnection failed'));
  });
  sub.on('error', (err) => o.log.warn({ err }, 'status change subscription error'));
  await sub.connect();
  await sub.subscribe(STATUS_CHANNEL);

  const publish = (kind: Message['kind'], urls: string[]) => {
    const m: Message = { origin, kind, urls, at: new Date().toISOString() };
    o.redis.publish(STATUS_CHANNEL, JSON.stringify(m)).catch((err) => {
      o.log.warn({ err }, 'publishing a status change to the other replicas failed');
    });
  };
  const onStatus = (e: { statusListCredentials: string[] }) => publish('status', e.statusListCredentials);
  const onIssued = (e: { credential: { statusList: number; credentialStatus: { statusListCredential: string }[] } }) =>
    publish('issued', [
      ...e.credential.credentialStatus.map((s) => s.statusListCredential),
      o.issuer.tokenStatusListUrl(e.credential.statusList),
    ]);
  o.issuer.events.on('status', onStatus);
  o.issuer.events.on('issued', onIssued);
  return {
    origin,
    get received() {
      return received;
    },
    onRemote(fn) {
      listeners.push(fn);
    },
    async stop() {
      o.issuer.events.off('status', onStatus);
      o.issuer.events.off('issued', onIssued);
      await sub.quit().catch(() => sub.disconnect());
    },
  };
}
