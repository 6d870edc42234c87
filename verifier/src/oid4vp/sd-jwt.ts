import { createHash } from 'node:crypto';
import {
  type BitstringStatusListEntry,
  err,
  KB_JWT_TYP,
  MAX_JWT_BYTES,
  ok,
  type Result,
  SD_JWT_VC_TYP,
  tokenStatusEntry,
  typeOfVct,
} from '@tessera/protocol';
import { verifyJwsWithJwk } from '@tessera/runtime';
import { parseJwt } from '../vc/jwt.js';
import { isTrustedIssuer } from '../vc/trust.js';
import type { PresentationVerifier, VerifiedCredential } from '../vc/verify.js';

/** Most disclosures one SD-JWT may carry. */
const MAX_DISCLOSURES = 64;
/** How old a key binding JWT may be (its `iat`), in seconds. */
const KB_MAX_AGE_S = 300;
/** Claims of an SD-JWT VC that are about the credential, not the subject (SD-JWT VC §3.2.2). */
const REGISTERED = new Set([
  'iss',
  'vct',
  'iat',
  'nbf',
  'exp',
  'cnf',
  'status',
  'sub',
  'jti',
  'vct#integrity',
  '_sd_alg',
]);

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const digestOf = (disclosure: string) => createHash('sha256').update(disclosure, 'ascii').digest('base64url');

export interface SdJwtCheck {
  /** The nonce the key binding JWT must carry (the request's). */
  nonce: string;
  /** Audiences the KB-JWT may name (OpenID4VP 1.0 §B.3.6: the client id). */
  audiences: readonly string[];
  /** Refuse an SD-JWT without key binding (every access decision needs a holder). */
  requireKeyBinding: boolean;
  /** Hashes (base64url SHA-256) of the request's transaction data the KB-JWT must list (OpenID4VP 1.0 §8.4). */
  transactionDataHashes?: readonly string[];
}

export interface VerifiedSdJwt {
  credential: VerifiedCredential;
  /** The holder: the DID of the `cnf` key (`kid`), or `did:jwk:…` for a key given by value. */
  holder: string;
  keyBound: boolean;
}

/**
 * Verify an SD-JWT VC presentation (RFC 9901 §7.1 and §7.3, SD-JWT VC §3): the issuer-signed JWT (`typ` dc+sd-jwt,
 * an allowed algorithm, the issuer trusted for the `vct`'s type, its signature against the issuer's DID), every
 * disclosure referenced exactly once by a digest in the payload (a tampered or foreign disclosure is refused), the
 * validity period, the Token Status List entry, and the key binding JWT (`typ` kb+jwt, signed by the `cnf` key, the
 * request's nonce and audience, a recent `iat`, `sd_hash` over what was presented, and the transaction data hashes).
 */
export async function verifySdJwtPresentation(
  checks: PresentationVerifier,
  presentation: unknown,
  expect: SdJwtCheck,
): Promise<Result<VerifiedSdJwt>> {
  if (typeof presentation !== 'string' || presentation.length > 4 * MAX_JWT_BYTES) {
    return err('ERR_SD_JWT_MALFORMED', 'an SD-JWT is a string of bounded size');
  }
  const parts = presentation.split('~');
  if (parts.length < 2) return err('ERR_SD_JWT_MALFORMED', 'an SD-JWT is <issuer-signed JWT>~<disclosures>~[<KB-JWT>]');
  const kbPart = parts.pop()!;
  const [issuerJwt, ...disclosures] = parts as [string, ...string[]];
  if (disclosures.length > MAX_DISCLOSURES)
    return err('ERR_SD_JWT_MALFORMED', `at most ${MAX_DISCLOSURES} disclosures`);
  const parsed = parseJwt(issuerJwt);
  if (!parsed.ok) return parsed;
  const { header, payload } = parsed.value;
  if (header.typ !== SD_JWT_VC_TYP && header.typ !== 'vc+sd-jwt') {
    return err(
      'ERR_SD_JWT_MALFORMED',
      `the issuer-signed JWT's typ is ${String(header.typ).slice(0, 40)}, not ${SD_JWT_VC_TYP}`,
    );
  }
  if (payload._sd_alg !== undefined && payload._sd_alg !== 'sha-256') {
    return err('ERR_SD_JWT_MALFORMED', `_sd_alg ${String(payload._sd_alg).slice(0, 20)} is not supported (sha-256)`);
  }
  const issuer = payload.iss;
  if (typeof issuer !== 'string' || !issuer.startsWith('did:')) return err('ERR_VC_MALFORMED', 'iss must be a DID');
  const type = typeOfVct(payload.vct);
  if (!type)
    return err('ERR_VC_MALFORMED', `vct ${String(payload.vct).slice(0, 100)} is not a credential type known here`);
  const { trust, clockSkewSeconds, requireStatus, now } = checks.policy;
  if (!isTrustedIssuer(trust, type, issuer))
    return err('ERR_VC_UNTRUSTED_ISSUER', `${issuer} is not trusted to issue ${type}`);
  const signed = await checks.checkJwtSignature(parsed.value, issuer, 'assertionMethod');
  if (!signed.ok) return signed;

  // RFC 9901 §7.1 step 3: each disclosure by its digest, each used once, none left over.
  const byDigest = new Map<string, unknown[]>();
  for (const d of disclosures) {
    let decoded: unknown;
    try {
      decoded = /^[A-Za-z0-9_-]+$/.test(d) ? JSON.parse(Buffer.from(d, 'base64url').toString('utf8')) : undefined;
    } catch {
      decoded = undefined;
    }
    if (!Array.isArray(decoded) || (decoded.length !== 2 && decoded.length !== 3) || typeof decoded[0] !== 'string') {
      return err('ERR_SD_JWT_DISCLOSURE', 'a disclosure is not a base64url JSON array [salt, (name,) value]');
    }
    const digest = digestOf(d);
    if (byDigest.has(digest)) return err('ERR_SD_JWT_DISCLOSURE', 'a disclosure is repeated');
    byDigest.set(digest, decoded);
  }
  const used = new Set<string>();
  const seen = new Set<string>();
  const unpack = (value: unknown): Result<unknown> => {
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      for (const item of value) {
        if (isRecord(item) && Object.keys(item).length === 1 && typeof item['...'] === 'string') {
          const digest = item['...'];
          if (seen.has(digest)) return err('ERR_SD_JWT_DISCLOSURE', 'a digest appears twice in the credential');
          seen.add(digest);
          const d = byDigest.get(digest);
          if (!d) continue;
          if (d.length !== 2) return err('ERR_SD_JWT_DISCLOSURE', 'an array element disclosure has a claim name');
          used.add(digest);
          const v = unpack(d[1]);
          if (!v.ok) return v;
          out.push(v.value);
        } else {
          const v = unpack(item);
          if (!v.ok) return v;
          out.push(v.value);
        }
      }
      return ok(out);
    }
    if (!isRecord(value)) return ok(value);
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === '_sd' || k === '_sd_alg') continue;
      const u = unpack(v);
      if (!u.ok) return u;
      out[k] = u.value;
    }
    if (value._sd !== undefined) {
      if (!Array.isArray(value._sd)) return err('ERR_SD_JWT_MALFORMED', '_sd must be an array of digests');
      for (const digest of value._sd) {
        if (typeof digest !== 'string') return err('ERR_SD_JWT_MALFORMED', '_sd must be an array of digests');
        if (seen.has(digest)) return err('ERR_SD_JWT_DISCLOSURE', 'a digest appears twice in the credential');
        seen.add(digest);
        const d = byDigest.get(digest);
        if (!d) continue; // undisclosed (or a decoy)
        if (d.length !== 3 || typeof d[1] !== 'string') {
          return err('ERR_SD_JWT_DISCLOSURE', 'an object property disclosure has no claim name');
        }
        const name = d[1];
        if (name === '_sd' || name === '...' || Object.hasOwn(out, name)) {
          return err('ERR_SD_JWT_DISCLOSURE', `the disclosed claim ${name.slice(0, 40)} clashes with the credential`);
        }
        used.add(digest);
        const u = unpack(d[2]);
        if (!u.ok) return u;
        out[name] = u.value;
      }
    }
    return ok(out);
  };
  const unpacked = unpack(payload);
  if (!unpacked.ok) return unpacked;
  if (used.size !== byDigest.size) {
    return err(
      'ERR_SD_JWT_DISCLOSURE',
      'a disclosure is not referenced by the credential (tampered with, or from another)',
    );
  }
  const claims = unpacked.value as Record<string, unknown>;

  const t = now() / 1000;
  for (const k of ['iat', 'nbf', 'exp'] as const) {
    if (claims[k] !== undefined && (typeof claims[k] !== 'number' || !Number.isFinite(claims[k]))) {
      return err('ERR_VC_MALFORMED', `${k} must be a NumericDate`);
    }
  }
  if (typeof claims.nbf === 'number' && claims.nbf > t + clockSkewSeconds)
    return err('ERR_VC_NOT_YET_VALID', 'the credential is not valid yet (nbf)');
  if (typeof claims.exp === 'number' && claims.exp <= t - clockSkewSeconds)
    return err('ERR_VC_EXPIRED', 'the credential has expired (exp)');

  // Holder binding (SD-JWT VC §3.2.2.2, RFC 7800): a DID URL, or a key by value.
  const cnf = claims.cnf;
  let holder: string | undefined;
  let holderKey: { kid: string } | { jwk: Record<string, unknown> } | undefined;
  if (isRecord(cnf) && typeof cnf.kid === 'string' && cnf.kid.startsWith('did:')) {
    holder = cnf.kid.split('#')[0];
    holderKey = { kid: cnf.kid };
  } else if (isRecord(cnf) && isRecord(cnf.jwk)) {
    holder = `did:jwk:${Buffer.from(JSON.stringify(cnf.jwk)).toString('base64url')}`;
    holderKey = { jwk: cnf.jwk };
  }

  let keyBound = false;
  if (kbPart === '') {
    if (expect.requireKeyBinding) {
      return err(
        'ERR_SD_JWT_KEY_BINDING',
        'the SD-JWT has no key binding JWT, and this request needs the holder to prove its key',
      );
    }
  } else {
    if (!holderKey || !holder) return err('ERR_SD_JWT_KEY_BINDING', 'the credential has no cnf key to bind to');
    const kb = parseJwt(kbPart);
    if (!kb.ok && !('jwk' in holderKey))
      return err('ERR_SD_JWT_KEY_BINDING', `the KB-JWT is unusable: ${kb.error.message}`);
    const kbHeader = kb.ok ? kb.value.header : undefined;
    let kbPayload: Record<string, unknown>;
    if ('jwk' in holderKey) {
      const v = verifyJwsWithJwk(kbPart, holderKey.jwk);
      if (!v.ok) return err('ERR_SD_JWT_KEY_BINDING', `the KB-JWT is not signed by the cnf key: ${v.error.message}`);
      if (v.value.header.typ !== KB_JWT_TYP)
        return err('ERR_SD_JWT_KEY_BINDING', `the KB-JWT's typ is not ${KB_JWT_TYP}`);
      kbPayload = v.value.payload;
    } else {
      if (!kb.ok || kbHeader?.typ !== KB_JWT_TYP)
        return err('ERR_SD_JWT_KEY_BINDING', `the KB-JWT's typ is not ${KB_JWT_TYP}`);
      const s = await checks.checkJwtSignature(kb.value, holder, 'authentication');
      if (!s.ok) return err('ERR_SD_JWT_KEY_BINDING', `the KB-JWT is not signed by ${holder}: ${s.error.message}`);
      kbPayload = kb.value.payload;
    }
    if (kbPayload.nonce !== expect.nonce) return err('ERR_SD_JWT_KEY_BINDING', 'the KB-JWT carries another nonce');
    const aud = kbPayload.aud;
    if (typeof aud !== 'string' || !expect.audiences.includes(aud)) {
      return err('ERR_SD_JWT_KEY_BINDING', 'the KB-JWT is addressed to another verifier (aud)');
    }
    if (typeof kbPayload.iat !== 'number' || kbPayload.iat > t + clockSkewSeconds || kbPayload.iat < t - KB_MAX_AGE_S) {
      return err('ERR_SD_JWT_KEY_BINDING', 'the KB-JWT has no recent iat');
    }
    // RFC 9901 §4.3.1: sd_hash over the issuer-signed JWT and the disclosures as presented, with the last tilde.
    const presented = `${[issuerJwt, ...disclosures].join('~')}~`;
    if (kbPayload.sd_hash !== createHash('sha256').update(presented, 'ascii').digest('base64url')) {
      return err('ERR_SD_JWT_KEY_BINDING', 'the KB-JWT sd_hash does not cover what was presented');
    }
    if (expect.transactionDataHashes && expect.transactionDataHashes.length > 0) {
      const listed = kbPayload.transaction_data_hashes;
      if (!Array.isArray(listed) || !expect.transactionDataHashes.every((h) => listed.includes(h))) {
        return err('ERR_OID4VP_TRANSACTION_DATA', 'the KB-JWT does not bind the transaction data of the request');
      }
    }
    keyBound = true;
  }
  if (!holder) return err('ERR_SD_JWT_KEY_BINDING', 'the credential has no holder key (cnf)');

  // Token Status List §6.1: status.status_list { idx, uri }.
  const status: BitstringStatusListEntry[] = [];
  const sl = isRecord(claims.status) ? claims.status.status_list : undefined;
  if (isRecord(sl)) {
    if (
      typeof sl.uri !== 'string' ||
      !URL.canParse(sl.uri) ||
      !Number.isSafeInteger(sl.idx) ||
      (sl.idx as number) < 0
    ) {
      return err('ERR_VC_MALFORMED', 'status.status_list must be { idx, uri }');
    }
    status.push(tokenStatusEntry(sl.uri, sl.idx as number));
  } else if (requireStatus) {
    return err('ERR_VC_MALFORMED', 'the credential has no status, so its revocation cannot be checked');
  }
  const s = await checks.checkCredentialStatus(status, issuer);
  if (!s.ok) return s;

  const subjectClaims = Object.fromEntries(Object.entries(claims).filter(([k]) => !REGISTERED.has(k)));
  return ok({
    holder,
    keyBound,
    credential: {
      jwt: issuerJwt,
      ...(typeof claims.jti === 'string' ? { id: claims.jti } : {}),
      issuer,
      subject: holder,
      types: [type],
      claims: subjectClaims,
      ...(typeof claims.iat === 'number' ? { issuedAt: claims.iat } : {}),
      ...(typeof claims.nbf === 'number' ? { notBefore: claims.nbf } : {}),
      ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp } : {}),
      status,
    },
  });
}
