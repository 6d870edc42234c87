import type { ContractName, DatabaseParts, Keystore, Outbox } from '@tessera/contracts';
import type { IssuerService } from '@tessera/issuer';
import { err, type Logger } from '@tessera/protocol';
import type { CachedDidResolver, RegistryWatcher } from '@tessera/verifier';
import type { JsonRpcProvider } from 'ethers';
import type { Request, Response, Router } from 'express';
import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import {
  type EnergyPart,
  type ExchangePart,
  energyDatabaseParts,
  exchangeDatabaseParts,
  offeringsDatabaseParts,
  loadWhiteflagKeys,
  startEnergyPart,
  startExchangePart,
  startOfferingsPart,
  startWhiteflagPart,
  type WhiteflagPart,
  whiteflagDatabaseParts,
} from '@tessera/services';
import type { StackConfig } from './config.js';
import type { DevicesPart } from './devices-part.js';
import type { ActorIdentity, StackActor } from './identities.js';
import type { VerifierPart } from './verifier-part.js';

/** Where the data exchange's server-rendered interface was; it now leads to the console's exchange page. */
export const EXCHANGE_UI_PATH = '/services/exchange/ui';
export const CONSOLE_EXCHANGE_PAGE = '/#/exchange';

/**
 * The one place where the credential-gated services join the stack: their tables (added to the stack's database
 * before migrations run) and their routers (mounted under `/services/<name>` behind the verifier's guard).
 * Each service adds one entry to SERVICE_DATABASE_PARTS and one block to startServices; nothing else in the
 * composition root changes when a service is added.
 */
export const SERVICE_DATABASE_PARTS: DatabaseParts[] = [
  offeringsDatabaseParts,
  exchangeDatabaseParts,
  energyDatabaseParts,
  whiteflagDatabaseParts,
];

export interface ServicesContext {
  config: Readonly<StackConfig>;
  /** Mount routers here (already behind the stack's error handler and 404). */
  parts: Router;
  publicUrl: string;
  db: DataSource;
  outbox: Outbox;
  provider: JsonRpcProvider;
  /** Refuses with ERR_CHAIN_UNAVAILABLE while the chain is known to be down. */
  assertChainUp?: () => void;
  chainId: number;
  contracts: Record<ContractName, string>;
  keystore: Keystore;
  identities: Record<StackActor, ActorIdentity>;
  resolver: CachedDidResolver;
  /** The registry watcher that invalidates the resolver (parts that must see a block's DID changes wait on it). */
  registryWatcher: Pick<RegistryWatcher, 'waitForBlock'>;
  issuer: IssuerService;
  verifier: VerifierPart;
  /** The embedded MQTT broker (device telemetry) and the device handshake verifier. */
  devices: DevicesPart;
  /** The stack's Prometheus registry (served at /metrics). */
  metrics: Registry;
  log: Logger;
}

export interface RunningServices {
  /** Mount points, for the ready line and `/`. */
  urls: Record<string, string>;
  /** Token offerings (its router carries its OpenAPI document). */
  offerings: { router: Router };
  /** The data exchange (its trail can be anchored on demand, e.g. before a shutdown or in a test). */
  exchange: ExchangePart;
  /** The energy market (its periods can be closed on demand, e.g. in a test). */
  energy: EnergyPart;
  /** Whiteflag (its listener and accounts, e.g. for a test). */
  whiteflag: WhiteflagPart;
  stop(): Promise<void>;
}

export async function startServices(ctx: ServicesContext): Promise<RunningServices> {
  const urls: Record<string, string> = {};
  const stops: (() => Promise<void> | void)[] = [];
  // Services register here: build the router with ctx.verifier.router.requireCredentials guards, then
  //   ctx.parts.use('/services/<name>', router); urls.<name> = `${ctx.publicUrl}/services/<name>`;
  //   stops.push(() => service.stop());

  // token offerings: outbox account made attester, lost eligibility writes re-queued, revocations followed
  const guard = ctx.verifier.core.guard;
  const offerings = await startOfferingsPart({
    db: ctx.db,
    outbox: ctx.outbox,
    provider: ctx.provider,
    registryAddress: ctx.contracts.EligibilityRegistry,
    statuses: ctx.issuer.issuer,
    tokenDeployer: ctx.keystore.getOrCreate('offerings').connect(ctx.provider),
    verifyCredential: ctx.verifier.core.verifyCredential,
    guard,
    publicUrl: `${ctx.publicUrl}/services/offerings`,
    log: ctx.log.child({ part: 'offerings' }),
  });
  ctx.parts.use('/services/offerings', offerings.router);
  urls.offerings = `${ctx.publicUrl}/services/offerings`;
  stops.push(() => offerings.stop());

  // energy market: orders over HTTP, readings over MQTT from gateways authenticated by the handshake on the
  // stack's broker, periods closed on a timer and settled on chain in EnergyCredit through the outbox
  const energy = await startEnergyPart(
    {
      db: ctx.db,
      outbox: ctx.outbox,
      provider: ctx.provider,
      ...(ctx.assertChainUp ? { assertChainUp: ctx.assertChainUp } : {}),
      creditAddress: ctx.contracts.EnergyCredit,
      gridAccount: ctx.keystore.getOrCreate('energy-grid').address,
      guard,
      publicUrl: `${ctx.publicUrl}/services/energy`,
    },
    {
      periodMs: ctx.config.energyPeriodSeconds * 1000,
      metrics: ctx.metrics,
      broker: ctx.devices.broker,
      deviceView: async (deviceId, caller) => {
        if (!ctx.issuer.devices) return err('ERR_UNAVAILABLE', 'the device lifecycle is not enabled on this issuer');
        return ctx.issuer.devices.get(deviceId, { did: caller, roles: [], ownedDeviceDids: [] });
      },
    },
    ctx.log.child({ part: 'energy' }),
  );
  ctx.parts.use('/services/energy', energy.router);
  urls.energy = `${ctx.publicUrl}/services/energy`;
  stops.push(() => energy.stop());

  // trusted data exchange: API (its pages are the console's), trail anchored every minute
  const exchange = await startExchangePart(
    {
      db: ctx.db,
      outbox: ctx.outbox,
      provider: ctx.provider,
      resolver: ctx.resolver,
      keystore: ctx.keystore,
      didRegistry: ctx.contracts.EthereumDIDRegistry,
      anchorAddress: ctx.contracts.TesseraAnchor,
      guard,
    },
    ctx.log.child({ part: 'exchange' }),
  );
  // the exchange's pages are the console's (`/#/exchange`): the server-rendered interface's address leads there
  ctx.parts.use(EXCHANGE_UI_PATH, (_req: Request, res: Response) => {
    res.redirect(303, CONSOLE_EXCHANGE_PAGE);
  });
  ctx.parts.use('/services/exchange', exchange.router);
  urls.exchange = `${ctx.publicUrl}/services/exchange`;
  urls.exchangeUi = `${ctx.publicUrl}${CONSOLE_EXCHANGE_PAGE}`;
  stops.push(() => exchange.stop());

  // Whiteflag (issue 23): operators' signs and signals over HTTP and devices' over MQTT, each from the originator's own
  // account through the outbox; the listener follows the chain into the database; the operator actor sends with its
  // own DID key, other DIDs with a key they authorise on chain
  const keys = ctx.config.whiteflag.keysFile ? loadWhiteflagKeys(ctx.config.whiteflag.keysFile) : undefined;
  const whiteflag = await startWhiteflagPart({
    db: ctx.db,
    outbox: ctx.outbox,
    provider: ctx.provider,
    chainId: ctx.chainId,
    keystore: ctx.keystore,
    contracts: ctx.contracts,
    resolver: ctx.resolver,
    registrySynced: (n) => ctx.registryWatcher.waitForBlock(n),
    guard,
    policy: ctx.verifier.core.policy,
    devices: { broker: ctx.devices.broker, sessions: ctx.verifier.core },
    ...(ctx.issuer.devices ? { vault: ctx.issuer.devices.vault } : {}),
    actorKeys: new Map([[ctx.identities.operator.did.toLowerCase(), 'operator']]),
    publicUrl: `${ctx.publicUrl}/services/whiteflag`,
    config: {
      ...(keys ? { preSharedKeys: keys.preSharedKeys, tokens: keys.tokens } : {}),
      statementOrigins: ctx.config.whiteflag.statementOrigins,
      ...(ctx.config.whiteflag.startBlock !== undefined ? { startBlock: ctx.config.whiteflag.startBlock } : {}),
      confirmations: ctx.config.whiteflag.confirmations,
    },
    log: ctx.log.child({ part: 'whiteflag' }),
  });
  ctx.parts.use('/services/whiteflag', whiteflag.router);
  urls.whiteflag = `${ctx.publicUrl}/services/whiteflag`;
  stops.push(() => whiteflag.stop());

  return {
    urls,
    offerings,
    exchange,
    energy,
    whiteflag,
    async stop() {
      for (const s of stops.reverse()) await s();
    },
  };
}
