import { randomBytes, scryptSync } from 'node:crypto';
// only the file helper: the contracts entry point would load chain libraries into every wallet command
import { writeFileAtomic } from '@tessera/runtime';
import { type AddDelegateRequest, addDelegateDigest } from '@tessera/protocol';
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
  jwt: string;
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
