import { err, ok, type Result } from '@tessera/protocol';

/** Where and how to redeem a one-time credential offer. */
export interface ParsedOffer {
  /** The issuer's public base URL: the `aud` of the proof the holder signs. */
  issuer: string;
  /** `<issuer>/offers/redeem`. */
  redeemUrl: string;
  /** The one-time (pre-authorised) code. */
  code: string;
}

const PRE_AUTH_GRANT = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
const CODE = /^[A-Za-z0-9_-]{20,100}$/;
const REDEEM_PATH = /\/offers\/redeem\/?$/;

const malformed = (why: string) => err('ERR_WALLET_OFFER_MALFORMED', `the credential offer is malformed: ${why}`);

function httpUrl(s: string): URL | undefined {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
}

function fromParts(issuerRaw: unknown, code: unknown): Result<ParsedOffer> {
  if (typeof code !== 'string' || !CODE.test(code)) return malformed('the code is not 20 to 100 base64url characters');
  const u = typeof issuerRaw === 'string' ? httpUrl(issuerRaw) : undefined;
  if (!u) return malformed('the issuer is not an http(s) URL');
  u.search = '';
  u.hash = '';
  const issuer = u.href.replace(REDEEM_PATH, '').replace(/\/+$/, '');
  return ok({ issuer, redeemUrl: `${issuer}/offers/redeem`, code });
}

/**
 * Read a one-time credential offer in any of the forms a holder is handed:
 *
 * - `<issuer>/offers/redeem?code=<code>` (or any `<issuer>?code=<code>` http(s) URL);
 * - `openid-credential-offer://?credential_offer=<JSON>` with `credential_issuer` and the pre-authorised code grant
 *   (OpenID4VCI 1.0 §4.1.1);
 * - the issuer's offer response as JSON: `{ code, redeemUrl }` (`POST /credentials/{id}/offer`);
 * - a bare code, with `issuer` given separately.
 */
export function parseOffer(input: string, issuer?: string): Result<ParsedOffer> {
  const text = typeof input === 'string' ? input.trim() : '';
  if (text === '') return malformed('it is empty');
  if (text.startsWith('{')) {
    let o: Record<string, unknown>;
    try {
      o = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return malformed('it starts like JSON but does not parse');
    }
    if (typeof o !== 'object' || o === null) return malformed('not a JSON object');
    if (typeof o.credential_issuer === 'string') {
      const grant = (o.grants as Record<string, Record<string, unknown>> | undefined)?.[PRE_AUTH_GRANT];
      return fromParts(o.credential_issuer, grant?.['pre-authorized_code']);
    }
    return fromParts(o.redeemUrl ?? issuer, o.code);
  }
  if (text.startsWith('openid-credential-offer:')) {
    const query = text.slice(text.indexOf('?') + 1);
    const offer = new URLSearchParams(query).get('credential_offer');
    if (text.indexOf('?') < 0 || offer === null) return malformed('no credential_offer parameter');
    return parseOffer(offer.trim().startsWith('{') ? offer : '{', issuer);
  }
  const u = httpUrl(text);
  if (u) {
    const code = u.searchParams.get('code') ?? u.searchParams.get('pre-authorized_code');
    if (code === null) return malformed('the URL has no code parameter');
    return fromParts(u.href, code);
  }
  if (CODE.test(text)) {
    if (issuer === undefined) return malformed('a bare code needs the issuer URL (--issuer)');
    return fromParts(issuer, text);
  }
  return malformed('expected an offer URL, an offer JSON or a code');
}
