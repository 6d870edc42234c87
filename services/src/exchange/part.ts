import type { Logger } from '@tessera/protocol';
import type { Router } from 'express';
import type { ServicesContext } from '../stack/services-part.js';
import { HostedKeyring } from './hosted-keys.js';
import { buildExchangeRouter } from './http.js';
import { ExchangeService } from './service.js';
import { ExchangeStore } from './store.js';

/** How often the stack anchors the exchange trail's head when it moved (the issuer's audit trail uses the same). */
export const EXCHANGE_ANCHOR_INTERVAL_MS = 60_000;

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
export async function startExchangePart(ctx: ServicesContext, log: Logger): Promise<ExchangePart> {
  const hostedKeys = new HostedKeyring({
    keystore: ctx.keystore,
    outbox: ctx.outbox,
    provider: ctx.provider,
    registry: ctx.contracts.EthereumDIDRegistry,
    invalidate: (identity) => ctx.resolver.invalidateIdentity(identity),
  });
  const loaded = await hostedKeys.load();
  if (loaded > 0) log.info({ organisations: loaded }, 'exchange: hosted keys with a valid delegation');
  const service = new ExchangeService({
    store: new ExchangeStore(ctx.db),
    resolver: ctx.resolver,
    outbox: ctx.outbox,
    anchorAddress: ctx.contracts.TesseraAnchor,
    provider: ctx.provider,
    keyring: hostedKeys,
    log,
  });
  service.startAnchoring(EXCHANGE_ANCHOR_INTERVAL_MS);
  const router = buildExchangeRouter({
    service,
    requireCredentials: (options) => ctx.verifier.router.requireCredentials(options),
    hostedKeys,
    log,
  });
  return { router, service, hostedKeys, stop: () => service.stop() };
}
