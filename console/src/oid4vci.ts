import { sha256 } from '@noble/hashes/sha2';
import { b64url, type HolderKey, signJws } from './crypto';

/**
 * The browser wallet's side of OpenID4VCI 1.0 for a pre-authorized code offer with a transaction code, as the CLI
 * wallet's receiveCredentialOffer does it (wallet/src/oid4vc.ts, on node:crypto, so rewritten on WebCrypto here):
 * the issuer's metadata, a token for the code and the transaction code the user typed, bound to a DPoP key (P-256,
 * generated in this browser, not extractable, kept for this one issuance), a c_nonce, and one credential request per
 * JWT VC configuration of the offer with a proof by the wallet's DID key. A wrong transaction code is the issuer's
 * refusal with its code; the issuer counts it and does not spend the offer.
 */

type Err = { code: string; message: string };
type R<T> = { ok: true; value: T } | { ok: false; error: Err };
const enc = new TextEncoder();
const PRE_AUTH = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';

/** A URL on this console's origin as a path (the CSP lets the console talk to its own origin only). */
function local(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.origin === location.origin ? u.pathname + u.search : undefined;
  } catch {
    return undefined;
  }
}

async function send(url: string, init: RequestInit = {}): Promise<R<Record<string, unknown>>> {
  const path = local(url);
  if (!path)
    return {
      ok: false,
      error: { code: 'ERR_WALLET_OFFER_MALFORMED', message: `${url} is at another origin than this console` },
    };
  let res: Response;
  try {
    res = await fetch(path, { ...init, credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    return { ok: false, error: { code: 'ERR_UNAVAILABLE', message: `the issuer did not answer: ${String(e)}` } };
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (res.ok) return { ok: true, value: body };
  const nested = body.error as { code?: unknown; message?: unknown } | undefined;
  const code =
    typeof body.error_code === 'string'
      ? body.error_code
      : typeof nested?.code === 'string'
        ? nested.code
        : 'ERR_UNAVAILABLE';
  const message =
    typeof body.error_description === 'string'
      ? body.error_description
      : typeof nested?.message === 'string'
        ? nested.message
        : `HTTP ${res.status}`;
  return { ok: false, error: { code, message } };
}

/** RFC 9449: a DPoP key for one issuance, and proofs for a method and URL (with `ath` for an access token). */
async function dpopKey() {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
  const pub = await crypto.subtle.exportKey('jwk', pair.publicKey);
  return async (htm: string, htu: string, accessToken?: string) => {
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: { kty: 'EC', crv: 'P-256', x: pub.x, y: pub.y } };
    const payload = {
      htm,
      htu,
      iat: Math.floor(Date.now() / 1000),
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      ...(accessToken ? { ath: b64url(sha256(enc.encode(accessToken))) } : {}),
    };
    const input = `${b64url(enc.encode(JSON.stringify(header)))}.${b64url(enc.encode(JSON.stringify(payload)))}`;
    const sig = await crypto.subtle.sign(
      { name: 'ECDSA', hash: 'SHA-256' },
      pair.privateKey,
      enc.encode(input) as BufferSource,
    );
    return `${input}.${b64url(new Uint8Array(sig))}`;
  };
}

/** Receive the JWT VCs of an offer with the pre-authorized code `code` and the transaction code typed by the user. */
export async function receiveWithTxCode(
  holder: HolderKey,
  offer: { credential_issuer: string; credential_configuration_ids: unknown[] },
  code: string,
  txCode: string,
): Promise<R<string[]>> {
  const issuer = offer.credential_issuer.replace(/\/+$/, '');
  const meta = await send(`${issuer}/.well-known/openid-credential-issuer`);
  if (!meta.ok) return meta;
  if (meta.value.credential_issuer !== issuer)
    return { ok: false, error: { code: 'ERR_WALLET_OFFER_MALFORMED', message: 'the metadata is of another issuer' } };
  const as = await send(`${issuer}/.well-known/oauth-authorization-server`);
  if (!as.ok) return as;
  const tokenEndpoint = String(as.value.token_endpoint);
  const dpop = await dpopKey();
  const token = await send(tokenEndpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', dpop: await dpop('POST', tokenEndpoint) },
    body: new URLSearchParams({ grant_type: PRE_AUTH, 'pre-authorized_code': code, tx_code: txCode }).toString(),
  });
  if (!token.ok) return token;
  const accessToken = String(token.value.access_token);
  const configurations = (meta.value.credential_configurations_supported ?? {}) as Record<string, { format?: string }>;
  const ids = offer.credential_configuration_ids.filter(
    (id): id is string => typeof id === 'string' && configurations[id]?.format === 'jwt_vc_json',
  );
  if (ids.length === 0)
    return {
      ok: false,
      error: { code: 'ERR_WALLET_OFFER_MALFORMED', message: 'the offer has no JWT VC configuration' },
    };
  const credentialEndpoint = String(meta.value.credential_endpoint);
  const out: string[] = [];
  for (const id of ids) {
    const nonce = await send(String(meta.value.nonce_endpoint), { method: 'POST' });
    if (!nonce.ok) return nonce;
    const proof = signJws(
      holder,
      { typ: 'openid4vci-proof+jwt', kid: `${holder.did}#controller` },
      { aud: issuer, nonce: nonce.value.c_nonce, iat: Math.floor(Date.now() / 1000) },
    );
    const r = await send(credentialEndpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `DPoP ${accessToken}`,
        dpop: await dpop('POST', credentialEndpoint, accessToken),
      },
      body: JSON.stringify({ credential_configuration_id: id, proofs: { jwt: [proof] } }),
    });
    if (!r.ok) return r;
    for (const c of Array.isArray(r.value.credentials) ? r.value.credentials : []) {
      const jwt = (c as { credential?: unknown }).credential;
      if (typeof jwt === 'string' && !jwt.includes('~')) out.push(jwt);
    }
  }
  return { ok: true, value: out };
}
