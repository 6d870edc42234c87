import { EnergyMarket, buildEnergyRouter } from '../energy/index.js';
import type { ContractName, DatabaseParts, Keystore, Outbox } from '@tessera/contracts';
import type { IssuerService } from '@tessera/issuer';
import type { Logger } from '@tessera/protocol';
import type { CachedDidResolver } from '@tessera/verifier';
import type { JsonRpcProvider } from 'ethers';
import type { Router } from 'express';
import type { DataSource } from 'typeorm';
import { type ExchangePart, startExchangePart } from '../exchange/part.js';
import { exchangeDatabaseParts } from '../exchange/store.js';
import { startOfferingsPart } from '../offerings/http/part.js';
import { offeringsDatabaseParts } from '../offerings/store.js';
import type { StackConfig } from './config.js';
import type { ActorIdentity, StackActor } from './identities.js';
import type { VerifierPart } from './verifier-part.js';

/**
 * The one place where the credential-gated services join the stack: their tables (added to the stack's database
 * before migrations run) and their routers (mounted under `/services/<name>` behind the verifier's guard).
 * Each service adds one entry to SERVICE_DATABASE_PARTS and one block to startServices; nothing else in the
 * composition root changes when a service is added.
 */
export const SERVICE_DATABASE_PARTS: DatabaseParts[] = [offeringsDatabaseParts, exchangeDatabaseParts];

export interface ServicesContext {
  config: Readonly<StackConfig>;
  /** Mount routers here (already behind the stack's error handler and 404). */
  parts: Router;
  publicUrl: string;
  db: DataSource;
  outbox: Outbox;
  provider: JsonRpcProvider;
  chainId: number;
  contracts: Record<ContractName, string>;
  keystore: Keystore;
  identities: Record<StackActor, ActorIdentity>;
  resolver: CachedDidResolver;
  issuer: IssuerService;
  verifier: VerifierPart;
  log: Logger;
}

export interface RunningServices {
  /** Mount points, for the ready line and `/`. */
  urls: Record<string, string>;
  /** The data exchange (its trail can be anchored on demand, e.g. before a shutdown or in a test). */
  exchange: ExchangePart;
  stop(): Promise<void>;
}

export async function startServices(ctx: ServicesContext): Promise<RunningServices> {
  const urls: Record<string, string> = {};
  const stops: (() => Promise<void> | void)[] = [];
  // Services register here: build the router with ctx.verifier.router.requireCredentials guards, then
  //   ctx.parts.use('/services/<name>', router); urls.<name> = `${ctx.publicUrl}/services/<name>`;
  //   stops.push(() => service.stop());

  // token offerings (issue 8): outbox account made attester, lost eligibility writes re-queued, revocations followed
  const offerings = await startOfferingsPart(ctx);
  ctx.parts.use('/services/offerings', offerings.router);
  urls.offerings = `${ctx.publicUrl}/services/offerings`;
  stops.push(() => offerings.stop());

  // energy market (issue 7): credential-gated orders per meter. Meter readings over MQTT and on-chain settlement
  // are not wired into the stack yet (no embedded broker in the stack, EnergyCredit not deployed by it), so books
  // collect orders and a period stays open until its readings exist.
  const market = new EnergyMarket({});
  const energy = buildEnergyRouter({
    market,
    guard: (o) => ctx.verifier.router.requireCredentials(o),
    logger: ctx.log.child({ part: 'energy' }),
    publicUrl: `${ctx.publicUrl}/services/energy`,
  });
  ctx.parts.use('/services/energy', energy);
  urls.energy = `${ctx.publicUrl}/services/energy`;

  // trusted data exchange (issue 9): API, HTML interface at /services/exchange/ui, trail anchored every minute
  const exchange = await startExchangePart(ctx, ctx.log.child({ part: 'exchange' }));
  ctx.parts.use('/services/exchange', exchange.router);
  urls.exchange = `${ctx.publicUrl}/services/exchange`;
  urls.exchangeUi = `${ctx.publicUrl}/services/exchange/ui`;
  stops.push(() => exchange.stop());

  return {
    urls,
    exchange,
    async stop() {
      for (const s of stops.reverse()) await s();
    },
  };
}
