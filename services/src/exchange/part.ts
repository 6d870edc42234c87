import type { Keystore, Outbox } from '@tessera/contracts';
import type { Logger } from '@tessera/protocol';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import type { Resolvable } from 'did-resolver';
import type { JsonRpcProvider } from 'ethers';
import type { RequestHandler, Router } from 'express';
import type { DataSource } from 'typeorm';
import { HostedKeyring } from './hosted-keys.js';
import { buildExchangeRouter } from './http.js';
import { ExchangeService } from './service.js';
import { ExchangeStore } from './store.js';

/** How often the stack anchors the exchange trail's head when it moved (the issuer's audit trail uses the same). */
export const EXCHANGE_ANCHOR_INTERVAL_MS = 60_000;

/** What the data exchange needs from the stack, and nothing more. */
export interface ExchangePartDeps {
  db: DataSource;
  outbox: Outbox;
  provider: JsonRpcProvider;
  /** Resolves DIDs (the stack's event-invalidated cache); `invalidateIdentity` after a delegation it wrote. */
  resolver: Resolvable & { invalidateIdentity(identity: string): void };
  /** Holds the keys the exchange hosts for organisations. */
  keystore: Keystore;
  /** The ERC-1056 registry (hosted keys are delegates there). */
  didRegistry: string;
  /** TesseraAnchor, where the trail's head is anchored. */
  anchorAddress: string;
  /** The verifier's route guard. */
  guard: (options: RequireCredentialsOptions) => RequestHandler;
}

export interface ExchangePart {
  router: Router;
  service: ExchangeService;
  hostedKeys: HostedKeyring;
  stop(): void;
}

/**
 * The data exchange as the stack runs it (mounted by services-part.ts at `/services/exchange`): the stack's
 * database, its event-invalidated DID resolver, the trail anchored on TesseraAnchor through the outbox (the outbox
 * account deployed TesseraAnchor and so is a writer), and keys held for organisations that authorise them on chain
 * (HostedKeyring) so they can use the HTML interface.
 */
export async function startExchangePart(ctx: ExchangePartDeps, log: Logger): Promise<ExchangePart> {
  const hostedKeys = new HostedKeyring({
    keystore: ctx.keystore,
    outbox: ctx.outbox,
    provider: ctx.provider,
    registry: ctx.didRegistry,
    invalidate: (identity) => ctx.resolver.invalidateIdentity(identity),
  });
  const loaded = await hostedKeys.load();
  if (loaded > 0) log.info({ organisations: loaded }, 'exchange: hosted keys with a valid delegation');
  const service = new ExchangeService({
    store: new ExchangeStore(ctx.db),
    resolver: ctx.resolver,
    outbox: ctx.outbox,
    anchorAddress: ctx.anchorAddress,
    provider: ctx.provider,
    keyring: hostedKeys,
    log,
  });
  service.startAnchoring(EXCHANGE_ANCHOR_INTERVAL_MS);
  const router = buildExchangeRouter({
    service,
    requireCredentials: ctx.guard,
    hostedKeys,
    log,
  });
  return { router, service, hostedKeys, stop: () => service.stop() };
}
