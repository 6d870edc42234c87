import { createHash, randomBytes, scryptSync } from 'node:crypto';
// only the file helper: the contracts entry point would load chain libraries into every wallet command
import { writeFileAtomic } from '@tessera/runtime';
import {
  type AddDelegateRequest,
  addDelegateDigest,
  type TransferAuthorization,
  type TransferAuthorizationDomain,
  transferAuthorizationDigest,
} from '@tessera/protocol';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BitstringStatusListEntry,
  err,
  ethrDid,
  ok,
  parseStatusListEntries,
  type Result,
  seal,
  tokenStatusEntry,
  typeOfVct,
  unseal,
} from '@tessera/protocol';
import { ES256KSigner } from 'did-jwt';
import { Wallet as EthersWallet } from 'ethers';
import { z } from 'zod';

/** The wallet file inside the wallet directory (mode 0600). */
export const WALLET_FILE = 'wallet.json';
/** The sealing key beside it when no passphrase protects the wallet (mode 0600). */
export const WALLET_KEY_FILE = 'wallet.key';
const FORMAT = 'tessera-wallet/1';
// scrypt cost (RFC 7914 §2): N = 2^15, r = 8, p = 1 is about 0.1 s and 32 MiB here, once per command.
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** A credential the wallet holds, with what `list` shows read from the JWT once on receipt. */
export interface HeldCredential {
  id: string;
  types: string[];
  /** The most specific type (not `VerifiableCredential`). */
  type: string;
  issuer: string;
  subject: string;
  claims: Record<string, unknown>;
  issuedAt?: string;
  expiresAt?: string;
  status: BitstringStatusListEntry[];
  receivedAt: string;
  /** The credential as issued: a JWT VC, or an SD-JWT VC (`<jwt>~<disclosures>~`) for `dc+sd-jwt`. */
  jwt: string;
  /** Absent for credentials held before SD-JWT support: `jwt_vc_json`. */
  format?: 'jwt_vc_json' | 'dc+sd-jwt';
}

/** An access token the wallet obtained from a verifier, for `call`. */
export interface HeldToken {
  verifier: string;
  resource: string;
  action: string;
  token: string;
  holder: string;
  expiresAt: string;
  obtainedAt: string;
}

const WalletFileSchema = z.strictObject({
  format: z.literal(FORMAT),
  did: z.string().startsWith('did:ethr:'),
  chainId: z.number().int().positive(),
  key: z.strictObject({
    protection: z.enum(['key-file', 'passphrase']),
    sealed: z.string(),
    salt: z.string().optional(),
  }),
  credentials: z.array(z.custom<HeldCredential>((v) => typeof v === 'object' && v !== null && 'jwt' in v)),
  tokens: z.array(z.custom<HeldToken>((v) => typeof v === 'object' && v !== null && 'token' in v)),
  createdAt: z.string(),
});
type WalletFile = z.infer<typeof WalletFileSchema>;

export interface OpenOptions {
  /** When set, the key is sealed with a key derived from it (scrypt) instead of a key file beside the wallet. */
  passphrase?: string;
}

const aadFor = (did: string) => `tessera-wallet:${did}`;

/** 0600 or stricter: nobody but the owner reads a wallet or its key (like ssh with a private key). */
function checkPrivate(path: string): Result<true> {
  if (process.platform === 'win32') return ok(true);
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    return err('ERR_WALLET_INSECURE', `${path} has mode ${mode.toString(8)}; run chmod 600 ${path}`);
  }
  return ok(true);
}

function sealingKey(dir: string, file: WalletFile['key'], passphrase: string | undefined): Result<Buffer> {
  if (file.protection === 'passphrase') {
    if (passphrase === undefined || passphrase === '') {
      return err('ERR_WALLET_LOCKED', 'this wallet is protected by a passphrase; set TESSERA_WALLET_PASSPHRASE');
    }
    return ok(scryptSync(passphrase, Buffer.from(file.salt ?? '', 'base64url'), 32, SCRYPT));
  }
  const keyFile = join(dir, WALLET_KEY_FILE);
  if (!existsSync(keyFile)) return err('ERR_WALLET_LOCKED', `the wallet's key file ${keyFile} is missing`);
  const insecure = checkPrivate(keyFile);
  if (!insecure.ok) return insecure;
  const key = Buffer.from(readFileSync(keyFile, 'utf8').trim(), 'hex');
  if (key.length !== 32) return err('ERR_WALLET_LOCKED', `the wallet's key file ${keyFile} is not 64 hex characters`);
  return ok(key);
}

function decodePart(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8')) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const isoFromSeconds = (s: unknown) => (typeof s === 'number' ? new Date(s * 1000).toISOString() : undefined);

/**
 * Read what the wallet shows about a credential JWT (VC Data Model 1.1 §6.3.1 JWT encoding: `iss`, `sub`, `jti`,
 * `nbf`, `exp`, `vc`). Nothing here is trusted: verifiers check signature, trust and status themselves.
 */
export function describeCredential(jwt: string, receivedAt = new Date().toISOString()): Result<HeldCredential> {
  if (typeof jwt !== 'string' || jwt.split('.').length !== 3) return err('ERR_VC_MALFORMED', 'not a JWT credential');
  const payload = decodePart(jwt.split('.')[1]);
  const vc = payload?.vc as Record<string, unknown> | undefined;
  if (!payload || typeof vc !== 'object' || vc === null) return err('ERR_VC_MALFORMED', 'the JWT carries no `vc`');
  const types = Array.isArray(vc.type) ? vc.type.filter((t): t is string => typeof t === 'string') : [];
  const subject = (vc.credentialSubject ?? {}) as Record<string, unknown>;
  const status = vc.credentialStatus === undefined ? ok([]) : parseStatusListEntries(vc.credentialStatus as unknown);
  if (!status.ok) return status;
  const { id: _id, ...claims } = subject;
  const issuedAt = isoFromSeconds(payload.nbf ?? payload.iat);
  const expiresAt = isoFromSeconds(payload.exp);
  return ok({
    id: typeof payload.jti === 'string' ? payload.jti : `urn:sha:${jwt.slice(-16)}`,
    types,
    type: types.find((t) => t !== 'VerifiableCredential') ?? 'VerifiableCredential',
    issuer: typeof payload.iss === 'string' ? payload.iss : String((vc.issuer as { id?: string })?.id ?? vc.issuer),
    subject: typeof payload.sub === 'string' ? payload.sub : String(subject.id ?? ''),
    claims,
    ...(issuedAt ? { issuedAt } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    status: status.value,
    receivedAt,
    jwt,
  });
}

/**
 * Read an SD-JWT VC for the wallet's list (RFC 9901 §4): the issuer-signed JWT's registered claims and every disclosed
 * claim. Not verified here (verifiers check signatures, digests and status); malformed input is refused.
 */
export function describeSdJwtCredential(compact: string): Result<HeldCredential> {
  if (typeof compact !== 'string' || !compact.includes('~') || compact.length > 64 * 1024) {
    return err('ERR_SD_JWT_MALFORMED', 'an SD-JWT VC is <jwt>~<disclosures>~');
  }
  const [jwt, ...rest] = compact.split('~');
  let payload: Record<string, unknown>;
  const claims: Record<string, unknown> = {};
  try {
    payload = JSON.parse(Buffer.from(jwt!.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    for (const d of rest.filter((x) => x !== '')) {
      const a = JSON.parse(Buffer.from(d, 'base64url').toString('utf8')) as unknown[];
      if (a.length === 3 && typeof a[1] === 'string') claims[a[1]] = a[2];
    }
  } catch {
    return err('ERR_SD_JWT_MALFORMED', 'the SD-JWT VC does not decode');
  }
  const type = typeOfVct(payload.vct);
  const cnf = payload.cnf as { kid?: unknown } | undefined;
  if (!type || typeof payload.iss !== 'string' || typeof cnf?.kid !== 'string') {
    return err('ERR_SD_JWT_MALFORMED', 'the SD-JWT VC has no Tessera vct, issuer or holder key (cnf.kid)');
  }
  const sl = (payload.status as { status_list?: { idx?: unknown; uri?: unknown } } | undefined)?.status_list;
  const at = (t: unknown) => (typeof t === 'number' ? new Date(t * 1000).toISOString() : undefined);
  const issuedAt = at(payload.iat);
  const expiresAt = at(payload.exp);
  return ok({
    id: `sd-jwt:${createHash('sha256').update(compact).digest('base64url').slice(0, 32)}`,
    types: ['VerifiableCredential', type],
    type,
    issuer: payload.iss,
    subject: cnf.kid.split('#')[0]!,
    claims,
    ...(issuedAt ? { issuedAt } : {}),
    ...(expiresAt ? { expiresAt } : {}),
    status: typeof sl?.uri === 'string' && typeof sl.idx === 'number' ? [tokenStatusEntry(sl.uri, sl.idx)] : [],
    receivedAt: new Date().toISOString(),
    jwt: compact,
    format: 'dc+sd-jwt',
  });
}

/**
 * A holder's wallet on disk: a did:ethr secp256k1 key, sealed (AES-256-GCM, protocol's `seal`) with a key file
 * beside it or a passphrase-derived key, plus the credentials and access tokens it holds. Both files are 0600 in a
 * 0700 directory; the key is only unsealed in memory.
 */
export class TesseraWallet {
  private constructor(
    readonly dir: string,
    private data: WalletFile,
    private readonly privateKey: Uint8Array,
  ) {}

  /**
   * Create a wallet with a fresh key in `dir` (created 0700). Refuses to overwrite one (ERR_WALLET_EXISTS).
   *
   * @example TesseraWallet.init('/home/me/.tessera-wallet', { chainId: 31337 })
   */
  static init(dir: string, options: OpenOptions & { chainId: number }): Result<TesseraWallet> {
    const file = join(dir, WALLET_FILE);
    if (existsSync(file)) return err('ERR_WALLET_EXISTS', `${file} already holds a wallet`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
    const account = EthersWallet.createRandom();
    const did = ethrDid(options.chainId, account.address);
    let key: Buffer;
    let protection: WalletFile['key'];
    if (options.passphrase) {
      const salt = randomBytes(16).toString('base64url');
      key = scryptSync(options.passphrase, Buffer.from(salt, 'base64url'), 32, SCRYPT);
      protection = { protection: 'passphrase', sealed: '', salt };
    } else {
      key = randomBytes(32);
      writeFileAtomic(join(dir, WALLET_KEY_FILE), `${key.toString('hex')}\n`, 0o600);
      protection = { protection: 'key-file', sealed: '' };
    }
    const privateKey = Buffer.from(account.privateKey.slice(2), 'hex');
    protection.sealed = seal(key, privateKey, aadFor(did));
    const data: WalletFile = {
      format: FORMAT,
      did,
      chainId: options.chainId,
      key: protection,
      credentials: [],
      tokens: [],
      createdAt: new Date().toISOString(),
    };
    const wallet = new TesseraWallet(dir, data, privateKey);
    wallet.save();
    return ok(wallet);
  }

  /** Open the wallet in `dir`, unsealing its key. */
  static open(dir: string, options: OpenOptions = {}): Result<TesseraWallet> {
    const file = join(dir, WALLET_FILE);
    if (!existsSync(file)) return err('ERR_WALLET_NOT_FOUND', `no wallet at ${file}; run \`wallet init\` first`);
    const insecure = checkPrivate(file);
    if (!insecure.ok) return insecure;
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      return err('ERR_WALLET_MALFORMED', `${file} is not JSON`);
    }
    const data = WalletFileSchema.safeParse(parsed);
    if (!data.success) return err('ERR_WALLET_MALFORMED', `${file} is not a ${FORMAT} wallet`);
    const key = sealingKey(dir, data.data.key, options.passphrase);
    if (!key.ok) return key;
    let privateKey: Buffer;
    try {
      privateKey = unseal(key.value, data.data.key.sealed, aadFor(data.data.did));
    } catch {
      return err('ERR_WALLET_LOCKED', 'the wallet key does not unseal: wrong passphrase or key file');
    }
    // The sealed key must still be the DID's key (the AAD binds the DID, this binds the address).
    const address = new EthersWallet(`0x${privateKey.toString('hex')}`).address;
    if (ethrDid(data.data.chainId, address) !== data.data.did) {
      return err('ERR_WALLET_MALFORMED', 'the wallet key does not control the wallet DID');
    }
    return ok(new TesseraWallet(dir, data.data, privateKey));
  }

  get did(): string {
    return this.data.did;
  }

  get chainId(): number {
    return this.data.chainId;
  }

  get file(): string {
    return join(this.dir, WALLET_FILE);
  }

  get credentials(): readonly HeldCredential[] {
    return this.data.credentials;
  }

  get tokens(): readonly HeldToken[] {
    return this.data.tokens;
  }

  /** did-jwt ES256K signer over the holder key (kept in memory only). */
  signer() {
    return ES256KSigner(this.privateKey);
  }

  /**
   * Authorise `request.delegate` to sign for this wallet's DID (ERC-1056 addDelegateSigned). The digest is computed
   * here from the request's fields, never taken from whoever asks, and only for this wallet's own identity.
   * Returns the 65-byte signature (0x r‖s‖v).
   */
  signDelegation(request: AddDelegateRequest): Result<string> {
    const own = new EthersWallet(`0x${Buffer.from(this.privateKey).toString('hex')}`);
    if (request.identity.toLowerCase() !== own.address.toLowerCase()) {
      return err(
        'ERR_WALLET_DELEGATION_REFUSED',
        `the delegation is for ${request.identity}, not this wallet (${own.address})`,
      );
    }
    return ok(own.signingKey.sign(addDelegateDigest(request)).serialized);
  }

  /**
   * Sign a transfer of this wallet's security tokens for a relayer to submit (EIP-3009 TransferWithAuthorization,
   * EIP-712 over the token's domain). The digest is computed here from the fields, and only for this wallet's own
   * address as the sender. Returns the 65-byte signature (0x r‖s‖v).
   */
  signTransferAuthorization(domain: TransferAuthorizationDomain, auth: TransferAuthorization): Result<string> {
    const own = new EthersWallet(`0x${Buffer.from(this.privateKey).toString('hex')}`);
    if (auth.from.toLowerCase() !== own.address.toLowerCase()) {
      return err('ERR_VALIDATION', `the transfer is from ${auth.from}, not this wallet (${own.address})`);
    }
    return ok(own.signingKey.sign(transferAuthorizationDigest(domain, auth)).serialized);
  }

  /** Store a credential JWT (idempotent by id); it must name this wallet's DID as its subject. */
  addCredential(jwt: string): Result<HeldCredential> {
    const held = describeCredential(jwt);
    if (!held.ok) return held;
    if (held.value.subject.toLowerCase() !== this.did.toLowerCase()) {
      return err(
        'ERR_VC_SUBJECT_MISMATCH',
        `the credential is for ${held.value.subject}, not this wallet (${this.did})`,
      );
    }
    this.data.credentials = [...this.data.credentials.filter((c) => c.id !== held.value.id), held.value];
    this.save();
    return held;
  }

  /** Store an SD-JWT VC (idempotent); its holder key (`cnf.kid`) must be this wallet's DID. */
  addSdJwtCredential(compact: string): Result<HeldCredential> {
    const held = describeSdJwtCredential(compact);
    if (!held.ok) return held;
    if (held.value.subject.toLowerCase() !== this.did.toLowerCase()) {
      return err(
        'ERR_VC_SUBJECT_MISMATCH',
        `the credential is bound to ${held.value.subject}, not this wallet (${this.did})`,
      );
    }
    this.data.credentials = [...this.data.credentials.filter((c) => c.id !== held.value.id), held.value];
    this.save();
    return held;
  }

  /** Keep a token; expired ones are dropped on the way. */
  addToken(token: HeldToken): void {
    const now = new Date().toISOString();
    this.data.tokens = [
      ...this.data.tokens.filter(
        (t) => t.expiresAt > now && !(t.verifier === token.verifier && t.resource === token.resource),
      ),
      token,
    ];
    this.save();
  }

  private save(): void {
    writeFileAtomic(this.file, `${JSON.stringify(this.data, null, 2)}\n`, 0o600);
  }
}
