import { createHash, generateKeyPairSync, type JsonWebKey, randomBytes, sign as cryptoSign } from 'node:crypto';
import {
  DID_CLIENT_ID_PREFIX,
  err,
  KB_JWT_TYP,
  OFFER_PROOF_TYP,
  OID4VP_REQUEST_TYP,
  ok,
  PRE_AUTHORIZED_CODE_GRANT,
  type Result,
  typeOfVct,
} from '@tessera/protocol';
import { encryptJwe, type JweEnc } from '@tessera/runtime';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { computeAddress, SigningKey } from 'ethers';
import type { FlowOptions } from './flows.js';
import type { HeldCredential, TesseraWallet } from './store.js';

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const trimSlash = (u: string) => u.replace(/\/+$/, '');

async function getJson(
  url: string,
  f: typeof fetch,
  init?: RequestInit,
): Promise<Result<{ status: number; body: Record<string, unknown> }>> {
  let res: Response;
  try {
    res = await f(url, init);
  } catch (e) {
    return err('ERR_UNAVAILABLE', `${url} does not answer: ${(e as Error).message}`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? {} : JSON.parse(text);
  } catch {
    body = { text };
  }
  if (!isRecord(body)) body = {};
  const b = body as Record<string, unknown>;
  if (!res.ok) {
    const code = typeof b.error_code === 'string' ? b.error_code : isRecord(b.error) ? b.error.code : undefined;
    const message =
      typeof b.error_description === 'string'
        ? b.error_description
        : isRecord(b.error)
          ? String(b.error.message)
          : `${url} answered ${res.status}`;
    return err((typeof code === 'string' ? code : 'ERR_UNAVAILABLE') as never, message, { status: res.status });
  }
  return ok({ status: res.status, body: b });
}

/** A DPoP key for one issuance (RFC 9449): P-256, kept in memory for the session only. */
function dpopKey() {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  return (method: string, url: string, accessToken?: string) => {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } };
    const payload = {
      htm: method,
      htu: url,
      iat: Math.floor(Date.now() / 1000),
      jti: randomBytes(16).toString('base64url'),
      ...(accessToken ? { ath: createHash('sha256').update(accessToken).digest('base64url') } : {}),
    };
    const input = `${b64(header)}.${b64(payload)}`;
    return `${input}.${cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
  };
}

/**
 * Receive the credentials of an OpenID4VCI 1.0 credential offer (pre-authorized code grant): the offer by value or by
 * reference, the issuer's metadata, a DPoP-bound token (with the transaction code the issuer sent by another channel),
 * a `c_nonce`, and one credential request per offered configuration with a `jwt` proof by this wallet's DID key.
 * Both formats are kept: `jwt_vc_json` and `dc+sd-jwt`.
 */
export async function receiveCredentialOffer(
  wallet: TesseraWallet,
  offerUri: string,
  options: FlowOptions & { txCode?: string } = {},
): Promise<Result<HeldCredential[]>> {
  const f = options.fetch ?? fetch;
  let offer: unknown;
  const query = offerUri.startsWith('openid-credential-offer:')
    ? new URLSearchParams(offerUri.slice(offerUri.indexOf('?') + 1))
    : undefined;
  if (query?.get('credential_offer')) {
    try {
      offer = JSON.parse(query.get('credential_offer')!);
    } catch {
      return err('ERR_WALLET_OFFER_MALFORMED', 'the credential_offer parameter is not JSON');
    }
  } else if (query?.get('credential_offer_uri')) {
    const r = await getJson(query.get('credential_offer_uri')!, f);
    if (!r.ok) return r;
    offer = r.value.body;
  } else {
    return err('ERR_WALLET_OFFER_MALFORMED', 'expected openid-credential-offer://?credential_offer(_uri)=…');
  }
  if (
    !isRecord(offer) ||
    typeof offer.credential_issuer !== 'string' ||
    !Array.isArray(offer.credential_configuration_ids)
  ) {
    return err('ERR_WALLET_OFFER_MALFORMED', 'the offer has no credential_issuer or credential_configuration_ids');
  }
  const grant = isRecord(offer.grants) ? offer.grants[PRE_AUTHORIZED_CODE_GRANT] : undefined;
  if (!isRecord(grant) || typeof grant['pre-authorized_code'] !== 'string') {
    return err('ERR_WALLET_OFFER_MALFORMED', 'the offer has no pre-authorized code grant');
  }
  if (grant.tx_code !== undefined && options.txCode === undefined) {
    return err('ERR_OID4VCI_TX_CODE', 'this offer needs the transaction code the issuer sent you (--tx-code)');
  }
  const issuer = trimSlash(offer.credential_issuer);
  const meta = await getJson(`${issuer}/.well-known/openid-credential-issuer`, f);
  if (!meta.ok) return meta;
  if (meta.value.body.credential_issuer !== issuer)
    return err('ERR_WALLET_OFFER_MALFORMED', 'the metadata is of another issuer');
  const as = await getJson(`${issuer}/.well-known/oauth-authorization-server`, f);
  if (!as.ok) return as;
  const tokenEndpoint = String(as.value.body.token_endpoint);
  const dpop = dpopKey();
  const token = await getJson(tokenEndpoint, f, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpop('POST', tokenEndpoint) },
    body: new URLSearchParams({
      grant_type: PRE_AUTHORIZED_CODE_GRANT,
      'pre-authorized_code': grant['pre-authorized_code'],
      ...(options.txCode !== undefined ? { tx_code: options.txCode } : {}),
    }).toString(),
  });
  if (!token.ok) return token;
  return retrieveAll(
    wallet,
    meta.value.body,
    String(token.value.body.access_token),
    dpop,
    offer.credential_configuration_ids,
    f,
  );
}

/** One credential request per configuration id, each with a fresh c_nonce and a jwt proof; keeps what comes back. */
async function retrieveAll(
  wallet: TesseraWallet,
  metadata: Record<string, unknown>,
  accessToken: string,
  dpop: ReturnType<typeof dpopKey>,
  configurationIds: readonly unknown[],
  f: typeof fetch,
): Promise<Result<HeldCredential[]>> {
  const issuer = String(metadata.credential_issuer);
  const credentialEndpoint = String(metadata.credential_endpoint);
  const nonceEndpoint = String(metadata.nonce_endpoint);
  const held: HeldCredential[] = [];
  for (const id of configurationIds) {
    const nonce = await getJson(nonceEndpoint, f, { method: 'POST' });
    if (!nonce.ok) return nonce;
    const header = { alg: 'ES256K', typ: OFFER_PROOF_TYP, kid: `${wallet.did}#controller` };
    const payload = { aud: issuer, nonce: nonce.value.body.c_nonce, iat: Math.floor(Date.now() / 1000) };
    const input = `${b64(header)}.${b64(payload)}`;
    const proof = `${input}.${await wallet.signer()(input)}`;
    const r = await getJson(credentialEndpoint, f, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `DPoP ${accessToken}`,
        dpop: dpop('POST', credentialEndpoint, accessToken),
      },
      body: JSON.stringify({ credential_configuration_id: id, proofs: { jwt: [proof] } }),
    });
    if (!r.ok) return r;
    const list = Array.isArray(r.value.body.credentials) ? r.value.body.credentials : [];
    for (const c of list) {
      const credential = isRecord(c) ? c.credential : undefined;
      if (typeof credential !== 'string') return err('ERR_WALLET_OFFER_MALFORMED', 'the issuer answered no credential');
      const added = credential.includes('~') ? wallet.addSdJwtCredential(credential) : wallet.addCredential(credential);
      if (!added.ok) return added;
      held.push(added.value);
    }
  }
  return ok(held);
}

/**
 * Fetch one's own credentials from an OpenID4VCI issuer with the authorization code grant (RFC 6749 §4.1 with PKCE,
 * RFC 7636): the wallet signs in at the authorization endpoint with `signIn`, a Tessera access token for
 * `/issuer/oid4vci/authorize` (obtained by presenting a role credential, e.g. with `presentOpenid4vp`), receives the
 * code on its redirect URI, redeems it with the PKCE verifier and a DPoP proof, and requests each configuration.
 */
export async function receiveWithAuthorizationCode(
  wallet: TesseraWallet,
  issuerUrl: string,
  configurationIds: string[],
  o: FlowOptions & { signIn: string; clientId?: string; redirectUri?: string },
): Promise<Result<HeldCredential[]>> {
  const f = o.fetch ?? fetch;
  const issuer = trimSlash(issuerUrl);
  const meta = await getJson(`${issuer}/.well-known/openid-credential-issuer`, f);
  if (!meta.ok) return meta;
  const as = await getJson(`${issuer}/.well-known/oauth-authorization-server`, f);
  if (!as.ok) return as;
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const state = randomBytes(16).toString('base64url');
  const clientId = o.clientId ?? 'tessera-wallet';
  const redirectUri = o.redirectUri ?? 'http://127.0.0.1/tessera-wallet/callback';
  const auth = new URL(String(as.value.body.authorization_endpoint));
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: redirectUri,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    scope: configurationIds.join(' '),
  }))
    auth.searchParams.set(k, v);
  let location: string | null;
  try {
    const res = await f(auth, { redirect: 'manual', headers: { authorization: `Bearer ${o.signIn}` } });
    if (res.status !== 302) {
      const body = (await res.json().catch(() => ({}))) as { error?: { code?: string; message?: string } };
      return err(
        (body.error?.code ?? 'ERR_AUTH_REQUIRED') as never,
        body.error?.message ?? `authorization answered ${res.status}`,
      );
    }
    location = res.headers.get('location');
  } catch (e) {
    return err('ERR_UNAVAILABLE', `${auth.origin} does not answer: ${(e as Error).message}`);
  }
  const back = location ? new URL(location) : undefined;
  // RFC 9207: the response names its issuer; the state is ours.
  if (!back || back.searchParams.get('state') !== state || back.searchParams.get('iss') !== issuer) {
    return err('ERR_OID4VCI_GRANT_INVALID', 'the authorization response is not for this request or issuer');
  }
  const code = back.searchParams.get('code');
  if (!code)
    return err('ERR_OID4VCI_GRANT_INVALID', `authorization refused: ${back.searchParams.get('error') ?? 'no code'}`);
  const tokenEndpoint = String(as.value.body.token_endpoint);
  const dpop = dpopKey();
  const token = await getJson(tokenEndpoint, f, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: dpop('POST', tokenEndpoint) },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: redirectUri,
      client_id: clientId,
    }).toString(),
  });
  if (!token.ok) return token;
  return retrieveAll(wallet, meta.value.body, String(token.value.body.access_token), dpop, configurationIds, f);
}

/** What the wallet shows its user before answering: who asks, where the answer goes, and for what. */
export interface PresentationConsent {
  verifier: string;
  responseUri: string;
  resource?: string;
  action?: string;
  /** Per requirement: the types asked for and the claims that would be disclosed. */
  asks: { types: string[]; claims: string[] }[];
  transactionData: Record<string, unknown>[];
}

/** What the user addressed: the verifier's DID and where its answers go, and what the user asked for. */
export interface Addressed {
  /** The verifier the user means (its DID); the request's client id must be it. */
  verifierDid: string;
  /** The origin the user reached the verifier at; the request's response_uri must be on it. */
  origin: string;
  scope?: { resource: string; action: string };
}

/**
 * Check a signed OpenID4VP request object against what the user addressed (OpenID4VP 1.0 §5.10, RFC 9101 §6.2): a
 * compact JWS of typ oauth-authz-req+jwt, signed ES256K by the controller key of the DID in its client id
 * (`decentralized_identifier:<did>`, the key recovered from the signature and compared with the DID's address), for
 * that verifier DID, answering to that origin, and for that scope. Unsigned, wrongly signed or mismatched requests
 * are refused before anything is shown or signed.
 */
export function checkRequestObject(jwt: string, addressed: Addressed): Result<Record<string, unknown>> {
  const parts = typeof jwt === 'string' ? jwt.split('.') : [];
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString()) as Record<string, unknown>;
    payload = JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
  } catch {
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object is not a JWS');
  }
  if (parts.length !== 3 || !parts[2] || header.alg === 'none') {
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object is unsigned');
  }
  if (header.alg !== 'ES256K' || header.typ !== OID4VP_REQUEST_TYP) {
    return err(
      'ERR_OID4VP_REQUEST_SIGNATURE',
      `the request object is ${String(header.typ)} / ${String(header.alg)}, not ${OID4VP_REQUEST_TYP} / ES256K`,
    );
  }
  const clientId = payload.client_id;
  if (typeof clientId !== 'string' || !clientId.startsWith(DID_CLIENT_ID_PREFIX)) {
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the client id is not a decentralized_identifier: DID');
  }
  const did = clientId.slice(DID_CLIENT_ID_PREFIX.length);
  const address = /^did:ethr:(?:0x[0-9a-f]+:)?(0x[0-9a-fA-F]{40})$/.exec(did)?.[1]?.toLowerCase();
  if (!address || typeof header.kid !== 'string' || header.kid.split('#')[0] !== did) {
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the request is not signed with a key of the client id DID (kid)');
  }
  const digest = createHash('sha256').update(`${parts[0]}.${parts[1]}`).digest();
  const sig = Buffer.from(parts[2], 'base64url');
  let signedByDid = false;
  if (sig.length === 64) {
    for (const v of [27, 28]) {
      try {
        const pub = SigningKey.recoverPublicKey(digest, {
          r: `0x${sig.subarray(0, 32).toString('hex')}`,
          s: `0x${sig.subarray(32).toString('hex')}`,
          v,
        });
        if (computeAddress(pub).toLowerCase() === address) signedByDid = true;
      } catch {
        /* not a valid signature for this recovery id */
      }
    }
  }
  if (!signedByDid) return err('ERR_OID4VP_REQUEST_SIGNATURE', `the request object is not signed by ${did}`);
  if (did.toLowerCase() !== addressed.verifierDid.toLowerCase()) {
    return err(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      `the request comes from ${did}, not from the verifier you addressed (${addressed.verifierDid})`,
    );
  }
  let responseOrigin: string | undefined;
  try {
    responseOrigin = new URL(String(payload.response_uri)).origin;
  } catch {
    responseOrigin = undefined;
  }
  if (responseOrigin !== new URL(addressed.origin).origin) {
    return err(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      `the answer would go to ${responseOrigin ?? 'nowhere'}, not to ${addressed.origin}`,
    );
  }
  const scope = payload.tessera_scope as { resource?: unknown; action?: unknown } | undefined;
  if (
    addressed.scope &&
    (scope?.resource !== addressed.scope.resource ||
      String(scope?.action).toUpperCase() !== addressed.scope.action.toUpperCase())
  ) {
    return err(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      'the request is for another resource or action than the one you asked for',
    );
  }
  if (typeof payload.exp === 'number' && payload.exp < Date.now() / 1000) {
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object has expired');
  }
  return ok(payload);
}

interface DcqlCredentialQuery {
  id: string;
  format: string;
  meta?: { type_values?: string[][]; vct_values?: string[] };
  claims?: { path: string[]; values?: unknown[] }[];
}

type AnswerOptions = FlowOptions & {
  verifierDid?: string;
  confirm?: (consent: PresentationConsent) => boolean | Promise<boolean>;
  /** Which format to present when both are held (default: dc+sd-jwt, which discloses only what is asked). */
  preferFormat?: 'jwt_vc_json' | 'dc+sd-jwt';
};

/**
 * Present to an OpenID4VP 1.0 verifier on this device: ask it for a request for `scope`, fetch and check the signed
 * request object against the verifier the user addressed (its DID from `${verifier}/.well-known/openid4vp-verifier`
 * unless given, and its origin), show the user who asks and for what (`confirm`), answer each requirement with an
 * SD-JWT VC disclosing only the asked claims (key-bound, with the transaction data hashes) or else a JWT VP, over
 * `direct_post` or `direct_post.jwt`, and keep the access token.
 */
export async function presentOpenid4vp(
  wallet: TesseraWallet,
  verifier: string,
  scope: { resource: string; action: string },
  options: AnswerOptions & {
    responseMode?: 'direct_post' | 'direct_post.jwt';
    transactionData?: Record<string, unknown>[];
    /** Tests and relays: the request to answer, instead of asking `verifier` for one. */
    authorizationRequest?: string;
  } = {},
): Promise<Result<{ access_token: string; holder: string; consent: PresentationConsent }>> {
  const f = options.fetch ?? fetch;
  const base = trimSlash(verifier);
  let authorizationRequest = options.authorizationRequest;
  if (!authorizationRequest) {
    const created = await getJson(`${base}/oid4vp/requests`, f, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        ...scope,
        response_mode: options.responseMode ?? 'direct_post',
        ...(options.transactionData ? { transaction_data: options.transactionData } : {}),
      }),
    });
    if (!created.ok) return created;
    authorizationRequest = String(created.value.body.authorization_request);
  }
  const answered = await answerRequest(wallet, base, authorizationRequest, scope, options);
  if (!answered.ok) return answered;
  const t = await followRedirect(wallet, base, answered.value.redirect, f, scope);
  if (!t) return err('ERR_OID4VP_RESPONSE_MALFORMED', 'the verifier answered no redirect on its own origin');
  if (!t.ok) return t;
  return ok({ ...t.value, consent: answered.value.consent });
}

/**
 * Answer an OpenID4VP 1.0 request the user brings from elsewhere (`openid4vp://…` from a QR code or a link shown on
 * another device, such as the console's sign-in): the same checks as `presentOpenid4vp` (the signed request object is
 * the verifier the user addressed at `verifier`, answers to its origin), except that the resource and action are the
 * request's own, shown in `confirm` for the user to decide. In a cross-device flow the access token goes to the
 * device that showed the request (it polls the result), so `access_token` is absent; in a same-device flow the wallet
 * follows the redirect and keeps the token as `presentOpenid4vp` does.
 */
export async function answerOpenid4vp(
  wallet: TesseraWallet,
  verifier: string,
  authorizationRequest: string,
  options: AnswerOptions = {},
): Promise<Result<{ consent: PresentationConsent; access_token?: string; holder: string }>> {
  const f = options.fetch ?? fetch;
  const base = trimSlash(verifier);
  if (typeof authorizationRequest !== 'string' || !/^(openid4vp|https?):/.test(authorizationRequest.trim())) {
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'expected an openid4vp://?client_id=…&request_uri=… request');
  }
  const answered = await answerRequest(wallet, base, authorizationRequest.trim(), undefined, options);
  if (!answered.ok) return answered;
  if (answered.value.redirect === undefined) return ok({ consent: answered.value.consent, holder: wallet.did });
  const t = await followRedirect(wallet, base, answered.value.redirect, f);
  if (!t) return err('ERR_OID4VP_RESPONSE_MALFORMED', 'the verifier answered no redirect on its own origin');
  if (!t.ok) return t;
  return ok({ ...t.value, consent: answered.value.consent });
}

/** Follow a same-device redirect on the verifier's own origin and keep the access token it answers. */
async function followRedirect(
  wallet: TesseraWallet,
  base: string,
  redirect: unknown,
  f: typeof fetch,
  asked?: { resource: string; action: string },
): Promise<Result<{ access_token: string; holder: string }> | undefined> {
  if (typeof redirect !== 'string') return undefined;
  try {
    if (new URL(redirect).origin !== new URL(base).origin) return undefined;
  } catch {
    return undefined;
  }
  const result = await getJson(redirect, f);
  if (!result.ok) return result;
  const t = result.value.body as {
    access_token: string;
    holder: string;
    expires_in: number;
    scopes?: { resource: string; action: string }[];
  };
  const now = Date.now();
  const scope = asked ?? t.scopes?.[0];
  wallet.addToken({
    verifier: base,
    resource: scope?.resource ?? '',
    action: (scope?.action ?? '').toUpperCase(),
    token: t.access_token,
    holder: t.holder,
    expiresAt: new Date(now + t.expires_in * 1000).toISOString(),
    obtainedAt: new Date(now).toISOString(),
  });
  return ok({ access_token: t.access_token, holder: t.holder });
}

/**
 * Fetch and check the signed request object of `authorizationRequest` (against the verifier addressed at `base`, and
 * against `scope` when the user asked for one), ask the user, and post the answer: what the verifier answered
 * (`redirect`, absent in a cross-device flow) and what the user consented to.
 */
async function answerRequest(
  wallet: TesseraWallet,
  base: string,
  authorizationRequest: string,
  asked: { resource: string; action: string } | undefined,
  options: AnswerOptions,
): Promise<Result<{ consent: PresentationConsent; redirect?: unknown }>> {
  const f = options.fetch ?? fetch;
  let verifierDid = options.verifierDid;
  if (!verifierDid) {
    const m = await getJson(`${base}/.well-known/openid4vp-verifier`, f);
    if (!m.ok) return m;
    verifierDid = String(m.value.body.audience);
  }
  const params = new URLSearchParams(authorizationRequest.slice(authorizationRequest.indexOf('?') + 1));
  const requestUri = params.get('request_uri');
  if (!requestUri)
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the request is not by reference to a signed request object');
  // The request object is fetched only from the verifier the user addressed (never from a URL a QR code names).
  let requestOrigin: string | undefined;
  try {
    requestOrigin = new URL(requestUri).origin;
  } catch {
    requestOrigin = undefined;
  }
  if (requestOrigin !== new URL(base).origin) {
    return err(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      `the request is kept at ${requestOrigin ?? 'no valid URL'}, not at the verifier you addressed (${new URL(base).origin})`,
    );
  }
  let jwt: string;
  try {
    const res = await f(requestUri);
    if (!res.ok) return err('ERR_OID4VP_REQUEST_UNKNOWN', `${requestUri} answered ${res.status}`);
    jwt = (await res.text()).trim();
  } catch (e) {
    return err('ERR_UNAVAILABLE', `${requestUri} does not answer: ${(e as Error).message}`);
  }
  const checked = checkRequestObject(jwt, { verifierDid, origin: base, ...(asked ? { scope: asked } : {}) });
  if (!checked.ok) return checked;
  const req = checked.value;
  if (params.get('client_id') !== req.client_id)
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the client_id differs from the signed one');
  const requestScope = isRecord(req.tessera_scope)
    ? { resource: String(req.tessera_scope.resource), action: String(req.tessera_scope.action) }
    : undefined;
  const scope = asked ?? requestScope ?? { resource: '', action: '' };

  const dcql = req.dcql_query as { credentials: DcqlCredentialQuery[]; credential_sets?: { options: string[][] }[] };
  if (!isRecord(dcql) || !Array.isArray(dcql.credentials))
    return err('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object has no dcql_query');
  const queries = new Map(dcql.credentials.map((q) => [q.id, q]));
  const sets = dcql.credential_sets ?? dcql.credentials.map((q) => ({ options: [[q.id]] }));
  const txData = Array.isArray(req.transaction_data) ? (req.transaction_data as string[]) : [];
  const consent: PresentationConsent = {
    verifier: verifierDid,
    responseUri: String(req.response_uri),
    ...(requestScope ?? {}),
    asks: sets.map((s) => {
      const q = queries.get(s.options[0]![0]!);
      return {
        types: (q?.meta?.type_values?.map((t) => t[t.length - 1]!) ??
          q?.meta?.vct_values?.map((v) => typeOfVct(v) ?? v) ??
          []) as string[],
        claims: (q?.claims ?? []).map((c) => c.path.filter((p) => p !== 'credentialSubject').join('.')),
      };
    }),
    transactionData: txData.map((t) => JSON.parse(Buffer.from(t, 'base64url').toString()) as Record<string, unknown>),
  };
  if (options.confirm && !(await options.confirm(consent))) {
    return err('ERR_WALLET_NO_MATCHING_CREDENTIAL', 'the user declined the presentation');
  }

  // A claim the policy ties to the resource (e.g. the meter in /energy/meters/M/orders) has no fixed value in the
  // query: the wallet looks for it among the resource's path segments, as the policy will.
  const segments = scope.resource.split('/').map((x) => {
    try {
      return decodeURIComponent(x);
    } catch {
      return x;
    }
  });
  const matches = (c: HeldCredential, q: DcqlCredentialQuery) => {
    const types =
      q.format === 'dc+sd-jwt'
        ? (q.meta?.vct_values ?? []).map((v) => typeOfVct(v))
        : (q.meta?.type_values ?? []).map((t) => t[t.length - 1]);
    if ((c.format ?? 'jwt_vc_json') !== q.format || !types.includes(c.type as never)) return false;
    if (c.expiresAt && Date.parse(c.expiresAt) <= Date.now()) return false;
    return (q.claims ?? []).every((cl) => {
      const path = cl.path.filter((p) => p !== 'credentialSubject');
      let v: unknown = c.claims;
      for (const p of path) v = isRecord(v) ? v[p] : undefined;
      if (v === undefined) return false;
      return cl.values === undefined || cl.values.includes(v);
    });
  };
  /** How many of the asked claims' values name a segment of the resource (the policy's route parameters). */
  const fit = (c: HeldCredential, q: DcqlCredentialQuery) =>
    (q.claims ?? []).filter((cl) => {
      let v: unknown = c.claims;
      for (const p of cl.path.filter((x) => x !== 'credentialSubject')) v = isRecord(v) ? v[p] : undefined;
      return typeof v === 'string' && segments.includes(v);
    }).length;
  const vpToken: Record<string, string[]> = {};
  const aud = String(req.client_id);
  const nonce = String(req.nonce);
  for (const [i, set] of sets.entries()) {
    // SD-JWT first: it discloses only what is asked.
    const preferred = options.preferFormat ?? 'dc+sd-jwt';
    const rank = (o: string[]) => (queries.get(o[0]!)?.format === preferred ? 0 : 1);
    const ordered = [...set.options].sort((a, b) => rank(a) - rank(b));
    let best: { q: DcqlCredentialQuery; c: HeldCredential; score: number } | undefined;
    for (const [rankIndex, option] of ordered.entries()) {
      const q = queries.get(option[0]!);
      if (!q) continue;
      for (const c of wallet.credentials.filter((h) => matches(h, q))) {
        // route-parameter fit first, then the preferred format, then the newest
        const score = fit(c, q) * 10 - rankIndex;
        if (!best || score >= best.score) best = { q, c, score };
      }
    }
    const answered = best !== undefined;
    if (best) {
      const { q, c } = best;
      if (q.format === 'dc+sd-jwt') {
        vpToken[q.id] = [
          await presentSdJwt(
            wallet,
            c.jwt,
            (q.claims ?? []).map((cl) => cl.path[0]!),
            { aud, nonce, txData },
          ),
        ];
      } else {
        const vp = await createVerifiablePresentationJwt(
          {
            vp: {
              '@context': ['https://www.w3.org/2018/credentials/v1'],
              type: ['VerifiablePresentation'],
              verifiableCredential: [c.jwt],
            },
            nonce,
            aud,
          } as never,
          { did: wallet.did, signer: wallet.signer(), alg: 'ES256K' },
        );
        vpToken[q.id] = [vp];
      }
    }
    if (!answered) {
      return err(
        'ERR_WALLET_NO_MATCHING_CREDENTIAL',
        `requirement ${i} (${consent.asks[i]?.types.join(' or ')}): no held credential meets it`,
      );
    }
  }

  const responseParams = { vp_token: vpToken, state: req.state };
  let form: Record<string, string>;
  if (req.response_mode === 'direct_post.jwt') {
    const meta = req.client_metadata as
      | { jwks?: { keys?: JsonWebKey[] }; encrypted_response_enc_values_supported?: string[] }
      | undefined;
    const key = meta?.jwks?.keys?.find((k) => k.kty === 'EC' && k.crv === 'P-256');
    if (!key)
      return err('ERR_OID4VP_REQUEST_SIGNATURE', 'direct_post.jwt without an encryption key in client_metadata');
    const enc = (meta?.encrypted_response_enc_values_supported?.[0] ?? 'A128GCM') as JweEnc;
    form = { response: encryptJwe(JSON.stringify(responseParams), key, { enc }) };
  } else {
    form = { vp_token: JSON.stringify(vpToken), state: String(req.state) };
  }
  const posted = await getJson(String(req.response_uri), f, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  if (!posted.ok) return posted;
  return ok({
    consent,
    ...(posted.value.body.redirect_uri === undefined ? {} : { redirect: posted.value.body.redirect_uri }),
  });
}

/** An SD-JWT presentation (RFC 9901 §4.3) of the claims named, with a KB-JWT by the wallet's key. */
async function presentSdJwt(
  wallet: TesseraWallet,
  compact: string,
  claims: string[],
  kb: { aud: string; nonce: string; txData: string[] },
): Promise<string> {
  const [jwt, ...rest] = compact.split('~');
  const keep = rest.filter((d) => {
    if (d === '') return false;
    try {
      const a = JSON.parse(Buffer.from(d, 'base64url').toString()) as unknown[];
      return a.length === 3 && claims.includes(String(a[1]));
    } catch {
      return false;
    }
  });
  const presented = `${[jwt, ...keep].join('~')}~`;
  const header = { alg: 'ES256K', typ: KB_JWT_TYP };
  const payload = {
    iat: Math.floor(Date.now() / 1000),
    aud: kb.aud,
    nonce: kb.nonce,
    sd_hash: createHash('sha256').update(presented, 'ascii').digest('base64url'),
    ...(kb.txData.length > 0
      ? {
          transaction_data_hashes: kb.txData.map((t) => createHash('sha256').update(t).digest('base64url')),
          transaction_data_hashes_alg: 'sha-256',
        }
      : {}),
  };
  const input = `${b64(header)}.${b64(payload)}`;
  return `${presented}${input}.${await wallet.signer()(input)}`;
}
