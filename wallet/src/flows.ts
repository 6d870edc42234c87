import {
  type ErrorShape,
  decodeStatusList,
  err,
  EVM_ADDRESS_PATTERN,
  isErrorCode,
  OFFER_PROOF_TYP,
  ok,
  type Result,
  type StatusPurpose,
  TOKEN_STATUS,
  TOKEN_STATUS_ENTRY_TYPE,
} from '@tessera/protocol';
import { StatusList } from '@sd-jwt/jwt-status-list';
import { createJWT } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { type Requirement, requirementTypes } from '@tessera/protocol';
import { parseOffer } from './offer.js';
import type { HeldCredential, HeldToken, TesseraWallet } from './store.js';

type Fetch = typeof fetch;
export interface FlowOptions {
  /** Defaults to the global fetch. */
  fetch?: Fetch;
}

/** What `POST /verifier/presentation-requests` answers. */
export interface PresentationRequest {
  nonce: string;
  audience: string;
  expiresAt: string | number;
  resource: string;
  action: string;
  requirements: Requirement[];
}

/** What `POST /verifier/presentations` answers. */
export interface AccessTokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  holder: string;
  scopes: { resource: string; action: string }[];
  policies: string[];
}

const CONTEXT = ['https://www.w3.org/2018/credentials/v1'];
/** The proof that redeems an offer lives this long (seconds). */
const PROOF_TTL_S = 120;

/**
 * One HTTP exchange as a Result: a 2xx JSON body, or the server's `{ error: { code, message } }`, or ERR_UNAVAILABLE
 * when nothing (or nothing coded) answers. `details.status` carries the HTTP status of a refusal.
 */
export async function httpJson<T>(
  url: string,
  init: { method?: string; body?: unknown; token?: string },
  options: FlowOptions = {},
): Promise<Result<{ status: number; body: T }>> {
  const f = options.fetch ?? fetch;
  let res: Response;
  try {
    res = await f(url, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: {
        accept: 'application/json',
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      },
      ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    });
  } catch (e) {
    return err('ERR_UNAVAILABLE', `${url} does not answer: ${(e as Error).message}`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text;
  }
  if (res.ok) return ok({ status: res.status, body: body as T });
  const e = (body as { error?: Partial<ErrorShape> } | undefined)?.error;
  if (e && isErrorCode(e.code)) {
    return err(e.code, e.message ?? '', {
      status: res.status,
      ...(e.details === undefined ? {} : { details: e.details }),
    });
  }
  return err('ERR_UNAVAILABLE', `${url} answered ${res.status} without a coded error`, { status: res.status });
}

/**
 * Redeem a one-time credential offer (the issuer's pre-authorised code flow) and keep the credential: the holder
 * proves control of its DID with a JWT (ES256K) whose `aud` is the issuer and whose `nonce` is the code.
 *
 * @param offer an offer URL, an `openid-credential-offer://` URI, the issuer's offer JSON, or a bare code with `issuer`.
 */
export async function receiveOffer(
  wallet: TesseraWallet,
  offer: string,
  options: FlowOptions & { issuer?: string } = {},
): Promise<Result<HeldCredential>> {
  const parsed = parseOffer(offer, options.issuer);
  if (!parsed.ok) return parsed;
  const { issuer, redeemUrl, code } = parsed.value;
  const proof = await createJWT(
    { aud: issuer, nonce: code },
    { issuer: wallet.did, signer: wallet.signer(), expiresIn: PROOF_TTL_S },
    // did-jwt types `typ` as 'JWT' only; OpenID4VCI needs its own.
    { alg: 'ES256K', typ: OFFER_PROOF_TYP as unknown as 'JWT' },
  );
  const r = await httpJson<{ id: string; type: string; credential: string }>(
    redeemUrl,
    { body: { code, proof } },
    options,
  );
  if (!r.ok) return r;
  return wallet.addCredential(r.value.body.credential);
}

/** Ask a verifier (its base URL, e.g. `http://127.0.0.1:8080/verifier`) what it needs for `action` on `resource`. */
export async function requestPresentation(
  verifier: string,
  scope: { resource: string; action: string },
  options: FlowOptions = {},
): Promise<Result<PresentationRequest>> {
  const r = await httpJson<PresentationRequest>(
    `${trimSlash(verifier)}/presentation-requests`,
    { body: scope },
    options,
  );
  return r.ok ? ok(r.value.body) : r;
}

function claimAt(claims: Record<string, unknown>, path: string): unknown {
  let v: unknown = claims;
  for (const k of path.split('.'))
    v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/**
 * Whether a held credential can meet a requirement, as far as the wallet can tell: type, issuer list, expiry and the
 * claim constraints. `equalsParam` names a route parameter the wallet cannot see; the claim must then be one of the
 * resource's path segments. The verifier decides; this only picks what to disclose.
 */
export function mayMeet(vc: HeldCredential, req: Requirement, resource: string, now = Date.now()): boolean {
  if (!requirementTypes(req).some((t) => vc.types.includes(t))) return false;
  if (req.issuers && !req.issuers.includes(vc.issuer)) return false;
  if (req.notExpired !== false && vc.expiresAt !== undefined && Date.parse(vc.expiresAt) <= now) return false;
  const segments = resource.split('/').map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return req.claims.every((c) => {
    const v = claimAt(vc.claims, c.claim);
    if ('equals' in c) return v === c.equals;
    if ('oneOf' in c) return c.oneOf.includes(v as never);
    if ('equalsParam' in c) return typeof v === 'string' && segments.includes(v);
    if ('exists' in c) return v !== undefined && v !== null;
    if (typeof v !== 'number') return false;
    return (c.atLeast === undefined || v >= c.atLeast) && (c.atMost === undefined || v <= c.atMost);
  });
}

/**
 * Answer a presentation request: for each requirement, the newest held credential that may meet it (each disclosed
 * once), in a JWT VP signed ES256K by the holder key with the request's `nonce` and `aud` (did-jwt-vc).
 */
export async function buildPresentation(
  wallet: TesseraWallet,
  request: PresentationRequest,
): Promise<Result<{ vp: string; credentials: HeldCredential[] }>> {
  const chosen: HeldCredential[] = [];
  for (const [i, req] of request.requirements.entries()) {
    const candidates = wallet.credentials.filter((c) => mayMeet(c, req, request.resource));
    const pick = candidates.at(-1);
    if (!pick) {
      return err(
        'ERR_WALLET_NO_MATCHING_CREDENTIAL',
        `requirement ${i} (${requirementTypes(req).join(' or ')}${req.claims.length ? ` with ${req.claims.map((c) => c.claim).join(', ')}` : ''}) for ${request.action} ${request.resource}: no held credential meets it`,
        { requirement: i, credentialType: requirementTypes(req).join(' or ') },
      );
    }
    if (!chosen.includes(pick)) chosen.push(pick);
  }
  const vp = await createVerifiablePresentationJwt(
    {
      vp: { '@context': CONTEXT, type: ['VerifiablePresentation'], verifiableCredential: chosen.map((c) => c.jwt) },
    } as never,
    { did: wallet.did, signer: wallet.signer(), alg: 'ES256K' },
    { challenge: request.nonce, domain: request.audience },
  );
  return ok({ vp, credentials: chosen });
}

/** Submit a VP JWT to the verifier; an access token, or the verifier's coded refusal. */
export async function submitPresentation(
  verifier: string,
  vp: string,
  options: FlowOptions = {},
): Promise<Result<AccessTokenResponse>> {
  const r = await httpJson<AccessTokenResponse>(`${trimSlash(verifier)}/presentations`, { body: { vp } }, options);
  return r.ok ? ok(r.value.body) : r;
}

/**
 * The whole wallet side of the wallet flow: request → choose → sign → submit; the token is kept in the wallet
 * for `call`.
 */
export async function present(
  wallet: TesseraWallet,
  verifier: string,
  scope: { resource: string; action: string },
  options: FlowOptions = {},
): Promise<Result<AccessTokenResponse & { presented: HeldCredential[] }>> {
  const request = await requestPresentation(verifier, scope, options);
  if (!request.ok) return request;
  const built = await buildPresentation(wallet, request.value);
  if (!built.ok) return built;
  const answer = await submitPresentation(verifier, built.value.vp, options);
  if (!answer.ok) return answer;
  const now = Date.now();
  wallet.addToken({
    verifier: trimSlash(verifier),
    resource: request.value.resource,
    action: request.value.action.toUpperCase(),
    token: answer.value.access_token,
    holder: answer.value.holder,
    expiresAt: new Date(now + answer.value.expires_in * 1000).toISOString(),
    obtainedAt: new Date(now).toISOString(),
  });
  return ok({ ...answer.value, presented: built.value.credentials });
}

/**
 * The held token for a call: unexpired, for this method, and whose resource the URL's path ends with (services mount
 * their routes under a prefix, e.g. `/services/energy` + `/energy/meters/M/orders`). The newest one wins.
 */
export function tokenFor(wallet: TesseraWallet, url: string, method: string, now = Date.now()): HeldToken | undefined {
  let path: string;
  try {
    path = new URL(url).pathname.replace(/\/+$/, '');
  } catch {
    return undefined;
  }
  return wallet.tokens
    .filter((t) => Date.parse(t.expiresAt) > now && t.action === method.toUpperCase() && path.endsWith(t.resource))
    .at(-1);
}

/** Call a gated endpoint with the wallet's token for it (or `token`); the body, or the service's coded refusal. */
export async function callGated(
  wallet: TesseraWallet,
  url: string,
  init: { method?: string; data?: unknown; token?: string } = {},
  options: FlowOptions = {},
): Promise<Result<{ status: number; body: unknown }>> {
  const method = (init.method ?? (init.data === undefined ? 'GET' : 'POST')).toUpperCase();
  const token = init.token ?? tokenFor(wallet, url, method)?.token;
  if (token === undefined) {
    return err(
      'ERR_WALLET_NO_TOKEN',
      `no unexpired token for ${method} ${url}; run \`wallet present --verifier <url> --resource <path> --action ${method}\``,
    );
  }
  return httpJson(url, { method, token, ...(init.data === undefined ? {} : { body: init.data }) }, options);
}

/** A credential's status as its issuer publishes it, for display ("active", "revoked", "suspended", "expired"). */
export type DisplayStatus = 'active' | 'revoked' | 'suspended' | 'expired' | 'unknown';

/**
 * Read the published status lists of a credential (public, no auth). For display only: the list JWTs are decoded,
 * not verified; verifiers check the list signatures and the bits themselves.
 */
export async function publishedStatus(vc: HeldCredential, options: FlowOptions = {}): Promise<DisplayStatus> {
  const f = options.fetch ?? fetch;
  const found: Partial<Record<StatusPurpose, boolean>> = {};
  for (const entry of vc.status) {
    try {
      const res = await f(entry.statusListCredential);
      if (!res.ok) return 'unknown';
      const payload = JSON.parse(Buffer.from((await res.text()).split('.')[1] ?? '', 'base64url').toString('utf8'));
      if (entry.type === TOKEN_STATUS_ENTRY_TYPE) {
        // A Status List Token (SD-JWT VCs): 0 valid, 1 revoked, 2 suspended.
        const sl = payload?.status_list;
        const v = StatusList.decompressStatusList(String(sl?.lst), sl?.bits).getStatus(Number(entry.statusListIndex));
        if (v === TOKEN_STATUS.INVALID) found.revocation = true;
        if (v === TOKEN_STATUS.SUSPENDED) found.suspension = true;
        continue;
      }
      const bits = decodeStatusList(payload?.vc?.credentialSubject?.encodedList);
      if (!bits.ok) return 'unknown';
      found[entry.statusPurpose] = bits.value.get(Number(entry.statusListIndex));
    } catch {
      return 'unknown';
    }
  }
  if (found.revocation) return 'revoked';
  if (found.suspension) return 'suspended';
  if (vc.expiresAt !== undefined && Date.parse(vc.expiresAt) <= Date.now()) return 'expired';
  return vc.status.length === 0 ? 'unknown' : 'active';
}

const trimSlash = (u: string) => u.replace(/\/+$/, '');

/** What a service answers when asked for the delegation that lets it sign for the holder (ERC-1056 veriKey). */
interface HostedKeyOffer {
  did: string;
  owner: string;
  digest: string;
  active: boolean;
  request: {
    registry: string;
    nonce: string;
    identity: string;
    delegateType: string;
    delegate: string;
    validitySeconds: number;
  };
}

/** The longest delegation the wallet signs without being asked differently (two years). */
export const MAX_DELEGATION_SECONDS = 2 * 365 * 24 * 3600;

/**
 * Let a service sign for the holder's DID (such as the data exchange's hosted key): ask `url` (…/partners/hosted-key)
 * for the delegation, check it is a `veriKey` delegation of this wallet's own identity for at most two years,
 * sign it with the holder key (the digest is recomputed by the wallet) and post the signature to `url/confirm`,
 * where the service relays it on chain. `token` is an access token for the service (default: the wallet's latest
 * token for `resource`).
 */
export async function authoriseHostedKey(
  wallet: TesseraWallet,
  url: string,
  init: { token?: string; resource?: string } = {},
  options: FlowOptions = {},
): Promise<Result<{ delegate: string; txHash: string | null; alreadyActive: boolean }>> {
  const resource = init.resource ?? '/data/exchange';
  const token =
    init.token ??
    wallet.tokens.filter((t) => Date.parse(t.expiresAt) > Date.now() && t.resource === resource).at(-1)?.token;
  if (token === undefined) {
    return err(
      'ERR_WALLET_NO_TOKEN',
      `no unexpired token for ${resource}; run \`wallet present --verifier <url> --resource ${resource} --action '*'\``,
    );
  }
  const base = url.replace(/\/+$/, '');
  const asked = await httpJson<HostedKeyOffer>(base, { method: 'POST', token, body: {} }, options);
  if (!asked.ok) return asked;
  const offer = asked.value.body;
  const r = offer?.request;
  if (
    r?.delegateType !== 'veriKey' ||
    !Number.isInteger(r.validitySeconds) ||
    r.validitySeconds <= 0 ||
    r.validitySeconds > MAX_DELEGATION_SECONDS ||
    !/^\d{1,78}$/.test(String(r.nonce)) ||
    !EVM_ADDRESS_PATTERN.test(String(r.delegate)) ||
    !EVM_ADDRESS_PATTERN.test(String(r.registry))
  ) {
    return err(
      'ERR_WALLET_DELEGATION_REFUSED',
      'the service asked for something other than a veriKey delegation of at most two years',
    );
  }
  if (offer.active) return ok({ delegate: r.delegate, txHash: null, alreadyActive: true });
  const signature = wallet.signDelegation({
    registry: r.registry,
    nonce: BigInt(r.nonce),
    identity: r.identity,
    delegateType: 'veriKey',
    delegate: r.delegate,
    validitySeconds: r.validitySeconds,
  });
  if (!signature.ok) return signature;
  const confirmed = await httpJson<{ delegate: string; txHash: string | null }>(
    `${base}/confirm`,
    { method: 'POST', token, body: { signature: signature.value } },
    options,
  );
  if (!confirmed.ok) return confirmed;
  return ok({ ...confirmed.value.body, alreadyActive: false });
}
