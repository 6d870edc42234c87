import { EligibilityRegistry__factory, type Outbox } from '@tessera/contracts';
import type { Logger } from '@tessera/protocol';
import { type JsonRpcProvider, parseEther, type Wallet } from 'ethers';
import type { RequireCredentialsOptions, Verifier } from '@tessera/verifier';
import type { RequestHandler, Router } from 'express';
import type { DataSource } from 'typeorm';
import { OfferingPayments } from '../payments.js';
import { deployOfferingToken, type Offering, OfferingService } from '../service.js';
import { OfferingStore } from '../store.js';
import { buildOfferingsRouter } from './router.js';
import { type CredentialStatuses, connectRevocations, reconcileRevocations } from './revocations.js';

/**
 * Make the outbox account an attester of the EligibilityRegistry. The stack's relayer deploys the registry, and its
 * constructor makes the deployer both admin and attester; on a registry deployed by someone else that handed the
 * admin role to the relayer, the relayer appoints itself through the outbox. Otherwise the registry's admin must do
 * it, and eligibility writes will fail until then (logged).
 */
export async function ensureAttester(
  registryAddress: string,
  outbox: Outbox,
  provider: JsonRpcProvider,
  log: Logger,
): Promise<'already' | 'appointed' | 'not-admin'> {
  const registry = EligibilityRegistry__factory.connect(registryAddress, provider);
  if (await registry.isAttester(outbox.address)) return 'already';
  if ((await registry.admin()).toLowerCase() !== outbox.address.toLowerCase()) {
    log.warn(
      { registry: registryAddress, relayer: outbox.address },
      "the outbox account is not an attester of the EligibilityRegistry and not its admin: the registry's admin must call setAttester",
    );
    return 'not-admin';
  }
  await outbox.enqueue(`offerings:attester:${registryAddress.toLowerCase()}:${outbox.address.toLowerCase()}`, {
    kind: 'eligibility.attester',
    to: registryAddress,
    data: EligibilityRegistry__factory.createInterface().encodeFunctionData('setAttester', [outbox.address, true]),
  });
  await outbox.flush();
  return (await registry.isAttester(outbox.address)) ? 'appointed' : 'not-admin';
}

/**
 * Deploys offering tokens with a key of its own (its transactions must not compete with the outbox's nonces), kept
 * funded by the outbox, one deployment at a time. The key owns the tokens; the outbox account is their agent.
 */
export function tokenDeployer(o: {
  deployer: Wallet;
  outbox: Outbox;
  provider: JsonRpcProvider;
  registryAddress: string;
}): (offering: Offering) => Promise<string> {
  let tail: Promise<unknown> = Promise.resolve();
  const deploy = async (offering: Offering) => {
    const balance = await o.provider.getBalance(o.deployer.address);
    if (balance < parseEther('0.5')) {
      // keyed by the deployer's nonce: one top-up per spending stage, never two for one shortfall
      const nonce = await o.provider.getTransactionCount(o.deployer.address);
      await o.outbox.enqueue(`offerings:fund-deployer:${o.deployer.address.toLowerCase()}:${nonce}`, {
        kind: 'offerings.fund',
        to: o.deployer.address,
        data: '0x',
        value: parseEther('2'),
      });
      await o.outbox.flush();
    }
    return deployOfferingToken(o.deployer, offering, o.registryAddress, o.outbox.address);
  };
  return (offering) => {
    const run = tail.then(
      () => deploy(offering),
      () => deploy(offering),
    );
    tail = run.catch(() => undefined);
    return run;
  };
}

/** What token offerings need from the stack, and nothing more. */
export interface OfferingsPartDeps {
  db: DataSource;
  outbox: Outbox;
  provider: JsonRpcProvider;
  /** The EligibilityRegistry contract. */
  registryAddress: string;
  /** The credential statuses to follow (investor credentials revoked or suspended lose eligibility). */
  statuses: CredentialStatuses;
  /** The key that deploys offering tokens (not the outbox's: its nonces are the outbox's own). */
  tokenDeployer: Wallet;
  /** The credential core's check of one credential (certification credentials). */
  verifyCredential: Verifier['verifyCredential'];
  /** The verifier's route guard. */
  guard: (options: RequireCredentialsOptions) => RequestHandler;
  /** Where the service is mounted. */
  publicUrl: string;
  log: Logger;
}

export interface OfferingsPart {
  router: Router;
  service: OfferingService;
  stop(): void;
}

/** Token offerings as the stack runs them (mounted by services-part.ts at `/services/offerings`). */
export async function startOfferingsPart(ctx: OfferingsPartDeps): Promise<OfferingsPart> {
  const { log, registryAddress } = ctx;
  const attester = await ensureAttester(registryAddress, ctx.outbox, ctx.provider, log);
  if (attester === 'appointed') log.info({ relayer: ctx.outbox.address }, 'outbox account appointed attester');
  const store = new OfferingStore(ctx.db);
  const service = new OfferingService({ store, outbox: ctx.outbox, registryAddress, provider: ctx.provider });
  const reconciled = await service.reconcile();
  if (reconciled.queued > 0) log.info(reconciled, 'offerings: eligibility writes re-queued');
  // follow the issuer first, then catch up on what a stopped process may have missed (both idempotent)
  const revocations = connectRevocations({
    issuer: ctx.statuses,
    service,
    store,
    outbox: ctx.outbox,
    registryAddress,
    log,
  });
  const caughtUp = await reconcileRevocations({
    issuer: ctx.statuses,
    service,
    store,
    outbox: ctx.outbox,
    registryAddress,
    provider: ctx.provider,
  });
  if (caughtUp.removed + caughtUp.frozen + caughtUp.unfrozen > 0) {
    log.info(caughtUp, 'offerings: investor credential statuses missed while stopped applied on chain');
  }
  const payments = new OfferingPayments({
    store,
    outbox: ctx.outbox,
    provider: ctx.provider,
    registryAddress,
    holdings: (id, atBlock) => service.holdings(id, atBlock),
  });
  const router = buildOfferingsRouter({
    service,
    payments,
    store,
    provider: ctx.provider,
    requireCredentials: ctx.guard,
    verifyCredential: ctx.verifyCredential,
    deployToken: tokenDeployer({
      deployer: ctx.tokenDeployer,
      outbox: ctx.outbox,
      provider: ctx.provider,
      registryAddress,
    }),
    publicUrl: ctx.publicUrl,
    log,
  });
  return { router, service, stop: () => revocations.stop() };
}
