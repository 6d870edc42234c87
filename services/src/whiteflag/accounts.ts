import type { Keystore, Outbox } from '@tessera/contracts';
import { err, type Logger, ok, parseEthrDid, type Result, silentLogger } from '@tessera/protocol';
import {
  authVerificationData,
  composeWhiteflag,
  ecdhKeyPair,
  encodeWhiteflag,
  evmAddressBytes,
  flattenJws,
  STATEMENT_ALG,
  toHex,
  type WhiteflagEcdhKeyPair,
  type WhiteflagMessage,
  type WhiteflagStatementPayload,
  whiteflagHkdf,
} from '@tessera/protocol/whiteflag';
import type { DeviceSecretVault } from '@tessera/verifier';
import { createJWS, ES256KSigner } from 'did-jwt';
import { type BaseWallet, type JsonRpcProvider, parseEther } from 'ethers';
import type { AccountRow, WhiteflagStore } from './store.js';

/**
 * The sending accounts of Whiteflag originators (docs/whiteflag.md). Whiteflag authenticates the blockchain account
 * that sends a message, so every originator sends from an account of its own, whose key the stack holds and the
 * outbox signs with:
 * - an organisation or person (a did:ethr) sends from a hosted key its DID authorised on chain as a `veriKey`
 *   delegate; its `A1` message points at a statement signed with that key and naming the DID (method 1);
 * - a device sends from a key the stack creates for it; its `A2` message carries the token derived from the device's
 *   pre-shared secret for that account (method 2);
 * - a stack actor (the operator) may send from its own DID key, which the stack already holds (method 1).
 * Each account also publishes its ECDH public key (`K(0)0A`) so others can encrypt to it with method 1.
 */

/** brainpoolP256r1's group order n: an ECDH private key must be in [1, n-1]. */
const BRAINPOOL_N = 0xa9fb57dba1eea9bc3e660a909d838d718c397aa3b561a6f7901e0e82974856a7n;
/** The token device accounts use, in the keystore: `wf-d-` and 56 hex digits of the device id. */
const DEVICE_KEY_PREFIX = 'wf-d-';

export interface AccountFunding {
  /** Top the account up when its balance falls below this (wei). */
  minWei: bigint;
  /** By this much, from the relayer, through the outbox (wei). */
  topUpWei: bigint;
}

export const DEFAULT_FUNDING: AccountFunding = { minWei: parseEther('0.01'), topUpWei: parseEther('0.05') };

export interface WhiteflagAccountsOptions {
  store: WhiteflagStore;
  keystore: Pick<Keystore, 'getOrCreate' | 'has'>;
  outbox: Outbox;
  provider: JsonRpcProvider;
  chainId: number;
  /** Where this stack serves statements: `<statementBase>/<address>`. */
  statementBase: string;
  /** Device secrets, for the `A2` token of device accounts. */
  vault?: Pick<DeviceSecretVault, 'get'>;
  /** Fund accounts from the relayer (on by default; off when accounts are funded otherwise). */
  funding?: AccountFunding | false;
  log?: Logger;
}

/** The ECDH key pair of an account, derived from its private key (HKDF, then the first value below n). */
export function accountEcdhKey(privateKeyHex: string): WhiteflagEcdhKeyPair {
  const ikm = Buffer.from(privateKeyHex.replace(/^0x/, ''), 'hex');
  for (let i = 0; ; i++) {
    const k = whiteflagHkdf(ikm, Buffer.from('tessera.whiteflag.ecdh.v1'), Buffer.from([i]));
    const n = BigInt(`0x${k.toString('hex')}`);
    if (n === 0n || n >= BRAINPOOL_N) continue;
    const pair = ecdhKeyPair(k);
    if (pair.ok) return pair.value;
  }
}

const now = () => new Date().toISOString();

export class WhiteflagAccounts {
  private readonly log: Logger;
  private readonly statements = new Map<string, string>();
  /** ECDH private keys of this stack's accounts (method 1 recipients), by account. */
  private readonly ecdhKeys = new Map<string, { account: string; privateKey: Buffer }>();

  constructor(private readonly o: WhiteflagAccountsOptions) {
    this.log = (o.log ?? silentLogger).child({ part: 'whiteflag-accounts' });
  }

  get(address: string): Promise<AccountRow | null> {
    return this.o.store.accounts().findOneBy({ address: address.toLowerCase() });
  }

  byDid(did: string): Promise<AccountRow | null> {
    return this.o.store.accounts().findOne({ where: { did: did.toLowerCase(), kind: 'did' } });
  }

  byDevice(deviceId: string): Promise<AccountRow | null> {
    return this.o.store.accounts().findOneBy({ deviceId: deviceId.toLowerCase(), kind: 'device' });
  }

  all(): Promise<AccountRow[]> {
    return this.o.store.accounts().find();
  }

  wallet(row: AccountRow): BaseWallet {
    return this.o.keystore.getOrCreate(row.keyName);
  }

  ecdhOf(row: AccountRow): WhiteflagEcdhKeyPair {
    return accountEcdhKey(this.wallet(row).privateKey);
  }

  /** The ECDH private keys of every account this stack sends from: messages encrypted to any of them decrypt here. */
  ecdhPrivateKeys(): ReadonlyArray<{ account: string; privateKey: Buffer }> {
    return [...this.ecdhKeys.values()];
  }

  private remember(row: AccountRow): void {
    if (!this.ecdhKeys.has(row.address))
      this.ecdhKeys.set(row.address, { account: row.address, privateKey: this.ecdhOf(row).privateKey });
  }

  /**
   * At start: let the outbox sign for every known account (finishing what a crash left), and find the key of an
   * account created later at another replica when this one is the sender.
   */
  async load(): Promise<number> {
    this.o.outbox.signersFrom(async (address) => {
      const row = await this.get(address);
      return row ? this.wallet(row) : undefined;
    });
    const rows = await this.all();
    for (const row of rows) {
      await this.o.outbox.registerSigner(this.wallet(row));
      this.remember(row);
    }
    return rows.length;
  }

  /** The signed statement of a method-1 account (flattened JWS JSON), or undefined for other accounts. */
  async statement(address: string): Promise<string | undefined> {
    const a = address.toLowerCase();
    const cached = this.statements.get(a);
    if (cached) return cached;
    const row = await this.get(a);
    if (row?.kind !== 'did') return undefined;
    const payload: WhiteflagStatementPayload = {
      addr: row.address,
      orgname: row.name ?? row.did,
      url: this.statementUrl(row.address),
      did: row.did,
    };
    const wallet = this.wallet(row);
    const compact = await createJWS(payload, ES256KSigner(Buffer.from(wallet.privateKey.slice(2), 'hex')), {
      alg: STATEMENT_ALG,
      typ: 'JWS' as 'JWT',
    });
    const text = JSON.stringify(flattenJws(compact));
    this.statements.set(a, text);
    return text;
  }

  statementUrl(address: string): string {
    return `${this.o.statementBase}/${address.toLowerCase()}`;
  }

  /**
   * An account for a DID that sends from a key the stack holds: the DID's own key (a stack actor) or a hosted key
   * the DID has authorised as a delegate. Creates the row on first use, then authenticates it (`A1`) and publishes its
   * ECDH key; idempotent.
   */
  async ensureDidAccount(o: { did: string; keyName: string; name: string }): Promise<Result<AccountRow>> {
    const parsed = parseEthrDid(o.did);
    if (!parsed.ok) return parsed;
    const wallet = this.o.keystore.getOrCreate(o.keyName);
    const address = wallet.address.toLowerCase();
    const existing = await this.get(address);
    const row: AccountRow = existing ?? {
      address,
      kind: 'did',
      keyName: o.keyName,
      did: o.did.toLowerCase(),
      deviceId: null,
      name: o.name.slice(0, 200),
      authKey: null,
      ecdhKey: null,
      createdAt: now(),
    };
    if (!existing) await this.o.store.accounts().save(row);
    return this.activate(row, () =>
      composeWhiteflag('A', { VerificationMethod: '1', VerificationData: this.statementUrl(address) }),
    );
  }

  /** The account of a device (created on first use), authenticated with method 2 from its pre-shared secret. */
  async ensureDeviceAccount(o: { deviceId: string; did: string }): Promise<Result<AccountRow>> {
    const deviceId = o.deviceId.toLowerCase();
    const keyName = `${DEVICE_KEY_PREFIX}${deviceId.slice(2, 58)}`;
    const wallet = this.o.keystore.getOrCreate(keyName);
    const address = wallet.address.toLowerCase();
    const existing = await this.get(address);
    const row: AccountRow = existing ?? {
      address,
      kind: 'device',
      keyName,
      did: o.did.toLowerCase(),
      deviceId,
      name: null,
      authKey: null,
      ecdhKey: null,
      createdAt: now(),
    };
    if (!existing) await this.o.store.accounts().save(row);
    if (row.authKey) return this.activate(row, () => undefined);
    const secret = await this.o.vault?.get(deviceId);
    if (!secret) return err('ERR_DEVICE_UNKNOWN', `no pre-shared secret is held for device ${deviceId}`);
    const addr = evmAddressBytes(address);
    let data: Result<string>;
    try {
      data = addr.ok ? authVerificationData(secret.secret, addr.value) : addr;
    } finally {
      secret.secret.fill(0);
    }
    if (!data.ok) return data;
    const token = data.value;
    return this.activate(row, () => composeWhiteflag('A', { VerificationMethod: '2', VerificationData: token }));
  }

  /** Register the key with the outbox, fund it, and send its authentication and ECDH key once. */
  private async activate(
    row: AccountRow,
    authMessage: () => WhiteflagMessage | undefined,
  ): Promise<Result<AccountRow>> {
    const wallet = this.wallet(row);
    await this.o.outbox.registerSigner(wallet);
    this.remember(row);
    await this.ensureFunded(row.address);
    if (!row.authKey) {
      const m = authMessage();
      if (m) {
        const key = `whiteflag:auth:${row.address}`;
        const sent = await this.enqueue(row.address, key, m, 'whiteflag.authenticate');
        if (!sent.ok) return sent;
        row.authKey = key;
      }
    }
    if (!row.ecdhKey) {
      const key = `whiteflag:ecdh:${row.address}`;
      const m = composeWhiteflag('K', { CryptoDataType: '0A', CryptoData: this.ecdhOf(row).publicKey });
      const sent = await this.enqueue(row.address, key, m, 'whiteflag.ecdh-key');
      if (!sent.ok) return sent;
      row.ecdhKey = key;
    }
    await this.o.store.accounts().save(row);
    await this.o.outbox.flush().catch((e) => this.log.warn({ err: e }, 'outbox flush failed; its loop retries'));
    return ok(row);
  }

  /** Record a message to send from `address` (the outbox sends it in order, after what the account queued before). */
  async enqueue(address: string, key: string, message: WhiteflagMessage, kind: string): Promise<Result<string>> {
    const encoded = encodeWhiteflag(message);
    if (!encoded.ok) return encoded;
    await this.o.outbox.enqueue(key, {
      kind,
      to: address,
      data: `0x${toHex(encoded.value)}`,
      from: address,
    });
    return ok(key);
  }

  /** Keep the account able to pay for its messages (from the relayer, through the outbox). */
  async ensureFunded(address: string): Promise<void> {
    const f = this.o.funding === undefined ? DEFAULT_FUNDING : this.o.funding;
    if (!f) return;
    const balance = await this.o.provider.getBalance(address);
    if (balance >= f.minWei) return;
    const block = await this.o.provider.getBlockNumber();
    const row = await this.o.outbox.submit(`whiteflag:fund:${address}:${block}`, {
      kind: 'whiteflag.fund',
      to: address,
      data: '0x',
      value: f.topUpWei,
    });
    if (row.status !== 'mined')
      this.log.warn({ address, error: row.error }, 'funding a whiteflag account failed; its messages will fail');
  }
}
