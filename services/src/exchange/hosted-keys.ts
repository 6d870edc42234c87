import {
  addDelegateDigest,
  addDelegateSignedWrite,
  EthereumDIDRegistry__factory,
  type Keystore,
  type Outbox,
  prepareAddDelegate,
} from '@tessera/contracts';
import { err, EVM_ADDRESS_PATTERN, ok, parseEthrDid, type Result } from '@tessera/protocol';
import { ES256KSigner, type Signer } from 'did-jwt';
import { encodeBytes32String, getAddress, type JsonRpcProvider, recoverAddress, Signature } from 'ethers';
import { z } from 'zod';
import type { ExchangeKeyring } from './service.js';

/** A hosted key signs JWTs for the organisation's DID: an ERC-1056 `veriKey` delegate. */
export const HOSTED_DELEGATE_TYPE = 'veriKey' as const;
/** How long a delegation lasts on chain (the organisation renews it the same way). */
export const HOSTED_KEY_VALIDITY_S = 365 * 24 * 3600;
const EXCHANGE_KEY_PREFIX = 'exchange-hosted-';

const EvmAddress = z.string().regex(EVM_ADDRESS_PATTERN);

/**
 * What the DID's owner signs, with every field shown so its wallet can recompute the digest before signing: the answer
 * of the exchange's `POST /partners/hosted-key` and of Whiteflag's `POST /originator/sending-key`.
 */
export const HostedKeyOfferSchema = z
  .object({
    did: z.string().meta({ description: 'the DID the hosted key is to sign for (the caller)' }),
    request: z
      .object({
        registry: EvmAddress.meta({ description: 'the ERC-1056 EthereumDIDRegistry' }),
        identity: EvmAddress.meta({ description: "the address of the caller's did:ethr" }),
        delegateType: z.enum(['veriKey', 'sigAuth']),
        delegate: EvmAddress.meta({ description: 'the key the stack holds for the caller' }),
        validitySeconds: z.number().int().min(0),
        nonce: z
          .string()
          .regex(/^[0-9]+$/)
          .meta({ description: "the owner's registry nonce, decimal" }),
      })
      .meta({ description: 'The addDelegateSigned request, every field shown so a wallet can recompute the digest' }),
    owner: EvmAddress.meta({ description: "the identity's current owner: the key that must sign" }),
    digest: z
      .string()
      .regex(/^0x[0-9a-f]{64}$/)
      .meta({ description: 'addDelegateDigest(request): the 32 bytes the owner signs' }),
    active: z.boolean().meta({ description: 'whether the delegation is already valid on chain' }),
  })
  .meta({ id: 'HostedKeyOffer' });
export type HostedKeyOffer = z.output<typeof HostedKeyOfferSchema>;

/** A delegation relayed on chain: the answer of the confirm routes (Whiteflag's adds its sending account). */
export const HostedKeyDelegationSchema = z
  .object({
    delegate: EvmAddress.meta({ description: 'the hosted key, now a veriKey delegate of the caller DID' }),
    txHash: z.string().nullable().meta({ description: 'the addDelegateSigned transaction (mined)' }),
  })
  .meta({ id: 'HostedKeyDelegation' });

/**
 * Keys the stack holds for organisations that want to use the HTML interface (each organisation acts
 * through its own DID). The organisation never hands over its own key: the stack creates a key for it (sealed in
 * the stack's keystore) and the organisation's owner key authorises that key as a `veriKey` delegate of its DID
 * with an ERC-1056 `addDelegateSigned` meta-transaction, which the stack relays through the outbox. From then on
 * the DID document lists the hosted key, so signatures made with it verify as the organisation's, and the
 * organisation can end it at any time by revoking the delegate on chain (the resolver follows registry events).
 */
export class HostedKeyring implements ExchangeKeyring {
  private readonly active = new Map<string, Signer>();

  constructor(
    private readonly o: {
      keystore: Keystore;
      outbox: Outbox;
      provider: JsonRpcProvider;
      registry: string;
      /** Called once a delegation is mined so the next resolution sees it (CachedDidResolver.invalidateIdentity). */
      invalidate?(identity: string): void;
      /** Keystore names of the hosted keys (one prefix per use, so a service's keys are its own). */
      keyPrefix?: string;
    },
  ) {}

  private get prefix(): string {
    return this.o.keyPrefix ?? EXCHANGE_KEY_PREFIX;
  }

  private identityOf(did: string): Result<string> {
    const p = parseEthrDid(did);
    if (!p.ok) return p;
    if (!EVM_ADDRESS_PATTERN.test(p.value.identifier))
      return err('ERR_DID_MALFORMED', 'a hosted key needs a did:ethr whose identifier is an address');
    return ok(getAddress(p.value.identifier));
  }

  private keyName(identity: string) {
    return `${this.prefix}${identity.slice(2).toLowerCase()}`;
  }

  /** The keystore name of the hosted key of `did` (whether or not it exists yet). */
  keyNameOf(did: string): string | undefined {
    const identity = this.identityOf(did);
    return identity.ok ? this.keyName(identity.value) : undefined;
  }

  /** Whether the hosted key of `did` is a valid delegate on chain now. */
  async isActive(did: string): Promise<boolean> {
    const identity = this.identityOf(did);
    const name = identity.ok ? this.keyName(identity.value) : undefined;
    if (!identity.ok || !name || !this.o.keystore.has(name)) return false;
    return this.isDelegated(identity.value, this.o.keystore.getOrCreate(name).address);
  }

  private registry() {
    return EthereumDIDRegistry__factory.connect(this.o.registry, this.o.provider);
  }

  private async isDelegated(identity: string, delegate: string): Promise<boolean> {
    return this.registry().validDelegate(identity, encodeBytes32String(HOSTED_DELEGATE_TYPE), delegate);
  }

  /** At start: sign again for every organisation whose delegation is still valid on chain. */
  async load(): Promise<number> {
    for (const name of this.o.keystore.names()) {
      if (!name.startsWith(this.prefix)) continue;
      const identity = getAddress(`0x${name.slice(this.prefix.length)}`);
      const key = this.o.keystore.getOrCreate(name);
      if (await this.isDelegated(identity, key.address))
        this.active.set(identity, ES256KSigner(Buffer.from(key.privateKey.slice(2), 'hex')));
    }
    return this.active.size;
  }

  /** The delegation the organisation `did` is asked to sign (the hosted key is created on first ask). */
  async offer(did: string): Promise<Result<HostedKeyOffer>> {
    const identity = this.identityOf(did);
    if (!identity.ok) return identity;
    const key = this.o.keystore.getOrCreate(this.keyName(identity.value));
    const r = await prepareAddDelegate(this.o.provider, {
      registry: this.o.registry,
      identity: identity.value,
      delegateType: HOSTED_DELEGATE_TYPE,
      delegate: key.address,
      validitySeconds: HOSTED_KEY_VALIDITY_S,
    });
    const { owner, ...request } = r;
    return ok({
      did,
      request: { ...request, nonce: request.nonce.toString() },
      owner,
      digest: addDelegateDigest(request),
      active: await this.isDelegated(identity.value, key.address),
    });
  }

  /**
   * Relay the owner's signature over the current offer and wait until it is mined: the signature must recover to
   * the identity's owner, or nothing is sent.
   */
  async confirm(did: string, signature: string): Promise<Result<{ delegate: string; txHash: string | null }>> {
    const identity = this.identityOf(did);
    if (!identity.ok) return identity;
    const name = this.keyName(identity.value);
    if (!this.o.keystore.has(name))
      return err('ERR_EXCHANGE_NOT_FOUND', 'ask for a hosted key first (POST …/hosted-key)');
    const delegate = this.o.keystore.getOrCreate(name).address;
    const { owner, ...request } = await prepareAddDelegate(this.o.provider, {
      registry: this.o.registry,
      identity: identity.value,
      delegateType: HOSTED_DELEGATE_TYPE,
      delegate,
      validitySeconds: HOSTED_KEY_VALIDITY_S,
    });
    let sig: Signature;
    try {
      sig = Signature.from(signature);
    } catch {
      return err('ERR_EXCHANGE_BAD_SIGNATURE', 'the signature must be 65 bytes of 0x hex (r‖s‖v)');
    }
    const digest = addDelegateDigest(request);
    if (recoverAddress(digest, sig) !== owner)
      return err(
        'ERR_EXCHANGE_BAD_SIGNATURE',
        `the signature is not by ${owner}, the owner of ${did}, over the current offer (ask for it again if the owner's nonce moved)`,
      );
    const idem = `exchange:hosted-key:${identity.value.toLowerCase()}:${delegate.toLowerCase()}:${request.nonce}`;
    const row = await this.o.outbox.submit(idem, {
      kind: 'did.addDelegate',
      ...addDelegateSignedWrite(request, { v: sig.v, r: sig.r, s: sig.s }),
    });
    if (row.status !== 'mined')
      return err('ERR_CHAIN_TX_FAILED', `the delegation was not mined: ${row.error ?? row.status}`);
    this.o.invalidate?.(identity.value);
    const key = this.o.keystore.getOrCreate(name);
    this.active.set(identity.value, ES256KSigner(Buffer.from(key.privateKey.slice(2), 'hex')));
    return ok({ delegate, txHash: row.txHash });
  }

  signerFor(did: string): Signer | undefined {
    const identity = this.identityOf(did);
    return identity.ok ? this.active.get(identity.value) : undefined;
  }
}
