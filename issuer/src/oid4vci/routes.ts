import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  AUTHORIZATION_CODE_GRANT,
  CREDENTIAL_FORMATS,
  CREDENTIAL_TYPE_NAMES,
  CREDENTIAL_TYPES,
  type CredentialFormat,
  type CredentialType,
  ERROR_CODES,
  type ErrorCode,
  type Logger,
  OID4VCI_ACCESS_TOKEN_TTL_S,
  OID4VCI_BATCH_SIZE,
  OID4VCI_NONCE_TTL_MS,
  OFFER_PROOF_TYP,
  OID4VCI_TX_CODE_MAX_ATTEMPTS,
  PRE_AUTHORIZED_CODE_GRANT,
  type Result,
  configurationId,
  err,
  ok,
  parseConfigurationId,
  vctOf,
} from '@tessera/protocol';
import { formBody } from '@tessera/runtime/http';
import { parseJwt, SignatureVerifier } from '@tessera/verifier';
import type { DIDDocument } from 'did-resolver';
import express, { type Request, type RequestHandler, type Response, type Router } from 'express';
import QRCode from 'qrcode';
import type { z } from 'zod';
import type { Issuer, PreAuthorizedGrant } from '../issuer.js';
import { DPOP_ALGS, verifyDpop } from './dpop.js';

/** Where the OpenID4VCI endpoints live under the issuer (`<credential_issuer>/oid4vci/...`). */
export const OID4VCI_PATH = '/oid4vci';
/** The resource the authorization endpoint's sign-in is for (policy data decides which credentials open it). */
export const OID4VCI_AUTHORIZE_RESOURCE = '/oid4vci/authorize';
/** The endpoints whose bodies are forms (RFC 6749 §4.1.3), parsed by `formBody` rather than `jsonBody`. */
export const OID4VCI_FORM_PATHS = [`${OID4VCI_PATH}/token`];
/** How long an authorization code lives (RFC 6749 §4.1.2 recommends at most 10 minutes), in ms. */
const AUTH_CODE_TTL_MS = 5 * 60 * 1000;
/** How far a proof's `iat` may lie in the past (or, by clock skew, in the future), in seconds. */
const PROOF_MAX_AGE_S = 300;
const CLOCK_SKEW_S = 30;

/** Access token data, stored under the token's hash. */
interface AccessData {
  subject: string;
  credentials: { id: string; type: CredentialType }[];
  /** RFC 9449 §6: the thumbprint of the DPoP key the token is bound to. */
  jkt?: string;
}

interface AuthCodeData extends AccessData {
  codeChallenge: string;
  redirectUri: string;
  clientId: string;
}

/** The OAuth / OpenID4VCI error string of each of our codes (OpenID4VCI 1.0 §6.3, §8.3.1.2; RFC 6749 §5.2). */
const OAUTH_ERROR: Partial<Record<ErrorCode, string>> = {
  ERR_OID4VCI_GRANT_INVALID: 'invalid_grant',
  ERR_OID4VCI_TX_CODE: 'invalid_grant',
  ERR_OID4VCI_PROOF_INVALID: 'invalid_proof',
  ERR_PROOF_TYPE: 'invalid_proof',
  ERR_OID4VCI_NONCE: 'invalid_nonce',
  ERR_OID4VCI_CREDENTIAL_REQUEST: 'invalid_credential_request',
  ERR_OID4VCI_TOKEN: 'invalid_token',
  ERR_DPOP_INVALID: 'invalid_dpop_proof',
  ERR_VC_SUBJECT_MISMATCH: 'invalid_proof',
  ERR_CONFLICT: 'credential_request_denied',
  ERR_VC_EXPIRED: 'credential_request_denied',
  ERR_VALIDATION: 'invalid_request',
  ERR_BAD_REQUEST: 'invalid_request',
};

/**
 * An OAuth-style error answer that also carries Tessera's code: `{ error, error_description, error_code }` with the
 * code's HTTP status (a standard wallet reads `error`, Tessera's tools read `error_code`).
 */
function sendOauthError(res: Response, e: { code: ErrorCode; message: string }): void {
  const oauth = OAUTH_ERROR[e.code];
  // OAuth endpoints answer 400 for every error but an unusable token (RFC 6749 §5.2, RFC 6750 §3.1, OpenID4VCI §8.3.1).
  const status = oauth === undefined ? ERROR_CODES[e.code].status : oauth === 'invalid_token' ? 401 : 400;
  const error = oauth ?? (status >= 500 ? 'server_error' : 'invalid_request');
  res.setHeader('cache-control', 'no-store');
  if (e.code === 'ERR_OID4VCI_TOKEN')
    res.setHeader('www-authenticate', `DPoP error="invalid_token", Bearer error="invalid_token"`);
  res.status(status).json({ error, error_description: e.message, error_code: e.code });
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();
const equalHashes = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);

/** The claim names of a credential type (the keys of its strict claims schema), for metadata and DCQL. */
export function claimNames(type: CredentialType): string[] {
  const schema = CREDENTIAL_TYPES[type].claims as z.ZodType & {
    shape?: Record<string, unknown>;
    def?: { in?: { shape?: Record<string, unknown> } };
  };
  const shape =
    schema.shape ?? (schema as { _zod?: { def?: { in?: { shape?: Record<string, unknown> } } } })._zod?.def?.in?.shape;
  return shape ? Object.keys(shape) : [];
}

/** The credential types offered over OpenID4VCI: those issued to people and organisations (not device sessions). */
export const OID4VCI_TYPES = CREDENTIAL_TYPE_NAMES.filter((t) => CREDENTIAL_TYPES[t].kind === 'role');

/** OpenID4VCI 1.0 §12.2.4: the credential issuer metadata. */
export function credentialIssuerMetadata(base: string) {
  const configurations: Record<string, unknown> = {};
  for (const type of OID4VCI_TYPES) {
    const names = claimNames(type);
    const common = {
      scope: '',
      cryptographic_binding_methods_supported: ['did:ethr'],
      credential_signing_alg_values_supported: ['ES256K'],
      proof_types_supported: { jwt: { proof_signing_alg_values_supported: ['ES256K'] } },
    };
    configurations[configurationId(type, 'jwt_vc_json')] = {
      ...common,
      scope: configurationId(type, 'jwt_vc_json'),
      format: 'jwt_vc_json',
      credential_definition: { type: ['VerifiableCredential', type] },
      credential_metadata: {
        display: [{ name: type.replace(/Credential$/, '').replace(/([a-z])([A-Z])/g, '$1 $2'), locale: 'en' }],
        claims: names.map((n) => ({ path: ['credentialSubject', n] })),
      },
    };
    configurations[configurationId(type, 'dc+sd-jwt')] = {
      ...common,
      scope: configurationId(type, 'dc+sd-jwt'),
      format: 'dc+sd-jwt',
      vct: vctOf(type),
      credential_metadata: {
        display: [{ name: type.replace(/Credential$/, '').replace(/([a-z])([A-Z])/g, '$1 $2'), locale: 'en' }],
        claims: names.map((n) => ({ path: [n] })),
      },
    };
  }
  return {
    credential_issuer: base,
    authorization_servers: [base],
    credential_endpoint: `${base}${OID4VCI_PATH}/credential`,
    nonce_endpoint: `${base}${OID4VCI_PATH}/nonce`,
    batch_credential_issuance: { batch_size: OID4VCI_BATCH_SIZE },
    display: [{ name: 'Tessera', locale: 'en' }],
    credential_configurations_supported: configurations,
  };
}

/** RFC 8414 §2 (with OpenID4VCI 1.0 §12.3): the authorization server metadata; the issuer is its own server. */
export function authorizationServerMetadata(base: string) {
  return {
    issuer: base,
    authorization_endpoint: `${base}${OID4VCI_PATH}/authorize`,
    token_endpoint: `${base}${OID4VCI_PATH}/token`,
    grant_types_supported: [AUTHORIZATION_CODE_GRANT, PRE_AUTHORIZED_CODE_GRANT],
    response_types_supported: ['code'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    'pre-authorized_grant_anonymous_access_supported': true,
    dpop_signing_alg_values_supported: [...DPOP_ALGS],
    scopes_supported: OID4VCI_TYPES.flatMap((t) => CREDENTIAL_FORMATS.map((f) => configurationId(t, f))),
  };
}

export interface OfferPresentation {
  /** The credential offer object (OpenID4VCI 1.0 §4.1.1). */
  credential_offer: Record<string, unknown>;
  /** `openid-credential-offer://?credential_offer=…` (by value). */
  offer_uri: string;
  /** `openid-credential-offer://?credential_offer_uri=…` (by reference, §4.1.3). */
  offer_uri_by_reference: string;
  credential_offer_uri: string;
  /** The by-reference URI as a QR code (SVG), for a wallet on another device. */
  qr_svg: string;
}

/**
 * Present an offer made by `issuer.offer` in OpenID4VCI's forms: the offer object, by value and by reference (the
 * reference is kept as long as the code lives), and a QR code of the reference.
 */
export async function presentOffer(
  issuer: Issuer,
  offer: { code: string; credentialId: string; expiresAt: string; txCode?: string },
  type: CredentialType,
): Promise<OfferPresentation> {
  const base = issuer.config.publicBaseUrl;
  const credentialOffer = {
    credential_issuer: base,
    credential_configuration_ids: CREDENTIAL_FORMATS.map((f) => configurationId(type, f)),
    grants: {
      [PRE_AUTHORIZED_CODE_GRANT]: {
        'pre-authorized_code': offer.code,
        ...(offer.txCode
          ? {
              tx_code: {
                input_mode: 'numeric',
                length: offer.txCode.length,
                description: 'The code the issuer sent you by another channel',
              },
            }
          : {}),
      },
    },
  };
  const ref = randomBytes(24).toString('base64url');
  const ttl = Math.max(1000, Date.parse(offer.expiresAt) - Date.now());
  await issuer.oid4vci.put('offer', ref, credentialOffer, ttl);
  const credentialOfferUri = `${base}${OID4VCI_PATH}/offers/${ref}`;
  const byReference = `openid-credential-offer://?credential_offer_uri=${encodeURIComponent(credentialOfferUri)}`;
  return {
    credential_offer: credentialOffer,
    offer_uri: `openid-credential-offer://?credential_offer=${encodeURIComponent(JSON.stringify(credentialOffer))}`,
    offer_uri_by_reference: byReference,
    credential_offer_uri: credentialOfferUri,
    qr_svg: await QRCode.toString(byReference, { type: 'svg', errorCorrectionLevel: 'M' }),
  };
}

export interface Oid4vciRoutesDeps {
  issuer: Issuer;
  /** Express middleware admitting the resource owner at the authorization endpoint (the credential core's guard). */
  authorizeGuard: RequestHandler[];
  log: Logger;
  now?: () => Date;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The OpenID4VCI 1.0 endpoints of the issuer (mounted at the issuer's root; `credential_issuer` is its public base URL):
 * metadata, offers by reference, the authorization endpoint (authorization code + PKCE, for a signed-in admin or
 * organisation), the token endpoint (both grants, DPoP), the nonce endpoint and the credential endpoint (`jwt` proofs,
 * batch, `jwt_vc_json` and `dc+sd-jwt`).
 */
export function oid4vciRoutes(deps: Oid4vciRoutesDeps): Router {
  const { issuer } = deps;
  const now = deps.now ?? (() => new Date());
  const base = issuer.config.publicBaseUrl;
  const state = issuer.oid4vci;
  const signatures = new SignatureVerifier();
  const router = express.Router();

  router.get('/.well-known/openid-credential-issuer', (_req, res) => {
    res.json(credentialIssuerMetadata(base));
  });
  router.get('/.well-known/oauth-authorization-server', (_req, res) => {
    res.json(authorizationServerMetadata(base));
  });

  router.get(`${OID4VCI_PATH}/offers/:ref`, async (req, res) => {
    const offer = await state.get<Record<string, unknown>>('offer', String(req.params.ref));
    if (!offer) return sendOauthError(res, { code: 'ERR_NOT_FOUND', message: 'no such credential offer' });
    res.setHeader('cache-control', 'no-store');
    res.json(offer.data);
  });

  // RFC 6749 §4.1.1 + RFC 7636: the resource owner is the signed-in caller; the code is bound to the S256 challenge.
  router.get(`${OID4VCI_PATH}/authorize`, ...deps.authorizeGuard, async (req, res) => {
    const q = req.query as Record<string, unknown>;
    const str = (k: string) => (typeof q[k] === 'string' ? (q[k] as string) : undefined);
    const redirectUri = str('redirect_uri');
    const clientId = str('client_id');
    if (!redirectUri || !URL.canParse(redirectUri) || !clientId) {
      return sendOauthError(res, {
        code: 'ERR_BAD_REQUEST',
        message: 'client_id and an absolute redirect_uri are required',
      });
    }
    const back = (params: Record<string, string>) => {
      const u = new URL(redirectUri);
      for (const [k, v] of Object.entries({ ...params, iss: base, ...(str('state') ? { state: str('state')! } : {}) }))
        u.searchParams.set(k, v);
      res.redirect(302, u.href);
    };
    if (str('response_type') !== 'code') return back({ error: 'unsupported_response_type' });
    const challenge = str('code_challenge');
    if (str('code_challenge_method') !== 'S256' || !challenge || !/^[A-Za-z0-9_-]{43}$/.test(challenge)) {
      return back({ error: 'invalid_request', error_description: 'PKCE with S256 is required (RFC 7636 §4.3)' });
    }
    // What is asked for: scopes, or authorization_details of type openid_credential (OpenID4VCI 1.0 §5.1.1).
    const wanted = new Set<string>();
    for (const s of (str('scope') ?? '').split(' ').filter(Boolean)) wanted.add(s);
    const details = str('authorization_details');
    if (details) {
      try {
        const list = JSON.parse(details) as unknown;
        for (const d of Array.isArray(list) ? list : []) {
          if (isRecord(d) && d.type === 'openid_credential' && typeof d.credential_configuration_id === 'string')
            wanted.add(d.credential_configuration_id);
        }
      } catch {
        return back({ error: 'invalid_request', error_description: 'authorization_details is not JSON' });
      }
    }
    const types = new Set([...wanted].map((w) => parseConfigurationId(w)?.type).filter((t) => t !== undefined));
    if (types.size === 0)
      return back({ error: 'invalid_scope', error_description: 'no known credential configuration asked for' });
    const subject = req.accessGrant!.holder;
    const credentials: AccessData['credentials'] = [];
    for (const type of types) {
      const page = await issuer.list({ subject, type, status: 'active', limit: 1 });
      const vc = page.ok ? page.value.items.find((c) => !c.expired) : undefined;
      if (vc) credentials.push({ id: vc.id, type });
    }
    if (credentials.length === 0)
      return back({ error: 'access_denied', error_description: 'you hold no such credential here' });
    const code = randomBytes(32).toString('base64url');
    const data: AuthCodeData = { subject, credentials, codeChallenge: challenge, redirectUri, clientId };
    await state.put('auth-code', code, data, AUTH_CODE_TTL_MS);
    await issuer.recordAction(
      'oid4vci.authorize',
      { subject, credentials: credentials.map((c) => c.id), clientId },
      { actor: subject },
    );
    back({ code });
  });

  router.post(`${OID4VCI_PATH}/token`, formBody(), async (req, res) => {
    const b = req.body as Record<string, string>;
    let access: Result<AccessData>;
    if (b.grant_type === PRE_AUTHORIZED_CODE_GRANT) access = await preAuthorized(b);
    else if (b.grant_type === AUTHORIZATION_CODE_GRANT) access = await authorizationCode(b);
    else access = err('ERR_BAD_REQUEST', `grant_type ${String(b.grant_type).slice(0, 80)} is not supported`);
    if (!access.ok) return sendOauthError(res, access.error);
    // RFC 9449 §5: a DPoP proof at the token endpoint binds the token to its key.
    let jkt: string | undefined;
    if (req.headers.dpop !== undefined) {
      const d = await verifyDpop(
        req.headers.dpop,
        { method: 'POST', url: `${base}${OID4VCI_PATH}/token`, now: now() },
        state,
      );
      if (!d.ok) return sendOauthError(res, d.error);
      jkt = d.value;
    }
    const token = randomBytes(32).toString('base64url');
    await state.put('access', token, { ...access.value, ...(jkt ? { jkt } : {}) }, OID4VCI_ACCESS_TOKEN_TTL_S * 1000);
    res.setHeader('cache-control', 'no-store');
    res.json({
      access_token: token,
      token_type: jkt ? 'DPoP' : 'Bearer',
      expires_in: OID4VCI_ACCESS_TOKEN_TTL_S,
      authorization_details: access.value.credentials.map((c) => ({
        type: 'openid_credential',
        credential_configuration_id: configurationId(c.type, 'jwt_vc_json'),
        credential_identifiers: CREDENTIAL_FORMATS.map((f) => configurationId(c.type, f)),
      })),
    });
  });

  async function preAuthorized(b: Record<string, string>): Promise<Result<AccessData>> {
    const code = b['pre-authorized_code'];
    if (typeof code !== 'string' || code.length === 0) return err('ERR_BAD_REQUEST', 'pre-authorized_code is required');
    const live = await state.get<PreAuthorizedGrant>('pre-auth', code);
    if (!live) return err('ERR_OID4VCI_GRANT_INVALID', 'the pre-authorized code is unknown, expired or already used');
    if (live.attempts >= OID4VCI_TX_CODE_MAX_ATTEMPTS) {
      return err('ERR_OID4VCI_TX_CODE', 'too many wrong transaction codes: ask the issuer for a new offer');
    }
    if (live.data.txCodeHash !== undefined) {
      const given = b.tx_code;
      // OpenID4VCI 1.0 §6.1: the code is checked, and a wrong one is counted, not spent (the holder may retype it).
      if (typeof given !== 'string' || !equalHashes(sha256(given), Buffer.from(live.data.txCodeHash, 'hex'))) {
        const n = await state.failAttempt('pre-auth', code);
        return err(
          'ERR_OID4VCI_TX_CODE',
          typeof given === 'string'
            ? `the transaction code is wrong (${Math.max(0, OID4VCI_TX_CODE_MAX_ATTEMPTS - n)} attempts left)`
            : 'this offer needs the transaction code sent to you by another channel (tx_code)',
        );
      }
    }
    const spent = await state.consume<PreAuthorizedGrant>('pre-auth', code, OID4VCI_TX_CODE_MAX_ATTEMPTS);
    if (!spent) return err('ERR_OID4VCI_GRANT_INVALID', 'the pre-authorized code was used already');
    return ok({ subject: spent.subject, credentials: [{ id: spent.credentialId, type: spent.type }] });
  }

  async function authorizationCode(b: Record<string, string>): Promise<Result<AccessData>> {
    const code = b.code;
    const verifier = b.code_verifier;
    if (typeof code !== 'string' || typeof verifier !== 'string') {
      return err('ERR_BAD_REQUEST', 'code and code_verifier are required (RFC 7636 §4.5)');
    }
    const data = await state.consume<AuthCodeData>('auth-code', code);
    if (!data) return err('ERR_OID4VCI_GRANT_INVALID', 'the authorization code is unknown, expired or already used');
    if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || sha256(verifier).toString('base64url') !== data.codeChallenge) {
      return err('ERR_OID4VCI_GRANT_INVALID', 'the code_verifier does not match the code_challenge (RFC 7636 §4.6)');
    }
    if (b.redirect_uri !== undefined && b.redirect_uri !== data.redirectUri) {
      return err('ERR_OID4VCI_GRANT_INVALID', 'redirect_uri differs from the authorization request (RFC 6749 §4.1.3)');
    }
    if (b.client_id !== undefined && b.client_id !== data.clientId) {
      return err('ERR_OID4VCI_GRANT_INVALID', 'the code was issued to another client');
    }
    return ok({ subject: data.subject, credentials: data.credentials });
  }

  router.post(`${OID4VCI_PATH}/nonce`, async (_req, res) => {
    const nonce = randomBytes(24).toString('base64url');
    await state.put('c-nonce', nonce, {}, OID4VCI_NONCE_TTL_MS);
    res.setHeader('cache-control', 'no-store');
    res.json({ c_nonce: nonce });
  });

  /** The access token of a credential request, with its DPoP proof checked when the token is DPoP-bound. */
  async function accessOf(req: Request): Promise<Result<{ token: string; data: AccessData }>> {
    const m = /^(DPoP|Bearer) ([A-Za-z0-9_-]{20,200})$/.exec(req.headers.authorization ?? '');
    if (!m) return err('ERR_OID4VCI_TOKEN', 'an access token is required (Authorization: DPoP or Bearer)');
    const token = m[2]!;
    const live = await state.get<AccessData>('access', token);
    if (!live) return err('ERR_OID4VCI_TOKEN', 'the access token is unknown or expired');
    if (live.data.jkt !== undefined) {
      if (m[1] !== 'DPoP') return err('ERR_OID4VCI_TOKEN', 'this token is DPoP-bound: send it as Authorization: DPoP');
      const d = await verifyDpop(
        req.headers.dpop,
        { method: 'POST', url: `${base}${OID4VCI_PATH}/credential`, accessToken: token, now: now() },
        state,
      );
      if (!d.ok) return d;
      if (d.value !== live.data.jkt)
        return err('ERR_OID4VCI_TOKEN', 'the DPoP key is not the one the token is bound to');
    } else if (m[1] === 'DPoP') {
      return err('ERR_OID4VCI_TOKEN', 'this token is a bearer token');
    }
    return ok({ token, data: live.data });
  }

  /**
   * One `openid4vci-proof+jwt` (OpenID4VCI 1.0 Appendix F.1): typ, an allowed algorithm, `kid` a DID URL of the
   * subject, `aud` this issuer, a nonce, a recent `iat`, and a signature by the subject's authentication key.
   */
  async function checkProof(jwt: unknown, subject: string): Promise<Result<{ kid: string; nonce: string }>> {
    const parsed = parseJwt(jwt);
    if (!parsed.ok) {
      return err(
        parsed.error.code === 'ERR_JWT_ALG_UNSUPPORTED' ? 'ERR_OID4VCI_PROOF_INVALID' : 'ERR_OID4VCI_PROOF_INVALID',
        `the proof is not a usable JWT: ${parsed.error.message}`,
      );
    }
    const { header, payload } = parsed.value;
    if (header.typ !== OFFER_PROOF_TYP) {
      return err('ERR_PROOF_TYPE', `the proof's typ is ${String(header.typ).slice(0, 40)}, not ${OFFER_PROOF_TYP}`);
    }
    if (typeof header.kid !== 'string' || !header.kid.startsWith('did:') || !header.kid.includes('#')) {
      return err('ERR_OID4VCI_PROOF_INVALID', 'the proof must name a DID URL of the credential subject in kid');
    }
    if (header.jwk !== undefined || header.x5c !== undefined) {
      return err('ERR_OID4VCI_PROOF_INVALID', 'the proof names its key more than once (kid and jwk or x5c)');
    }
    const aud = payload.aud;
    if (aud === undefined) return err('ERR_OID4VCI_PROOF_INVALID', 'the proof has no audience (aud)');
    if (!(aud === base || (Array.isArray(aud) && aud.includes(base)))) {
      return err(
        'ERR_OID4VCI_PROOF_INVALID',
        `the proof is addressed to ${JSON.stringify(aud).slice(0, 100)}, not to ${base}`,
      );
    }
    if (typeof payload.nonce !== 'string' || payload.nonce.length === 0) {
      return err('ERR_OID4VCI_PROOF_INVALID', 'the proof has no nonce (c_nonce from the nonce endpoint)');
    }
    const t = now().getTime() / 1000;
    if (typeof payload.iat !== 'number' || payload.iat > t + CLOCK_SKEW_S || payload.iat < t - PROOF_MAX_AGE_S) {
      return err('ERR_OID4VCI_PROOF_INVALID', 'the proof has no recent iat');
    }
    const did = header.kid.split('#')[0]!;
    if (did.toLowerCase() !== subject.toLowerCase()) {
      return err('ERR_VC_SUBJECT_MISMATCH', 'the proof is not signed by a key of the credential subject');
    }
    let doc: DIDDocument | null = null;
    try {
      doc = (await issuer.agent.resolveDid({ didUrl: did })).didDocument;
    } catch {
      doc = null;
    }
    if (!doc) return err('ERR_OID4VCI_PROOF_INVALID', `${did} does not resolve`);
    if (!(await signatures.verifyAsync(parsed.value, doc, 'authentication'))) {
      return err('ERR_OID4VCI_PROOF_INVALID', `the proof's signature does not verify against ${did}`);
    }
    return ok({ kid: header.kid, nonce: payload.nonce });
  }

  router.post(`${OID4VCI_PATH}/credential`, async (req, res) => {
    const access = await accessOf(req);
    if (!access.ok) return sendOauthError(res, access.error);
    const b: unknown = req.body;
    if (!isRecord(b))
      return sendOauthError(res, { code: 'ERR_OID4VCI_CREDENTIAL_REQUEST', message: 'the body is a JSON object' });
    const id = b.credential_configuration_id ?? b.credential_identifier;
    const config = parseConfigurationId(id);
    const granted = config && access.value.data.credentials.find((c) => c.type === config.type);
    if (!config || !granted) {
      return sendOauthError(res, {
        code: 'ERR_OID4VCI_CREDENTIAL_REQUEST',
        message: `this token does not grant ${String(id).slice(0, 80)}`,
      });
    }
    // OpenID4VCI 1.0 §8.2: `proofs` holds one proof type with a list of proofs (`proof`, singular, is draft-era).
    let proofs: unknown[];
    if (isRecord(b.proofs)) {
      const kinds = Object.keys(b.proofs);
      if (kinds.length !== 1 || kinds[0] !== 'jwt') {
        return sendOauthError(res, {
          code: 'ERR_PROOF_TYPE',
          message: `proof type ${kinds.join(', ').slice(0, 60)} is not supported: send jwt proofs`,
        });
      }
      proofs = Array.isArray(b.proofs.jwt) ? b.proofs.jwt : [];
    } else if (isRecord(b.proof)) {
      if (b.proof.proof_type !== 'jwt') {
        return sendOauthError(res, {
          code: 'ERR_PROOF_TYPE',
          message: `proof type ${String(b.proof.proof_type).slice(0, 40)} is not supported: send jwt proofs`,
        });
      }
      proofs = [b.proof.jwt];
    } else {
      return sendOauthError(res, { code: 'ERR_OID4VCI_PROOF_INVALID', message: 'the request carries no key proof' });
    }
    if (proofs.length === 0 || proofs.length > OID4VCI_BATCH_SIZE) {
      return sendOauthError(res, {
        code: 'ERR_OID4VCI_CREDENTIAL_REQUEST',
        message: `send 1 to ${OID4VCI_BATCH_SIZE} proofs (batch_credential_issuance)`,
      });
    }
    const checked: { kid: string; nonce: string }[] = [];
    for (const p of proofs) {
      const c = await checkProof(p, access.value.data.subject);
      if (!c.ok) return sendOauthError(res, c.error);
      checked.push(c.value);
    }
    // Every proof of one request carries the one c_nonce; it is spent once the proofs are known to be authentic.
    const nonces = new Set(checked.map((c) => c.nonce));
    if (nonces.size !== 1)
      return sendOauthError(res, { code: 'ERR_OID4VCI_NONCE', message: 'the proofs carry different nonces' });
    if (!(await state.consume('c-nonce', [...nonces][0]!))) {
      return sendOauthError(res, {
        code: 'ERR_OID4VCI_NONCE',
        message: 'the nonce is unknown, expired or used already: ask the nonce endpoint for a new one',
      });
    }
    const credentials: { credential: string }[] = [];
    for (const c of checked) {
      const d = await issuer.deliver(granted.id, { format: config.format as CredentialFormat, holderKid: c.kid });
      if (!d.ok) return sendOauthError(res, d.error);
      credentials.push({ credential: d.value.credential });
    }
    await issuer.recordAction(
      'credential.deliver',
      { id: granted.id, format: config.format, count: credentials.length },
      { actor: access.value.data.subject },
    );
    res.setHeader('cache-control', 'no-store');
    res.json({ credentials });
  });

  // Thrown errors (a body that does not parse, an internal fault) reach the issuer's one error handler.
  return router;
}
