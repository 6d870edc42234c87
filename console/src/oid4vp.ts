import { secp256k1 } from '@noble/curves/secp256k1';
import { sha256 } from '@noble/hashes/sha2';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex } from '@noble/hashes/utils';
import { call } from './api';
import { b64url, describeCredential, fromB64url, type HolderKey, signJwt } from './crypto';

/**
 * The browser wallet's side of OpenID4VP 1.0 for a request pasted in (a link or a QR code's text): the same checks as
 * the CLI wallet's `checkRequestObject` and `answerOpenid4vp` (wallet/src/oid4vc.ts, which run on node:crypto and
 * ethers and so not here), rewritten on @noble/curves and WebCrypto:
 * - the request is by reference, kept at this console's origin (the verifier the user reaches here), and fetched once;
 * - the request object is a compact JWS, typ oauth-authz-req+jwt, ES256K, signed by the controller key of the DID in
 *   its client id (`decentralized_identifier:<did>`, the signer's address recovered from the signature), that DID is
 *   the verifier's own (`/verifier/.well-known/openid4vp-verifier`), its response_uri is on this origin, not expired;
 * - the user sees who asks, where the answer goes, for what, and which credential and claims would be disclosed, and
 *   decides; the answer is a JWT VP per requirement (the browser wallet holds JWT VCs), over direct_post or
 *   direct_post.jwt (ECDH-ES to the request's key).
 */

type Err = { code: string; message: string };
type R<T> = { ok: true; value: T } | { ok: false; error: Err };
const fail = (code: string, message: string): { ok: false; error: Err } => ({ ok: false, error: { code, message } });
const enc = new TextEncoder();
const DID_PREFIX = 'decentralized_identifier:';
const REQUEST_TYP = 'oauth-authz-req+jwt';
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

interface Query {
  id: string;
  format: string;
  meta?: { type_values?: string[][]; vct_values?: string[] };
  claims?: { path: string[]; values?: unknown[] }[];
}

export interface PresentationRequest {
  verifier: string;
  responseUri: string;
  resource?: string;
  action?: string;
  /** Per requirement: the types asked for, the claims disclosed, and the held credential that would answer it. */
  asks: { types: string[]; claims: string[]; credential?: string; queryId?: string }[];
  transactionData: Record<string, unknown>[];
  /** The checked request object's payload. */
  payload: Record<string, unknown>;
}

/** A URL on this console's origin as a path (the CSP lets the console talk to its own origin only). */
function local(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.origin === location.origin ? u.pathname + u.search : undefined;
  } catch {
    return undefined;
  }
}

/** The checks of the CLI wallet's checkRequestObject, against the verifier DID and origin the user addressed. */
export function checkRequestObject(jwt: string, verifierDid: string, origin: string): R<Record<string, unknown>> {
  const parts = jwt.split('.');
  let header: Record<string, unknown>;
  let payload: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(fromB64url(parts[0] ?? '')));
    payload = JSON.parse(new TextDecoder().decode(fromB64url(parts[1] ?? '')));
  } catch {
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object is not a JWS');
  }
  if (parts.length !== 3 || !parts[2] || header.alg === 'none')
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object is unsigned');
  if (header.alg !== 'ES256K' || header.typ !== REQUEST_TYP)
    return fail(
      'ERR_OID4VP_REQUEST_SIGNATURE',
      `the request object is ${String(header.typ)} / ${String(header.alg)}, not ${REQUEST_TYP} / ES256K`,
    );
  const clientId = payload.client_id;
  if (typeof clientId !== 'string' || !clientId.startsWith(DID_PREFIX))
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the client id is not a decentralized_identifier: DID');
  const did = clientId.slice(DID_PREFIX.length);
  const address = /^did:ethr:(?:0x[0-9a-f]+:)?(0x[0-9a-fA-F]{40})$/.exec(did)?.[1]?.toLowerCase();
  if (!address || typeof header.kid !== 'string' || header.kid.split('#')[0] !== did)
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the request is not signed with a key of the client id DID (kid)');
  let signedByDid = false;
  try {
    const sig = fromB64url(parts[2]);
    const digest = sha256(enc.encode(`${parts[0]}.${parts[1]}`));
    if (sig.length === 64) {
      for (const bit of [0, 1]) {
        try {
          const pub = secp256k1.Signature.fromCompact(sig).addRecoveryBit(bit).recoverPublicKey(digest);
          const a = `0x${bytesToHex(keccak_256(pub.toRawBytes(false).slice(1)).slice(-20))}`;
          if (a === address) signedByDid = true;
        } catch {
          /* not a valid signature for this recovery bit */
        }
      }
    }
  } catch {
    signedByDid = false;
  }
  if (!signedByDid) return fail('ERR_OID4VP_REQUEST_SIGNATURE', `the request object is not signed by ${did}`);
  if (did.toLowerCase() !== verifierDid.toLowerCase())
    return fail(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      `the request comes from ${did}, not from this console's verifier (${verifierDid})`,
    );
  let responseOrigin: string | undefined;
  try {
    responseOrigin = new URL(String(payload.response_uri)).origin;
  } catch {
    responseOrigin = undefined;
  }
  if (responseOrigin !== origin)
    return fail(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      `the answer would go to ${responseOrigin ?? 'nowhere'}, not to ${origin}`,
    );
  if (typeof payload.exp === 'number' && payload.exp < Date.now() / 1000)
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object has expired');
  return { ok: true, value: payload };
}

/** Read a pasted request: fetch its request object from this console's verifier, check it, and match the wallet. */
export async function readRequest(text: string, holder: HolderKey): Promise<R<PresentationRequest>> {
  const t = text.trim();
  if (!/^(openid4vp|https?):/.test(t))
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'expected an openid4vp://?client_id=…&request_uri=… request');
  const params = new URLSearchParams(t.slice(t.indexOf('?') + 1));
  const requestUri = params.get('request_uri');
  if (!requestUri)
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the request is not by reference to a signed request object');
  const path = local(requestUri);
  if (!path)
    return fail(
      'ERR_OID4VP_VERIFIER_MISMATCH',
      `the request is kept at another origin than this console (${location.origin})`,
    );
  const meta = await call<{ audience?: string }>('GET', '/verifier/.well-known/openid4vp-verifier');
  if (!meta.ok) return { ok: false, error: meta.error };
  const verifierDid = String(meta.value.audience ?? '');
  const object = await call<string>('GET', path, { text: true });
  if (!object.ok)
    return fail(
      object.error.code === 'ERR_UNAVAILABLE' ? 'ERR_OID4VP_REQUEST_UNKNOWN' : object.error.code,
      `the request object could not be fetched (${object.error.message}): answered already, or expired`,
    );
  const checked = checkRequestObject(object.value.trim(), verifierDid, location.origin);
  if (!checked.ok) return checked;
  const req = checked.value;
  if (params.get('client_id') !== req.client_id)
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the client_id differs from the signed one');
  const dcql = req.dcql_query as { credentials?: Query[]; credential_sets?: { options: string[][] }[] } | undefined;
  if (!isRecord(dcql) || !Array.isArray(dcql.credentials))
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the request object has no dcql_query');
  const queries = new Map(dcql.credentials.map((q) => [q.id, q]));
  const sets = dcql.credential_sets ?? dcql.credentials.map((q) => ({ options: [[q.id]] }));
  const scope = isRecord(req.tessera_scope)
    ? { resource: String(req.tessera_scope.resource), action: String(req.tessera_scope.action) }
    : undefined;
  const segments = (scope?.resource ?? '').split('/');
  const now = Date.now() / 1000;
  const asks = sets.map((s) => {
    const first = queries.get(s.options[0]?.[0] ?? '');
    const types = (first?.meta?.type_values?.map((v) => v[v.length - 1] ?? '') ??
      first?.meta?.vct_values?.map((v) => v.split(':').pop() ?? v) ??
      []) as string[];
    const claims = (first?.claims ?? []).map((c) => c.path.filter((p) => p !== 'credentialSubject').join('.'));
    // The browser wallet holds JWT VCs: it answers with the jwt_vc_json option.
    let best: { credential: string; queryId: string; score: number } | undefined;
    for (const option of s.options) {
      const q = queries.get(option[0] ?? '');
      if (q?.format !== 'jwt_vc_json') continue;
      const wanted = (q.meta?.type_values ?? []).map((v) => v[v.length - 1]);
      for (const jwt of holder.credentials) {
        const d = describeCredential(jwt);
        if (!d.types.some((x) => wanted.includes(x))) continue;
        if (d.expiresAt !== undefined && d.expiresAt <= now) continue;
        let score = 0;
        const fits = (q.claims ?? []).every((cl) => {
          let v: unknown = d.claims;
          for (const p of cl.path.filter((x) => x !== 'credentialSubject')) v = isRecord(v) ? v[p] : undefined;
          if (v === undefined) return false;
          if (typeof v === 'string' && segments.includes(v)) score++;
          return cl.values === undefined || cl.values.includes(v);
        });
        if (fits && (!best || score >= best.score)) best = { credential: jwt, queryId: q.id, score };
      }
    }
    return { types, claims, ...(best ? { credential: best.credential, queryId: best.queryId } : {}) };
  });
  const txData = Array.isArray(req.transaction_data) ? (req.transaction_data as string[]) : [];
  let transactionData: Record<string, unknown>[];
  try {
    transactionData = txData.map((x) => JSON.parse(new TextDecoder().decode(fromB64url(x))));
  } catch {
    return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'the transaction data is not base64url JSON');
  }
  return {
    ok: true,
    value: {
      verifier: verifierDid,
      responseUri: String(req.response_uri),
      ...(scope ?? {}),
      asks,
      transactionData,
      payload: req,
    },
  };
}

/** RFC 7518 §4.6: ECDH-ES (direct) with A128GCM/A256GCM to a P-256 JWK, as the CLI wallet's encryptJwe. */
async function encryptJwe(plaintext: string, jwk: JsonWebKey, encAlg: 'A128GCM' | 'A256GCM'): Promise<string> {
  const bits = encAlg === 'A128GCM' ? 128 : 256;
  const recipient = await crypto.subtle.importKey(
    'jwk',
    { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, ext: true },
    { name: 'ECDH', namedCurve: 'P-256' },
    false,
    [],
  );
  const eph = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
    'deriveBits',
  ])) as CryptoKeyPair;
  const epk = await crypto.subtle.exportKey('jwk', eph.publicKey);
  const z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: recipient }, eph.privateKey, 256));
  const u32 = (n: number) => new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const algId = enc.encode(encAlg);
  const kdfInput = new Uint8Array([
    ...u32(1),
    ...z,
    ...u32(algId.length),
    ...algId,
    ...u32(0),
    ...u32(0),
    ...u32(bits),
  ]);
  const cek = sha256(kdfInput).slice(0, bits / 8);
  const header = b64url(
    enc.encode(JSON.stringify({ alg: 'ECDH-ES', enc: encAlg, epk: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y } })),
  );
  const key = await crypto.subtle.importKey('raw', cek as BufferSource, 'AES-GCM', false, ['encrypt']);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: iv as BufferSource, additionalData: enc.encode(header) as BufferSource },
      key,
      enc.encode(plaintext) as BufferSource,
    ),
  );
  const ct = sealed.slice(0, sealed.length - 16);
  const tag = sealed.slice(sealed.length - 16);
  return `${header}..${b64url(iv)}.${b64url(ct)}.${b64url(tag)}`;
}

/**
 * Answer a checked request the user consented to: one JWT VP per requirement over the request's nonce and client id,
 * posted to its response_uri. A same-device request's redirect is followed (the access token is for this browser);
 * in a cross-device request the device that showed it receives the session.
 */
export async function answerRequest(
  holder: HolderKey,
  req: PresentationRequest,
): Promise<R<{ holder: string; accessGranted: boolean }>> {
  const p = req.payload;
  const missing = req.asks.findIndex((a) => a.credential === undefined);
  if (missing >= 0)
    return fail(
      'ERR_WALLET_NO_MATCHING_CREDENTIAL',
      `requirement ${missing} (${req.asks[missing]?.types.join(' or ')}): no held credential meets it`,
    );
  const vpToken: Record<string, string[]> = {};
  for (const a of req.asks) {
    vpToken[a.queryId!] = [
      signJwt(holder, {
        vp: {
          '@context': ['https://www.w3.org/2018/credentials/v1'],
          type: ['VerifiablePresentation'],
          verifiableCredential: [a.credential!],
        },
        nonce: String(p.nonce),
        aud: String(p.client_id),
      }),
    ];
  }
  let form: Record<string, string>;
  if (p.response_mode === 'direct_post.jwt') {
    const meta = p.client_metadata as
      | { jwks?: { keys?: JsonWebKey[] }; encrypted_response_enc_values_supported?: string[] }
      | undefined;
    const key = meta?.jwks?.keys?.find((k) => k.kty === 'EC' && k.crv === 'P-256');
    if (!key)
      return fail('ERR_OID4VP_REQUEST_SIGNATURE', 'direct_post.jwt without an encryption key in client_metadata');
    const e = meta?.encrypted_response_enc_values_supported?.[0] === 'A256GCM' ? 'A256GCM' : 'A128GCM';
    form = { response: await encryptJwe(JSON.stringify({ vp_token: vpToken, state: p.state }), key, e) };
  } else {
    form = { vp_token: JSON.stringify(vpToken), state: String(p.state) };
  }
  const path = local(req.responseUri);
  if (!path) return fail('ERR_OID4VP_VERIFIER_MISMATCH', 'the answer would leave this console’s origin');
  let res: Response;
  try {
    res = await fetch(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (e) {
    return fail('ERR_UNAVAILABLE', `the verifier did not answer: ${String(e)}`);
  }
  const body = (await res.json().catch(() => ({}))) as Record<string, unknown>;
  if (!res.ok)
    return fail(
      typeof body.error_code === 'string' ? body.error_code : 'ERR_UNAVAILABLE',
      typeof body.error_description === 'string' ? body.error_description : `HTTP ${res.status}`,
    );
  if (typeof body.redirect_uri !== 'string') return { ok: true, value: { holder: holder.did, accessGranted: false } };
  const back = local(body.redirect_uri);
  if (!back) return fail('ERR_OID4VP_RESPONSE_MALFORMED', 'the verifier answered no redirect on its own origin');
  const t = await call<{ holder: string }>('GET', back);
  if (!t.ok) return { ok: false, error: t.error };
  return { ok: true, value: { holder: t.value.holder, accessGranted: true } };
}
