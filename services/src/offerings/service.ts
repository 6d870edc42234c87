import { createHash } from 'node:crypto';
import {
  countryCode,
  deploySecurityToken,
  EligibilityRegistry__factory,
  identityHash,
  type Outbox,
  type OutboxRow,
  RESTRICTION_ERROR,
  SecurityToken__factory,
  TransferRestriction,
} from '@tessera/contracts';
import {
  err,
  ok,
  parseDid,
  type Result,
  TesseraError,
  TRANSFER_WITH_AUTHORIZATION_TYPES,
  type TransferAuthorization,
  type TransferReceipt,
  transferAuthorizationDomain,
} from '@tessera/protocol';
import { type EntityManager, IsNull, Not } from 'typeorm';
import { getAddress, isAddress, type JsonRpcProvider, Signature, type Signer, verifyTypedData } from 'ethers';
import { type Allocation, allocate } from './allocation.js';
import {
  type Certification,
  CREDENTIAL_BITS,
  checkAccreditedInvestor,
  checkCertification,
  checkInvestor,
  checkTicket,
  credentialBits,
  type InvestorFacts,
  type VerifiedInvestorCredential,
} from './rules.js';
import type { EligibilityRow, OfferingRow, OfferingStatus, OfferingStore, SubscriptionRow } from './store.js';
import { bookCap, type OfferingTerms, parseTerms } from './terms.js';

export interface Offering {
  id: string;
  issuer: string;
  terms: OfferingTerms;
  status: OfferingStatus;
  tokenAddress: string | null;
  certification: Certification | null;
  /** Units in the book. */
  subscribed: number;
  /** Units the book can still take (including the allowed oversubscription). */
  remaining: number;
  createdAt: string;
  allocatedAt: string | null;
}

export type Subscription = SubscriptionRow;

export interface SubscribeRequest {
  offeringId: string;
  /** The investor's wallet: receives the tokens and the eligibility record. */
  wallet: string;
  /** Whole units. */
  quantity: number;
  /** The AccreditedInvestor credential, already verified by the verifier; absent when none was presented. */
  credential: VerifiedInvestorCredential | undefined;
}

export interface Holding {
  wallet: string;
  /** The investor DID the wallet was onboarded for, when this service onboarded it. */
  investor: string | null;
  /** Token base units, as a decimal string. */
  balance: string;
}

export interface MintReport {
  minted: number;
  pending: number;
  failed: { subscriptionId: string; error: string }[];
}

const restrictionName = Object.fromEntries(Object.entries(TransferRestriction).map(([k, v]) => [v, k])) as Record<
  number,
  string
>;

export interface OfferingServiceOptions {
  store: OfferingStore;
  /** Sends the on-chain writes; its account must be an attester of the registry and an agent of each token. */
  outbox: Outbox;
  /** The shared EligibilityRegistry (from `ensureDeployed`). */
  registryAddress: string;
  /** For reads (holdings). */
  provider: JsonRpcProvider;
  now?: () => Date;
  /**
   * Relayed transfers (the platform pays their gas) per holder and offering in any hour; beyond it 429
   * ERR_RATE_LIMITED. Default RELAYED_TRANSFERS_PER_HOUR.
   */
  relayedTransfersPerHour?: number;
}

/** Default budget of relayed transfers per holder and offering per hour: the relayer's gas is not free to drain. */
export const RELAYED_TRANSFERS_PER_HOUR = 20;

const registryIface = EligibilityRegistry__factory.createInterface();
const tokenIface = SecurityToken__factory.createInterface();
const short = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const isUniqueViolation = (e: unknown) => /unique|duplicate key/i.test(String((e as Error)?.message ?? e));

/**
 * The token-offering domain: offerings with validated terms, certification, subscriptions checked against
 * the terms and the investor's verified credential, allocation at close, and the on-chain side through the outbox
 * (eligibility records in the shared registry, mints on the offering's SecurityToken). HTTP and the presentation
 * policy sit in front of this; nothing here trusts a caller beyond the already-verified credential it is given.
 */
export class OfferingService {
  private readonly now: () => Date;

  constructor(private readonly o: OfferingServiceOptions) {
    this.now = o.now ?? (() => new Date());
  }

  private stamp() {
    return this.now().toISOString();
  }

  private nowS() {
    return Math.floor(this.now().getTime() / 1000);
  }

  private view(row: OfferingRow): Offering {
    const terms = JSON.parse(row.terms) as OfferingTerms;
    return {
      id: row.id,
      issuer: row.issuer,
      terms,
      status: row.status,
      tokenAddress: row.tokenAddress,
      certification: row.certification ? (JSON.parse(row.certification) as Certification) : null,
      subscribed: row.subscribed,
      remaining: row.status === 'open' ? Math.max(bookCap(terms) - row.subscribed, 0) : 0,
      createdAt: row.createdAt,
      allocatedAt: row.allocatedAt,
    };
  }

  /** Create an offering for `issuer` (the organisation's DID; its right to issue is checked by the policy). */
  async createOffering(issuer: string, termsInput: unknown): Promise<Result<Offering>> {
    if (!parseDid(issuer).ok) return err('ERR_VALIDATION', 'the issuer must be a DID');
    const terms = parseTerms(termsInput);
    if (!terms.ok) return terms;
    const at = this.stamp();
    const row: OfferingRow = {
      id: terms.value.id,
      issuer,
      terms: JSON.stringify(terms.value),
      status: 'open',
      tokenAddress: null,
      certification: null,
      subscribed: 0,
      createdAt: at,
      updatedAt: at,
      allocatedAt: null,
    };
    try {
      await this.o.store.offerings().insert(row);
    } catch (e) {
      if (isUniqueViolation(e) || (await this.o.store.offerings().existsBy({ id: row.id }))) {
        return err('ERR_OFFERING_EXISTS', `offering ${row.id} already exists`);
      }
      throw e;
    }
    return ok(this.view(row));
  }

  async get(id: string): Promise<Result<Offering>> {
    const row = await this.o.store.offerings().findOneBy({ id });
    return row ? ok(this.view(row)) : err('ERR_OFFERING_NOT_FOUND', `no offering ${id.slice(0, 64)}`);
  }

  /** Record the offering's SecurityToken (deployed with `deployOfferingToken`). Set once. */
  async attachToken(id: string, tokenAddress: string): Promise<Result<Offering>> {
    if (!isAddress(tokenAddress)) return err('ERR_VALIDATION', 'tokenAddress must be an EVM address');
    const row = await this.o.store.offerings().findOneBy({ id });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${id}`);
    if (row.tokenAddress && row.tokenAddress !== tokenAddress.toLowerCase()) {
      return err('ERR_OFFERING_STATE', `offering ${id} already has token ${row.tokenAddress}`);
    }
    row.tokenAddress = tokenAddress.toLowerCase();
    row.updatedAt = this.stamp();
    await this.o.store.offerings().update({ id }, { tokenAddress: row.tokenAddress, updatedAt: row.updatedAt });
    return ok(this.view(row));
  }

  /** Record the certifier's certification of the offering (a reference to its certification credential). */
  async certify(id: string, certification: Certification): Promise<Result<Offering>> {
    const row = await this.o.store.offerings().findOneBy({ id });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${id}`);
    if (row.status !== 'open') return err('ERR_OFFERING_STATE', `offering ${id} is ${row.status}`);
    const terms = JSON.parse(row.terms) as OfferingTerms;
    const checked = checkCertification(terms, row.issuer, certification, this.nowS());
    if (!checked.ok) return checked;
    row.certification = JSON.stringify(checked.value);
    row.updatedAt = this.stamp();
    await this.o.store.offerings().update({ id }, { certification: row.certification, updatedAt: row.updatedAt });
    return ok(this.view(row));
  }

  /** Whether the certification badge should show now (recorded, not expired, its certifier's credential live). */
  isCertified(offering: Offering): boolean {
    const c = offering.certification;
    return c !== null && !c.withdrawn && (c.expiresAt === undefined || c.expiresAt > this.nowS());
  }

  /**
   * The certifier's CertifierCredential `certifierCredentialId` was revoked or suspended (`withdrawn`), or resumed:
   * withdraw or restore the badge of every offering it certified. Returns the offerings changed.
   */
  async withdrawCertifications(certifierCredentialId: string, withdrawn: boolean): Promise<string[]> {
    const changed: string[] = [];
    const rows = await this.o.store.offerings().find({ where: { certification: Not(IsNull()) } });
    for (const row of rows) {
      const c = JSON.parse(row.certification!) as Certification;
      if (c.certifierCredentialId !== certifierCredentialId || Boolean(c.withdrawn) === withdrawn) continue;
      const certification = JSON.stringify({ ...c, withdrawn });
      await this.o.store.offerings().update({ id: row.id }, { certification, updatedAt: this.stamp() });
      changed.push(row.id);
    }
    return changed;
  }

  /** The certifier credentials (their keys) behind the offerings' certifications. */
  async certifierCredentials(): Promise<Set<string>> {
    const out = new Set<string>();
    for (const row of await this.o.store.offerings().find({ where: { certification: Not(IsNull()) } })) {
      const c = JSON.parse(row.certification!) as Certification;
      if (c.certifierCredentialId) out.add(c.certifierCredentialId);
    }
    return out;
  }

  /**
   * Subscribe: the investor's verified AccreditedInvestor credential is checked against the offering (type, expiry,
   * jurisdiction, accreditation, investment limit), the ticket against the terms (dates, min/max, remaining book),
   * and the wallet's eligibility record is queued for the chain.
   */
  async subscribe(req: SubscribeRequest): Promise<Result<Subscription>> {
    const row = await this.o.store.offerings().findOneBy({ id: req.offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${String(req.offeringId).slice(0, 64)}`);
    const offering = this.view(row);
    const terms = offering.terms;
    const investor = checkInvestor(terms, req.credential, this.nowS());
    if (!investor.ok) return investor;
    if (typeof req.wallet !== 'string' || !isAddress(req.wallet)) {
      return err('ERR_VALIDATION', 'wallet must be an EVM address');
    }
    const wallet = getAddress(req.wallet).toLowerCase();
    const cap = bookCap(terms);
    const book = { status: row.status, certified: this.isCertified(offering), subscribed: row.subscribed, cap };
    const ticket = checkTicket(terms, book, req.quantity, investor.value, this.now());
    if (!ticket.ok) return ticket;
    const bound = await this.o.store.eligibility().findOneBy({ wallet });
    if (bound && bound.investor !== investor.value.did) {
      return err('ERR_CONFLICT', 'this wallet is bound to another identity');
    }
    if (bound && bound.status === 'removed' && bound.credentialId === investor.value.credentialId) {
      return err('ERR_VC_REVOKED', 'this credential was revoked for this wallet');
    }
    if (await this.o.store.subscriptions().existsBy({ offeringId: row.id, investor: investor.value.did })) {
      return err('ERR_OFFERING_ALREADY_SUBSCRIBED', `${investor.value.did} already subscribed to ${row.id}`);
    }

    const at = this.stamp();
    const sub: SubscriptionRow = {
      id: `${row.id}:${short(`${investor.value.did}`)}`,
      offeringId: row.id,
      investor: investor.value.did,
      wallet,
      quantity: req.quantity,
      jurisdiction: investor.value.claims.jurisdiction,
      credentialId: investor.value.credentialId,
      status: 'subscribed',
      allocated: null,
      mintKey: null,
      error: null,
      createdAt: at,
      updatedAt: at,
    };
    let refused: Result<never> | undefined;
    let eligibility: EligibilityRow | undefined;
    try {
      await this.o.store.transaction(async (m) => {
        if (!(await this.o.store.takeFromBook(m, row.id, req.quantity, cap, at))) {
          // Someone else took the rest (or closed it) between our read and this update: say which.
          const fresh = (await this.o.store.offerings(m).findOneBy({ id: row.id }))!;
          refused =
            fresh.status !== 'open'
              ? err('ERR_OFFERING_CLOSED', `offering ${row.id} is ${fresh.status}`)
              : err('ERR_OFFERING_SOLD_OUT', `${req.quantity} units requested, ${cap - fresh.subscribed} remain`);
          return;
        }
        await this.o.store.subscriptions(m).insert(sub);
        eligibility = await this.recordEligibility(m, wallet, investor.value);
      });
    } catch (e) {
      if (e instanceof TesseraError && e.code === 'ERR_CONFLICT') return err(e.code, e.message);
      if (isUniqueViolation(e)) {
        return err('ERR_OFFERING_ALREADY_SUBSCRIBED', `${investor.value.did} already subscribed to ${row.id}`);
      }
      throw e;
    }
    if (refused) return refused;
    if (eligibility) await this.queueEligibility(eligibility);
    return ok(sub);
  }

  /**
   * The eligibility record this credential gives the wallet, saved in the caller's transaction (with `m`) unless the
   * same credential already gave it. The outbox write is queued after commit by `queueEligibility`; `reconcile`
   * re-queues it if the process died in between, since the row holds everything the write needs.
   */
  private async recordEligibility(m: EntityManager, wallet: string, inv: InvestorFacts): Promise<EligibilityRow> {
    const repo = this.o.store.eligibility(m);
    const current = await repo.findOneBy({ wallet });
    // Checked before too; again here, inside the transaction, for a race between two identities on one wallet.
    if (current && current.investor !== inv.did) {
      throw new TesseraError('ERR_CONFLICT', 'this wallet is bound to another identity');
    }
    if (current && current.status === 'active' && current.credentialId === inv.credentialId) return current;
    const row: EligibilityRow = {
      wallet,
      investor: inv.did,
      credentialId: inv.credentialId,
      identity: identityHash(inv.did),
      country: inv.claims.jurisdiction,
      bits: credentialBits(inv.claims),
      expiresAt: inv.expiresAt,
      status: 'active',
      setKey: `elig:set:${wallet}:${short(inv.credentialId)}`,
      removeKey: null,
      updatedAt: this.stamp(),
    };
    await repo.save(row);
    return row;
  }

  /** Queue the on-chain write a (saved) eligibility row stands for. Idempotent: the outbox key comes from the row. */
  private async queueEligibility(row: EligibilityRow): Promise<OutboxRow> {
    if (row.status === 'removed') {
      return this.o.outbox.enqueue(row.removeKey!, {
        kind: 'eligibility.remove',
        to: this.o.registryAddress,
        data: registryIface.encodeFunctionData('removeEligibility', [row.wallet]),
      });
    }
    return this.o.outbox.enqueue(row.setKey, {
      kind: 'eligibility.set',
      to: this.o.registryAddress,
      data: registryIface.encodeFunctionData('setEligibility', [
        row.wallet,
        row.identity,
        countryCode(row.country),
        row.bits,
        row.expiresAt,
      ]),
    });
  }

  /**
   * Finish what a previous process left: queue the on-chain write of every eligibility row (a crash between the
   * database commit and the outbox enqueue loses nothing). Run at start, before the outbox's own reconcile.
   */
  async reconcile(): Promise<{ queued: number }> {
    let queued = 0;
    for (const row of await this.o.store.eligibility().find()) {
      const before = await this.o.outbox.get(row.status === 'removed' ? row.removeKey! : row.setKey);
      if (!before) {
        await this.queueEligibility(row);
        queued++;
      }
    }
    return { queued };
  }

  /**
   * Onboard an investor without a subscription (a buyer on the secondary market): after its AccreditedInvestor
   * credential is checked, the wallet's eligibility record is queued for the chain. Each token still decides on
   * chain whether the investor's jurisdiction is allowed. Returns the outbox key of the write.
   */
  async onboardInvestor(
    wallet: string,
    credential: VerifiedInvestorCredential | undefined,
  ): Promise<Result<{ key: string }>> {
    const inv = checkAccreditedInvestor(credential, this.nowS());
    if (!inv.ok) return inv;
    if (typeof wallet !== 'string' || !isAddress(wallet)) return err('ERR_VALIDATION', 'wallet must be an EVM address');
    const w = getAddress(wallet).toLowerCase();
    const bound = await this.o.store.eligibility().findOneBy({ wallet: w });
    if (bound && bound.investor !== inv.value.did)
      return err('ERR_CONFLICT', 'this wallet is bound to another identity');
    if (bound && bound.status === 'removed' && bound.credentialId === inv.value.credentialId) {
      return err('ERR_VC_REVOKED', 'this credential was revoked for this wallet');
    }
    let row: EligibilityRow;
    try {
      row = await this.o.store.transaction((m) => this.recordEligibility(m, w, inv.value));
    } catch (e) {
      if (e instanceof TesseraError && e.code === 'ERR_CONFLICT') return err(e.code, e.message);
      throw e;
    }
    await this.queueEligibility(row);
    return ok({ key: row.setKey });
  }

  /**
   * Holders of record: every address that ever received the token (from its Transfer events), with its balance in
   * token base units, now or at the end of block `atBlock`; zero balances are left out. Sorted by address.
   */
  async holdings(offeringId: string, atBlock?: number): Promise<Result<Holding[]>> {
    const row = await this.o.store.offerings().findOneBy({ id: offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${offeringId}`);
    if (!row.tokenAddress) return ok([]);
    const token = SecurityToken__factory.connect(row.tokenAddress, this.o.provider);
    const received = await token.queryFilter(token.filters.Transfer(), 0, atBlock ?? 'latest');
    const wallets = [...new Set(received.map((e) => e.args.to.toLowerCase()))].sort();
    const investors = new Map((await this.o.store.eligibility().find()).map((e) => [e.wallet, e.investor] as const));
    const out: Holding[] = [];
    for (const wallet of wallets) {
      const balance = await token.balanceOf(wallet, { blockTag: atBlock ?? 'latest' });
      if (balance > 0n) out.push({ wallet, investor: investors.get(wallet) ?? null, balance: balance.toString() });
    }
    return ok(out);
  }

  /**
   * Relay a transfer the holder signed (EIP-3009 `transferWithAuthorization`): the signature is checked against the
   * token's EIP-712 domain, the window against the chain's time, the nonce against the token, and the transfer against
   * the token's own ERC-1404 check (both parties' eligibility, freezes, jurisdictions, balance) before the outbox sends
   * it, so the relayer pays only for transfers the token accepts; the token checks all of it again on chain. Waits
   * until mined (one outbox write per holder and nonce, so a resubmission never sends twice).
   */
  async relayTransfer(
    offeringId: string,
    auth: TransferAuthorization,
    signature: string,
  ): Promise<Result<TransferReceipt>> {
    const row = await this.o.store.offerings().findOneBy({ id: offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${offeringId}`);
    if (!row.tokenAddress) return err('ERR_OFFERING_STATE', `offering ${offeringId} has no token yet`);
    const token = SecurityToken__factory.connect(row.tokenAddress, this.o.provider);
    const from = getAddress(auth.from);
    const to = getAddress(auth.to);
    const invalid = (m: string) => err('ERR_OFFERING_AUTHORIZATION_INVALID', m);
    const { chainId } = await this.o.provider.getNetwork();
    const domain = transferAuthorizationDomain({
      name: await token.name(),
      chainId: Number(chainId),
      verifyingContract: row.tokenAddress,
    });
    let sig: Signature;
    let signer: string;
    try {
      sig = Signature.from(signature);
      signer = verifyTypedData(domain, TRANSFER_WITH_AUTHORIZATION_TYPES, auth, sig);
    } catch {
      return invalid('the signature is not a 65-byte secp256k1 signature over the authorisation');
    }
    if (signer !== from) {
      return invalid(
        `the authorisation is not signed by its sender ${from.toLowerCase()} for token ${row.tokenAddress} on chain ${chainId}`,
      );
    }
    const nowS = (await this.o.provider.getBlock('latest'))?.timestamp ?? Math.floor(Date.now() / 1000);
    // the next block is at least one second later than the latest
    if (auth.validBefore <= nowS + 1) {
      return invalid(`the authorisation expired at ${new Date(auth.validBefore * 1000).toISOString()}`);
    }
    if (auth.validAfter >= nowS + 1) {
      return invalid(`the authorisation is valid only after ${new Date(auth.validAfter * 1000).toISOString()}`);
    }
    const holderKeys = `offering:${offeringId}:transfer:${from.toLowerCase()}:`;
    const key = `${holderKeys}${auth.nonce.toLowerCase()}`;
    const earlier = await this.o.outbox.get(key);
    if (earlier?.status === 'failed') {
      return err(
        'ERR_OFFERING_AUTHORIZATION_USED',
        `authorisation ${auth.nonce} of ${from.toLowerCase()} was already submitted and its transaction failed (${(earlier.error ?? 'no reason').slice(0, 200)}); sign a new one`,
      );
    }
    if (earlier || (await token.authorizationState(from, auth.nonce))) {
      return err(
        'ERR_OFFERING_AUTHORIZATION_USED',
        `authorisation ${auth.nonce} of ${from.toLowerCase()} was already used`,
      );
    }
    // The relayer pays the gas: an eligible holder could otherwise drain it with transfers back and forth. Counted in
    // the outbox (the shared database), so the budget holds across replicas (two racing requests may both pass).
    const budget = this.o.relayedTransfersPerHour ?? RELAYED_TRANSFERS_PER_HOUR;
    const hourAgo = new Date(Date.now() - 3_600_000); // the outbox records the wall clock
    if ((await this.o.outbox.countSince(holderKeys, hourAgo)) >= budget) {
      return err(
        'ERR_RATE_LIMITED',
        `at most ${budget} relayed transfers per holder and offering in an hour; ${from.toLowerCase()} has used them, try again later or send the transfer yourself`,
      );
    }
    const code = Number(await token.detectTransferRestriction(from, to, BigInt(auth.value)));
    if (code !== TransferRestriction.SUCCESS) {
      const name = restrictionName[code] ?? 'UNKNOWN';
      return err(
        'ERR_OFFERING_TRANSFER_RESTRICTED',
        `the token refuses this transfer: ${await token.messageForTransferRestriction(code)} (${name})`,
        { code, name, revertsWith: RESTRICTION_ERROR[code] ?? null },
      );
    }
    const out = await this.o.outbox.submit(key, {
      kind: 'offering.transfer',
      to: row.tokenAddress,
      data: tokenIface.encodeFunctionData('transferWithAuthorization', [
        from,
        to,
        BigInt(auth.value),
        auth.validAfter,
        auth.validBefore,
        auth.nonce,
        sig.v,
        sig.r,
        sig.s,
      ]),
    });
    if (out.status !== 'mined') {
      return err('ERR_CHAIN_TX_FAILED', `the transfer was not mined: ${(out.error ?? out.status).slice(0, 300)}`);
    }
    return ok({
      offeringId,
      from: from.toLowerCase(),
      to: to.toLowerCase(),
      value: auth.value,
      nonce: auth.nonce.toLowerCase(),
      txHash: out.txHash,
      blockNumber: out.blockNumber,
    });
  }

  /**
   * The investor's credential was revoked: queue the removal of the eligibility record of every wallet it put on
   * chain, so every token refuses that investor's next transfer. Returns the wallets.
   */
  async revokeCredential(credentialId: string): Promise<Result<{ wallets: string[] }>> {
    const rows = await this.o.store.transaction(async (m) => {
      const repo = this.o.store.eligibility(m);
      const active = await repo.findBy({ credentialId, status: 'active' });
      for (const row of active) {
        row.status = 'removed';
        row.removeKey = `elig:del:${row.wallet}:${short(credentialId)}`;
        row.updatedAt = this.stamp();
        await repo.save(row);
      }
      return active;
    });
    for (const row of rows) await this.queueEligibility(row);
    return ok({ wallets: rows.map((r) => r.wallet) });
  }

  async listSubscriptions(offeringId: string): Promise<Subscription[]> {
    return this.o.store.subscriptions().find({ where: { offeringId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  /**
   * Allocate at close (after `closesAt`): every ticket when the book is within the amount, pro rata otherwise
   * (see `allocate`). Idempotent: an allocated offering returns its allocation.
   */
  async allocate(offeringId: string): Promise<Result<Allocation[]>> {
    const row = await this.o.store.offerings().findOneBy({ id: offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${offeringId}`);
    const subs = await this.listSubscriptions(offeringId);
    const asAllocation = (s: SubscriptionRow): Allocation => ({
      id: s.id,
      requested: s.quantity,
      allocated: s.allocated ?? 0,
    });
    if (row.status === 'allocated') return ok(subs.map(asAllocation));
    if (row.status !== 'open') return err('ERR_OFFERING_STATE', `offering ${offeringId} is ${row.status}`);
    const terms = JSON.parse(row.terms) as OfferingTerms;
    if (this.now().getTime() < Date.parse(terms.closesAt)) {
      return err('ERR_OFFERING_STATE', `offering ${offeringId} closes at ${terms.closesAt}; allocation comes after`);
    }
    const result = allocate(
      terms.amount,
      terms.minSubscription,
      subs.map((s) => ({ id: s.id, quantity: s.quantity, at: s.createdAt })),
    );
    const at = this.stamp();
    await this.o.store.transaction(async (m) => {
      const r = await this.o.store
        .offerings(m)
        .update({ id: offeringId, status: 'open' }, { status: 'allocated', allocatedAt: at, updatedAt: at });
      if ((r.affected ?? 0) !== 1) return; // another replica allocated first; its result is the same
      for (const a of result) {
        await this.o.store.subscriptions(m).update(
          { id: a.id },
          {
            allocated: a.allocated,
            status: a.allocated > 0 ? 'allocated' : 'unallocated',
            updatedAt: at,
          },
        );
      }
    });
    return ok(result);
  }

  /**
   * Mint every allocation on the offering's token through the outbox: first make sure each investor's eligibility
   * record is mined (the token refuses to mint to an address without one), then one mint per subscription under the
   * key `offering:<id>:mint:<subscription>`, so a retry or a restart never mints twice.
   */
  async mintAllocations(offeringId: string): Promise<Result<MintReport>> {
    const row = await this.o.store.offerings().findOneBy({ id: offeringId });
    if (!row) return err('ERR_OFFERING_NOT_FOUND', `no offering ${offeringId}`);
    if (row.status !== 'allocated') return err('ERR_OFFERING_STATE', `offering ${offeringId} is not allocated yet`);
    if (!row.tokenAddress) return err('ERR_OFFERING_STATE', `offering ${offeringId} has no token attached`);
    const terms = JSON.parse(row.terms) as OfferingTerms;
    const scale = 10n ** BigInt(terms.token.decimals);
    const subs = (await this.listSubscriptions(offeringId)).filter(
      (s) => s.status === 'allocated' || s.status === 'minted' || s.status === 'mint-failed',
    );
    // Eligibility writes go first (re-queued if a crash lost them: idempotent), and must be mined before a mint.
    for (const s of subs) {
      const elig = await this.o.store.eligibility().findOneBy({ wallet: s.wallet });
      if (elig?.status === 'active') await this.queueEligibility(elig);
    }
    await this.o.outbox.flush();
    const report: MintReport = { minted: 0, pending: 0, failed: [] };
    const todo: SubscriptionRow[] = [];
    for (const s of subs) {
      if (s.status === 'minted') {
        report.minted++;
        continue;
      }
      const elig = await this.o.store.eligibility().findOneBy({ wallet: s.wallet });
      const eligRow = elig ? await this.o.outbox.get(elig.setKey) : null;
      if (elig?.status !== 'active' || eligRow?.status !== 'mined') {
        const why = elig?.status !== 'active' ? 'the investor is no longer eligible' : 'eligibility not on chain';
        await this.markFailed(s, why);
        report.failed.push({ subscriptionId: s.id, error: why });
        continue;
      }
      s.mintKey = `offering:${offeringId}:mint:${short(s.id)}`;
      await this.o.outbox.enqueue(s.mintKey, {
        kind: 'offering.mint',
        to: row.tokenAddress,
        data: tokenIface.encodeFunctionData('mint', [s.wallet, BigInt(s.allocated ?? 0) * scale]),
      });
      await this.o.store.subscriptions().update({ id: s.id }, { mintKey: s.mintKey, updatedAt: this.stamp() });
      todo.push(s);
    }
    await this.o.outbox.flush();
    for (const s of todo) {
      const out: OutboxRow | null = await this.o.outbox.get(s.mintKey!);
      if (out?.status === 'mined') {
        await this.o.store
          .subscriptions()
          .update({ id: s.id }, { status: 'minted', error: null, updatedAt: this.stamp() });
        report.minted++;
      } else if (out?.status === 'failed') {
        await this.markFailed(s, out.error ?? 'mint failed');
        report.failed.push({ subscriptionId: s.id, error: out.error ?? 'mint failed' });
      } else {
        report.pending++;
      }
    }
    return ok(report);
  }

  private async markFailed(s: SubscriptionRow, error: string) {
    await this.o.store
      .subscriptions()
      .update({ id: s.id }, { status: 'mint-failed', error: error.slice(0, 500), updatedAt: this.stamp() });
  }
}

/**
 * Deploy the SecurityToken of an offering (tokens are per offering; the registry is shared) and make `agent`
 * (the outbox account) its agent. `signer` becomes the token's owner: the issuer organisation's key.
 */
export async function deployOfferingToken(
  signer: Signer,
  offering: Pick<Offering, 'terms'>,
  registryAddress: string,
  agent: string,
): Promise<string> {
  const t = offering.terms;
  const token = await deploySecurityToken(signer, {
    name: t.token.name,
    symbol: t.token.symbol,
    decimals: t.token.decimals,
    registry: registryAddress,
    requiredCredentials: CREDENTIAL_BITS.ACCREDITED_INVESTOR,
    allowedCountries: t.allowedJurisdictions,
  });
  const r = await (await token.setAgent(agent, true)).wait();
  if (r?.status !== 1) throw new Error('setAgent failed');
  return (await token.getAddress()).toLowerCase();
}
