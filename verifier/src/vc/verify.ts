import {
  type BitstringStatusListEntry,
  decodeStatusList,
  err,
  MAX_JWT_BYTES,
  ok,
  parseDid,
  parseStatusListEntries,
  type Result,
  STATUS_LIST_CREDENTIAL_TYPE,
  STATUS_LIST_SUBJECT_TYPE,
  STATUS_PURPOSES,
  type StatusPurpose,
  Bitstring,
  STATUS_LIST_TOKEN_TYP,
  TOKEN_STATUS,
  TOKEN_STATUS_ENTRY_TYPE,
} from '@tessera/protocol';
import { StatusList } from '@sd-jwt/jwt-status-list';
import type { Secp256k1Worker } from '@tessera/runtime';
import type { DIDDocument, Resolvable } from 'did-resolver';
import { parseJwt, type ParsedJwt } from './jwt.js';
import { type ProofPurpose, SignatureVerifier } from './keys.js';
import { newNonce, type NonceStore } from './nonce-store.js';
import { isDependencyDown, type StatusListProvider, type StatusListSnapshot } from './status.js';
import { isTrustedIssuer, normaliseDid, type TrustList } from './trust.js';

/** How long a presentation request's nonce stays usable, unless configured otherwise. */
export const DEFAULT_NONCE_TTL_MS = 5 * 60 * 1000;
/** Tolerated clock difference between issuer, holder and verifier when reading exp / nbf, in seconds. */
export const DEFAULT_CLOCK_SKEW_S = 30;
/** Most credentials one presentation may carry. */
export const MAX_CREDENTIALS_PER_PRESENTATION = 16;
const MAX_NONCE_LENGTH = 256;
/** A status list credential carries a compressed 16 KiB+ bitstring: allow it more room than a credential. */
const STATUS_LIST_MAX_JWT_BYTES = 1024 * 1024;

const VC_BASE_TYPE = 'VerifiableCredential';
const VP_BASE_TYPE = 'VerifiablePresentation';

export interface VerifierOptions {
  /** Resolves DIDs (the event-invalidated cache in production; any did-resolver `Resolvable`). */
  resolver: Resolvable;
  /** Issuers trusted per credential type. */
  trust: TrustList;
  statusLists: StatusListProvider;
  nonces: NonceStore;
  /** The audience presentations must name: this verifier's identifier (a URL or DID). */
  audience: string;
  nonceTtlMs?: number;
  clockSkewSeconds?: number;
  /** Refuse credentials without a credentialStatus (every credential carries one). Default true. */
  requireStatus?: boolean;
  maxJwtBytes?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
  /**
   * libsecp256k1 on a worker thread for the ES256K checks (`Secp256k1Worker.start()`; the stack shares one with its
   * access tokens). Without it they run on the calling thread.
   */
  signatureWorker?: Secp256k1Worker;
}

/** A credential whose signature, issuer trust, validity period and status were all checked. */
/** Per-call choices of `verifyCredential` (see there). */
export interface CredentialCheckOptions {
  /** Accept this issuer only, instead of the issuers the trust list names for the credential's types. */
  issuer?: string;
  /** Refuse a credential without a status entry (default: the verifier's own setting). */
  requireStatus?: boolean;
  /**
   * The subject may be any absolute URI (a credential about a thing, such as an offering), not only a DID. Such a
   * credential binds no holder: never use it to grant a right to whoever presents it.
   */
  anySubject?: boolean;
}

export interface VerifiedCredential {
  jwt: string;
  /** `jti`, when the issuer set one. */
  id?: string;
  issuer: string;
  subject: string;
  /** VC types other than `VerifiableCredential`. */
  types: string[];
  /** `credentialSubject` without its `id`. */
  claims: Record<string, unknown>;
  issuedAt?: number;
  notBefore?: number;
  expiresAt?: number;
  status: BitstringStatusListEntry[];
}

/** A presentation whose signature, audience, nonce and every credential inside were checked. */
export interface VerifiedPresentation {
  holder: string;
  audience: string;
  nonce: string;
  expiresAt?: number;
  credentials: VerifiedCredential[];
  /** What the request that issued the nonce was for (`createRequest(binding)`), taken with the nonce in one step. */
  request?: string;
}

export interface PresentationRequest {
  nonce: string;
  audience: string;
  /** Seconds since the epoch after which the nonce is refused. */
  expiresAt: number;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A DID, not a DID URL: a path, query or fragment would make two spellings of one party. */
const isPlainDid = (v: unknown): v is string => {
  const p = parseDid(v);
  return p.ok && p.value.did === v;
};
/** An absolute URI (RFC 3986 §4.3: a scheme, then anything printable), of a sane length. */
const isAbsoluteUri = (v: unknown): v is string =>
  typeof v === 'string' && v.length <= 2048 && /^[A-Za-z][A-Za-z0-9+.-]*:[\x21-\x7e]+$/.test(v);
const optionalTime = (v: unknown): v is number | undefined =>
  v === undefined || (typeof v === 'number' && Number.isFinite(v));

/**
 * Verifies JWT credentials and presentations (VC Data Model 1.1 §6.3.1, JWT encoding) and everything around them that
 * the libraries leave to the caller: the nonce and audience of the presentation, and each embedded credential's
 * signature, issuer trust, validity period, status and holder binding. Every refusal is a result with a stable code.
 *
 * Order of checks: size and structure, then the algorithm allow-list, then trust (so an untrusted issuer's DID is never
 * resolved), then the signature, then the claims; the nonce is spent only for an authentic presentation.
 */
export class PresentationVerifier {
  readonly signatures: SignatureVerifier;
  private readonly o: Required<Omit<VerifierOptions, 'now' | 'signatureWorker'>> & { now: () => number };

  constructor(options: VerifierOptions) {
    this.signatures = new SignatureVerifier(options.signatureWorker ? { worker: options.signatureWorker } : {});
    this.o = {
      nonceTtlMs: DEFAULT_NONCE_TTL_MS,
      clockSkewSeconds: DEFAULT_CLOCK_SKEW_S,
      requireStatus: true,
      maxJwtBytes: MAX_JWT_BYTES,
      now: Date.now,
      ...options,
    };
  }

  /** How long an issued nonce is accepted (ms). */
  get nonceTtlMs(): number {
    return this.o.nonceTtlMs;
  }

  /**
   * Issue a single-use nonce for a presentation request addressed to this verifier. `binding` (what the request is for,
   * e.g. the resource and action) is kept with the nonce in the same store entry and handed back by
   * `verifyPresentation` when the nonce is spent: one store operation per request and one per presentation.
   */
  async createRequest(binding?: string): Promise<PresentationRequest> {
    const nonce = newNonce();
    const context = binding === undefined ? this.o.audience : `${this.o.audience}\n${binding}`;
    if (!(await this.o.nonces.put(nonce, context, this.o.nonceTtlMs))) {
      throw new Error('nonce collision'); // 128 random bits: a bug or a broken RNG, not an expected outcome
    }
    return { nonce, audience: this.o.audience, expiresAt: Math.floor((this.o.now() + this.o.nonceTtlMs) / 1000) };
  }

  /**
   * Verify a presentation JWT and every credential inside it. With `expectedNonce` the nonce must be that one and the
   * nonce store is not touched (the caller spent the request already, e.g. an OpenID4VP response whose `state` was
   * consumed once for several presentations); `audiences` adds accepted audiences (OpenID4VP 1.0 §8.6: the client id).
   */
  async verifyPresentation(
    jwt: unknown,
    options: { expectedNonce?: string; audiences?: readonly string[] } = {},
  ): Promise<Result<VerifiedPresentation>> {
    const parsed = parseJwt(jwt, this.o.maxJwtBytes);
    if (!parsed.ok) return parsed;
    const { payload } = parsed.value;
    const vp = payload.vp;
    if (!isRecord(vp)) return err('ERR_VP_MALFORMED', 'the JWT has no vp claim (VC Data Model 1.1 §6.3.1)');
    if (!Array.isArray(vp.type) || !vp.type.includes(VP_BASE_TYPE)) {
      return err('ERR_VP_MALFORMED', `vp.type must include ${VP_BASE_TYPE}`);
    }
    const holder = payload.iss;
    if (!isPlainDid(holder)) return err('ERR_VP_MALFORMED', 'vp iss must be a DID');
    if (
      vp.holder !== undefined &&
      (typeof vp.holder !== 'string' || normaliseDid(vp.holder) !== normaliseDid(holder))
    ) {
      return err('ERR_VP_MALFORMED', 'vp.holder differs from iss');
    }
    if (!optionalTime(payload.exp) || !optionalTime(payload.nbf)) {
      return err('ERR_VP_MALFORMED', 'exp and nbf must be NumericDate values (RFC 7519 §2)');
    }
    const vcs = vp.verifiableCredential;
    if (vcs === undefined || (Array.isArray(vcs) && vcs.length === 0)) {
      return err('ERR_VP_NO_CREDENTIAL', 'the presentation carries no credential');
    }
    const list = Array.isArray(vcs) ? vcs : [vcs];
    if (list.length > MAX_CREDENTIALS_PER_PRESENTATION) {
      return err('ERR_VP_MALFORMED', `a presentation carries at most ${MAX_CREDENTIALS_PER_PRESENTATION} credentials`);
    }

    const signed = await this.checkSignature(parsed.value, holder, 'authentication');
    if (!signed.ok) return signed;

    const aud = payload.aud;
    const audiences = Array.isArray(aud) ? aud : [aud];
    if (!audiences.includes(this.o.audience) && !audiences.some((a) => options.audiences?.includes(a as string))) {
      return err(
        'ERR_VP_AUDIENCE',
        `the presentation is addressed to ${String(JSON.stringify(aud)).slice(0, 200)}, not to this verifier`,
      );
    }
    const now = this.o.now() / 1000;
    const skew = this.o.clockSkewSeconds;
    if (payload.nbf !== undefined && payload.nbf > now + skew) {
      return err('ERR_VP_NOT_YET_VALID', 'the presentation is not valid yet (nbf)');
    }
    if (payload.exp !== undefined && payload.exp <= now - skew) {
      return err('ERR_VP_EXPIRED', 'the presentation has expired (exp)');
    }
    const nonce = payload.nonce;
    if (typeof nonce !== 'string' || nonce.length === 0 || nonce.length > MAX_NONCE_LENGTH) {
      return err('ERR_VP_NONCE', 'the presentation carries no nonce from this verifier');
    }
    if (options.expectedNonce !== undefined) {
      if (nonce !== options.expectedNonce) return err('ERR_VP_NONCE', 'the presentation carries another nonce');
    }
    // Spent here, once the presentation is known to be authentic and for us: a second use fails on every replica.
    const context = options.expectedNonce !== undefined ? this.o.audience : await this.o.nonces.consume(nonce);
    if (context === undefined) return err('ERR_VP_NONCE', 'the nonce is unknown, expired or already used');
    // `audience` or `audience \n binding` (an audience is a DID or a URL: it has no line break)
    const cut = context.indexOf('\n');
    const issuedFor = cut < 0 ? context : context.slice(0, cut);
    if (issuedFor !== this.o.audience) return err('ERR_VP_NONCE', 'the nonce was issued for another audience');

    const credentials: VerifiedCredential[] = [];
    for (const [i, item] of list.entries()) {
      const vcJwt = typeof item === 'string' ? item : isRecord(item) && isRecord(item.proof) ? item.proof.jwt : item;
      const vc = await this.verifyCredential(vcJwt);
      if (!vc.ok) return err(vc.error.code, `credential ${i}: ${vc.error.message}`, vc.error.details);
      // VC Data Model 1.1 §C (subject-holder relationship): only the subject may present its credential.
      if (normaliseDid(vc.value.subject) !== normaliseDid(holder)) {
        return err('ERR_VC_SUBJECT_MISMATCH', `credential ${i}: its subject is not the presenter`);
      }
      credentials.push(vc.value);
    }
    return ok({
      holder,
      audience: this.o.audience,
      nonce,
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
      credentials,
      ...(cut < 0 ? {} : { request: context.slice(cut + 1) }),
    });
  }

  /**
   * Verify one credential JWT: signature, issuer trusted for its types, validity period and status. `options.issuer`
   * replaces the trust list for this one credential with one DID (for credentials a party issues about something it
   * is trusted for elsewhere, such as a certifier's certification of an offering); `options.requireStatus` overrides
   * whether a credential without a status entry is refused.
   */
  async verifyCredential(jwt: unknown, options: CredentialCheckOptions = {}): Promise<Result<VerifiedCredential>> {
    const parsed = parseJwt(jwt, this.o.maxJwtBytes);
    if (!parsed.ok) return parsed;
    const { payload } = parsed.value;
    const vc = payload.vc;
    if (!isRecord(vc)) return err('ERR_VC_MALFORMED', 'the JWT has no vc claim (VC Data Model 1.1 §6.3.1)');
    if (!Array.isArray(vc.type) || !vc.type.every((t) => typeof t === 'string') || !vc.type.includes(VC_BASE_TYPE)) {
      return err('ERR_VC_MALFORMED', `vc.type must be a list of strings including ${VC_BASE_TYPE}`);
    }
    const types = (vc.type as string[]).filter((t) => t !== VC_BASE_TYPE);
    if (types.length === 0) return err('ERR_VC_MALFORMED', 'the credential has no type beyond VerifiableCredential');
    const subjectClaims = vc.credentialSubject;
    if (!isRecord(subjectClaims)) return err('ERR_VC_MALFORMED', 'vc.credentialSubject must be one object');
    const issuer = payload.iss;
    if (!isPlainDid(issuer)) return err('ERR_VC_MALFORMED', 'iss must be a DID');
    // VC Data Model 1.1 §6.3.1: iss carries the issuer; a different vc.issuer would be an unsigned-for second claim.
    const vcIssuer = isRecord(vc.issuer) ? vc.issuer.id : vc.issuer;
    if (vcIssuer !== undefined && vcIssuer !== issuer) return err('ERR_VC_MALFORMED', 'vc.issuer differs from iss');
    const subject: unknown = payload.sub ?? subjectClaims.id;
    if (typeof subject !== 'string' || !(options.anySubject ? isAbsoluteUri(subject) : isPlainDid(subject))) {
      return err('ERR_VC_MALFORMED', options.anySubject ? 'sub must be an absolute URI' : 'sub must be a DID');
    }
    if (subjectClaims.id !== undefined && subjectClaims.id !== subject) {
      return err('ERR_VC_MALFORMED', 'sub and credentialSubject.id differ');
    }
    if (!optionalTime(payload.exp) || !optionalTime(payload.nbf) || !optionalTime(payload.iat)) {
      return err('ERR_VC_MALFORMED', 'exp, nbf and iat must be NumericDate values (RFC 7519 §2)');
    }
    let status: BitstringStatusListEntry[] = [];
    if (vc.credentialStatus !== undefined) {
      const s = parseStatusListEntries(vc.credentialStatus);
      if (!s.ok) return s;
      status = s.value;
    } else if (options.requireStatus ?? this.o.requireStatus) {
      return err('ERR_VC_MALFORMED', 'the credential has no credentialStatus, so its revocation cannot be checked');
    }

    if (options.issuer !== undefined) {
      // One issuer named by the caller, instead of the trust list.
      if (issuer.toLowerCase() !== options.issuer.toLowerCase()) {
        return err('ERR_VC_UNTRUSTED_ISSUER', `the credential is issued by ${issuer}, not by ${options.issuer}`);
      }
    } else {
      // The trust list: the issuer must be trusted for every type the credential claims to be.
      for (const type of types) {
        if (!isTrustedIssuer(this.o.trust, type, issuer)) {
          return err('ERR_VC_UNTRUSTED_ISSUER', `${issuer} is not trusted to issue ${type}`);
        }
      }
    }

    const signed = await this.checkSignature(parsed.value, issuer, 'assertionMethod');
    if (!signed.ok) return signed;

    const now = this.o.now() / 1000;
    const skew = this.o.clockSkewSeconds;
    if (payload.nbf !== undefined && payload.nbf > now + skew) {
      return err('ERR_VC_NOT_YET_VALID', 'the credential is not valid yet (nbf)');
    }
    if (payload.exp !== undefined && payload.exp <= now - skew) {
      return err('ERR_VC_EXPIRED', 'the credential has expired (exp)');
    }

    const statusChecked = await this.checkStatus(status, issuer);
    if (!statusChecked.ok) return statusChecked;

    const { id: _id, ...claims } = subjectClaims;
    return ok({
      jwt: parsed.value.raw,
      ...(typeof payload.jti === 'string' ? { id: payload.jti } : {}),
      issuer,
      subject,
      types,
      claims,
      ...(payload.iat === undefined ? {} : { issuedAt: payload.iat }),
      ...(payload.nbf === undefined ? {} : { notBefore: payload.nbf }),
      ...(payload.exp === undefined ? {} : { expiresAt: payload.exp }),
      status,
    });
  }

  /**
   * Verify a BitstringStatusListCredential JWT as the issuer publishes it (Bitstring Status List §2.2) and decode it,
   * ready for `InMemoryStatusListProvider.set`. The snapshot keeps the list's issuer, so a list signed by anyone else
   * than a credential's issuer is never used for that credential.
   *
   * @param expectedUrl the URL the list was fetched from or announced at; a list claiming another id is refused.
   */
  async verifyStatusListCredential(
    jwt: unknown,
    expectedUrl?: string,
  ): Promise<Result<{ url: string; snapshot: StatusListSnapshot }>> {
    const parsed = parseJwt(jwt, STATUS_LIST_MAX_JWT_BYTES);
    if (!parsed.ok) return parsed;
    if (parsed.value.header.typ === STATUS_LIST_TOKEN_TYP) return this.verifyStatusListToken(parsed.value, expectedUrl);
    const { payload } = parsed.value;
    const vc = payload.vc;
    if (!isRecord(vc) || !Array.isArray(vc.type) || !vc.type.includes(STATUS_LIST_CREDENTIAL_TYPE)) {
      return err('ERR_VC_MALFORMED', `not a ${STATUS_LIST_CREDENTIAL_TYPE}`);
    }
    const url = payload.jti ?? vc.id;
    if (typeof url !== 'string' || !URL.canParse(url)) return err('ERR_VC_MALFORMED', 'the status list has no URL id');
    if (expectedUrl !== undefined && url !== expectedUrl) {
      return err('ERR_VC_MALFORMED', `the status list at ${expectedUrl} claims to be ${url}`);
    }
    const subject = vc.credentialSubject;
    if (!isRecord(subject) || subject.type !== STATUS_LIST_SUBJECT_TYPE) {
      return err('ERR_VC_MALFORMED', `the status list subject is not a ${STATUS_LIST_SUBJECT_TYPE}`);
    }
    const purpose = subject.statusPurpose;
    if (typeof purpose !== 'string' || !(STATUS_PURPOSES as readonly string[]).includes(purpose)) {
      return err('ERR_VC_MALFORMED', `status purpose '${String(purpose)}' is not supported`);
    }
    const issuer = payload.iss;
    if (!isPlainDid(issuer)) return err('ERR_VC_MALFORMED', 'iss must be a DID');
    if (!optionalTime(payload.exp) || !optionalTime(payload.nbf)) {
      return err('ERR_VC_MALFORMED', 'exp and nbf must be NumericDate values (RFC 7519 §2)');
    }
    const signed = await this.checkSignature(parsed.value, issuer, 'assertionMethod');
    if (!signed.ok) return signed;
    const now = this.o.now() / 1000;
    if (payload.exp !== undefined && payload.exp <= now - this.o.clockSkewSeconds) {
      return err('ERR_VC_EXPIRED', 'the status list credential has expired');
    }
    const bits = decodeStatusList(subject.encodedList);
    if (!bits.ok) return bits;
    return ok({ url, snapshot: { statusPurpose: purpose as StatusPurpose, bits: bits.value, issuer } });
  }

  /**
   * A Status List Token (draft-ietf-oauth-status-list §5): `typ` statuslist+jwt, `sub` the URI it was fetched from,
   * signed by its issuer's DID (`iss`), unexpired, `status_list` `{ bits, lst }` with `lst` zlib-compressed.
   */
  private async verifyStatusListToken(
    parsed: ParsedJwt,
    expectedUrl?: string,
  ): Promise<Result<{ url: string; snapshot: StatusListSnapshot }>> {
    const { payload } = parsed;
    const url = payload.sub;
    if (typeof url !== 'string' || !URL.canParse(url))
      return err('ERR_VC_MALFORMED', 'the status list token has no sub URI');
    if (expectedUrl !== undefined && url !== expectedUrl) {
      return err('ERR_VC_MALFORMED', `the status list token at ${expectedUrl} claims to be ${url}`);
    }
    const kid = parsed.header.kid;
    const issuer = payload.iss ?? (typeof kid === 'string' ? kid.split('#')[0] : undefined);
    if (!isPlainDid(issuer)) return err('ERR_VC_MALFORMED', 'the status list token names no issuer DID (iss)');
    if (!optionalTime(payload.exp) || !optionalTime(payload.iat)) {
      return err('ERR_VC_MALFORMED', 'exp and iat must be NumericDate values (RFC 7519 §2)');
    }
    const signed = await this.checkSignature(parsed, issuer, 'assertionMethod');
    if (!signed.ok) return signed;
    if (payload.exp !== undefined && payload.exp <= this.o.now() / 1000 - this.o.clockSkewSeconds) {
      return err('ERR_VC_EXPIRED', 'the status list token has expired');
    }
    const sl = payload.status_list;
    if (!isRecord(sl) || ![1, 2, 4, 8].includes(sl.bits as number) || typeof sl.lst !== 'string') {
      return err('ERR_VC_MALFORMED', 'status_list must be { bits: 1|2|4|8, lst } (Token Status List §4.2)');
    }
    let list: StatusList;
    try {
      list = StatusList.decompressStatusList(sl.lst, sl.bits as 1 | 2 | 4 | 8);
    } catch {
      return err('ERR_VC_MALFORMED', 'the status list token does not decompress');
    }
    const size = list.statusList.length;
    return ok({
      url,
      snapshot: {
        statusPurpose: 'revocation',
        bits: Bitstring.create(),
        issuer,
        token: { size, get: (i: number) => list.getStatus(i) },
      },
    });
  }

  /** Check `jwt`'s signature against the `purpose` keys of `did` as it resolves now (for other formats' checks). */
  checkJwtSignature(jwt: ParsedJwt, did: string, purpose: ProofPurpose): Promise<Result<true>> {
    return this.checkSignature(jwt, did, purpose);
  }

  /** Check status entries against the lists this verifier reads (pushed, or fetched and refreshed by age). */
  checkCredentialStatus(entries: BitstringStatusListEntry[], issuer: string): Promise<Result<true>> {
    return this.checkStatus(entries, issuer);
  }

  /** The trust list, clock skew, status requirement and clock this verifier applies. */
  get policy(): { trust: TrustList; clockSkewSeconds: number; requireStatus: boolean; now: () => number } {
    return {
      trust: this.o.trust,
      clockSkewSeconds: this.o.clockSkewSeconds,
      requireStatus: this.o.requireStatus,
      now: this.o.now,
    };
  }

  private async resolve(did: string): Promise<Result<DIDDocument>> {
    let result: Awaited<ReturnType<Resolvable['resolve']>>;
    try {
      result = await this.o.resolver.resolve(did);
    } catch (cause) {
      return err('ERR_DID_RESOLUTION_FAILED', `resolving ${did} failed: ${(cause as Error).message}`);
    }
    const error = result.didResolutionMetadata?.error;
    if (error || !result.didDocument) {
      const notFound = ['notFound', 'invalidDid', 'unknownNetwork', 'unsupportedDidMethod', 'methodNotSupported'];
      return error === undefined || notFound.includes(error)
        ? err('ERR_DID_NOT_FOUND', `${did} does not resolve here (${error ?? 'no document'})`)
        : err('ERR_DID_RESOLUTION_FAILED', `resolving ${did} failed: ${error}`);
    }
    // DID Core §7.1.2: a deactivated DID (ERC-1056 owner set to 0x0) signs nothing any more.
    if (result.didDocumentMetadata?.deactivated) return err('ERR_DID_NOT_FOUND', `${did} is deactivated`);
    return ok(result.didDocument);
  }

  private async checkSignature(jwt: ParsedJwt, did: string, purpose: ProofPurpose): Promise<Result<true>> {
    const doc = await this.resolve(did);
    if (!doc.ok) return doc;
    if (!(await this.signatures.verifyAsync(jwt, doc.value, purpose))) {
      return err('ERR_JWT_SIGNATURE', `the signature does not verify against the ${purpose} keys of ${did}`);
    }
    return ok(true);
  }

  private checkStatus(entries: BitstringStatusListEntry[], issuer: string): Promise<Result<true>> {
    return checkStatusEntries(this.o.statusLists, entries, issuer);
  }
}

/**
 * Check a credential's status entries against the installed lists (Bitstring Status List §3.2): every list present,
 * of the entry's purpose, published by the credential's own issuer, the index inside it and its bit clear. Revocation
 * is read first, so a credential both revoked and suspended reports the permanent state. The one status check: the
 * presentation checks and the route guard (for the credentials an access token was granted on) both call it.
 */
export async function checkStatusEntries(
  lists: StatusListProvider,
  entries: readonly BitstringStatusListEntry[],
  issuer: string,
): Promise<Result<true>> {
  // Revocation first: a credential both revoked and suspended reports the permanent state.
  const ordered = [...entries].sort((a, b) =>
    a.statusPurpose === 'revocation' ? -1 : b.statusPurpose === 'revocation' ? 1 : 0,
  );
  for (const entry of ordered) {
    let list: StatusListSnapshot | undefined;
    try {
      list = await lists.getStatusList(entry.statusListCredential);
    } catch (e) {
      // the list is held by a dependency of ours that is down: name it (a retryable 503), not the list
      if (isDependencyDown(e)) return err(e.code, e.message);
      throw e;
    }
    if (!list) return err('ERR_VC_STATUS_UNAVAILABLE', `status list ${entry.statusListCredential} is not available`);
    if (entry.type === TOKEN_STATUS_ENTRY_TYPE) {
      // Token Status List §8: one 2-bit value per credential.
      if (!list.token)
        return err('ERR_VC_STATUS_UNAVAILABLE', `${entry.statusListCredential} is not a status list token`);
      if (list.issuer !== undefined && normaliseDid(list.issuer) !== normaliseDid(issuer)) {
        return err(
          'ERR_VC_STATUS_UNAVAILABLE',
          `status list ${entry.statusListCredential} is not the credential issuer's`,
        );
      }
      const i = Number(entry.statusListIndex);
      if (!Number.isSafeInteger(i) || i < 0 || i >= list.token.size) {
        return err(
          'ERR_VC_MALFORMED',
          `status_list idx ${entry.statusListIndex} is outside the list (${list.token.size})`,
        );
      }
      const v = list.token.get(i);
      if (v === TOKEN_STATUS.SUSPENDED) return err('ERR_VC_SUSPENDED', 'the credential is suspended');
      if (v !== TOKEN_STATUS.VALID) return err('ERR_VC_REVOKED', 'the credential has been revoked');
      continue;
    }
    if (list.token)
      return err('ERR_VC_STATUS_UNAVAILABLE', `${entry.statusListCredential} is not a bitstring status list`);
    if (list.statusPurpose !== entry.statusPurpose) {
      return err(
        'ERR_VC_STATUS_UNAVAILABLE',
        `status list ${entry.statusListCredential} is not a ${entry.statusPurpose} list`,
      );
    }
    if (list.issuer !== undefined && normaliseDid(list.issuer) !== normaliseDid(issuer)) {
      return err(
        'ERR_VC_STATUS_UNAVAILABLE',
        `status list ${entry.statusListCredential} is not the credential issuer's`,
      );
    }
    const index = Number(entry.statusListIndex);
    if (index >= list.bits.length) {
      return err('ERR_VC_MALFORMED', `statusListIndex ${index} is outside the list (${list.bits.length} entries)`);
    }
    if (list.bits.get(index)) {
      return entry.statusPurpose === 'revocation'
        ? err('ERR_VC_REVOKED', 'the credential has been revoked')
        : err('ERR_VC_SUSPENDED', 'the credential is suspended');
    }
  }
  return ok(true);
}
