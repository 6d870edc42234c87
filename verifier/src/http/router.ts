import { type Logger, type Requirement, requirementTypes, silentLogger, TesseraError } from '@tessera/protocol';
import { errorHandler, jsonBody } from '@tessera/runtime/http';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Verifier } from '../core.js';
import { ALLOWED_JWT_ALGS, parseJwt } from '../vc/jwt.js';
import type { VerifiedCredential } from '../vc/verify.js';
import { verifierOpenApi } from './openapi.js';
import { DEFAULT_PRESENTATION_REQUEST_LIMITS, RequestBudget, type RequestBudgetLimits } from './request-budget.js';
import type { GrantedCredential } from './tokens.js';

/** The verifier's HTTP API, as an express Router (the stack mounts it at `/verifier`). */
export type VerifierRouter = Router;

export interface VerifierRouterOptions {
  /** Absolute URL the router is mounted at (`https://host/verifier`), for the metadata's endpoint URLs. */
  publicUrl?: string;
  /**
   * What one source address may ask of the unauthenticated `POST /presentation-requests` (each stores a nonce);
   * default DEFAULT_PRESENTATION_REQUEST_LIMITS. Counted per replica.
   */
  requestLimits?: RequestBudgetLimits;
  log?: Logger;
}

const RESOURCE_MAX = 256;
const RequestBody = z.strictObject({
  resource: z.string().min(1).max(RESOURCE_MAX),
  action: z.string().regex(/^(\*|[A-Za-z]{1,32})$/, 'must be an HTTP method or an MQTT action'),
});
/** `vp_token` is OpenID4VP's name for the same field (OpenID4VP §8.1, a single JWT VP). */
const PresentationBody = z.union([
  z.strictObject({ vp: z.unknown() }),
  z.strictObject({ vp_token: z.unknown() }).transform((b) => ({ vp: b.vp_token })),
]);
const VerifyBody = z.union([
  z.strictObject({ jwt: z.unknown() }),
  z.strictObject({ vp: z.unknown() }).transform((b) => ({ jwt: b.vp })),
  z.strictObject({ vc: z.unknown() }).transform((b) => ({ jwt: b.vc })),
]);

/**
 * A DCQL query (OpenID4VP 1.0 §6) describing what the policy needs: one credential query per requirement, JWT VC
 * format, by type, with the claims the constraints read. Informative: the policy engine decides, not the wallet.
 */
function dcqlQuery(requirements: Requirement[]) {
  return {
    credentials: requirements.map((r, i) => ({
      id: `req${i}`,
      format: 'jwt_vc_json',
      meta: { type_values: requirementTypes(r).map((t) => ['VerifiableCredential', t]) },
      ...(r.claims.length > 0
        ? { claims: r.claims.map((c) => ({ path: ['credentialSubject', ...c.claim.split('.')] })) }
        : {}),
    })),
  };
}

/** `body(PresentationBody, req)` without zod for the two well-formed shapes (the hot path); zod words any other. */
function presentationBody(req: Request): { vp: unknown } {
  const b: unknown = req.body;
  if (req.is('application/json') && typeof b === 'object' && b !== null && !Array.isArray(b)) {
    const keys = Object.keys(b);
    if (keys.length === 1 && keys[0] === 'vp') return { vp: (b as { vp: unknown }).vp };
    if (keys.length === 1 && keys[0] === 'vp_token') return { vp: (b as { vp_token: unknown }).vp_token };
  }
  return body(PresentationBody, req);
}

function body<T>(schema: z.ZodType<T>, req: Request): T {
  if (!req.is('application/json')) {
    throw new TesseraError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
  }
  const r = schema.safeParse(req.body);
  if (!r.success) {
    const issues = r.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
    throw new TesseraError(
      'ERR_VALIDATION',
      `the body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      { details: issues },
    );
  }
  return r.data;
}

/**
 * A JSON answer written as one string in one write: express's `res.json` would also hash the body for an ETag (a POST
 * answer is never revalidated) and hand node the body as a separate buffer. Headers set earlier (by middleware) stay.
 */
function sendJson(res: Response, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

const fail = (e: { code: TesseraError['code']; message: string; details?: unknown }) =>
  new TesseraError(e.code, e.message, e.details === undefined ? undefined : { details: e.details });

const BEARER = /^Bearer ([A-Za-z0-9_.~+/-]+=*)$/;

/** The bearer token of a request, or ERR_AUTH_REQUIRED / ERR_AUTH_INVALID. */
function bearer(req: Request): string {
  const header = req.headers.authorization;
  if (!header) throw new TesseraError('ERR_AUTH_REQUIRED', 'this needs an access token (Authorization: Bearer …)');
  const m = BEARER.exec(header);
  if (!m) throw new TesseraError('ERR_AUTH_INVALID', 'the Authorization header is not a Bearer token (RFC 6750 §2.1)');
  return m[1]!;
}

const granted = (vc: VerifiedCredential): GrantedCredential => ({
  types: vc.types,
  issuer: vc.issuer,
  claims: vc.claims,
  ...(vc.expiresAt === undefined ? {} : { expiresAt: vc.expiresAt }),
  status: vc.status,
});

function sendToken(
  res: Response,
  token: string,
  grant: { expiresAt: number; issuedAt: number; holder: string; scopes: unknown },
  policies: string[],
): void {
  sendJson(
    res,
    200,
    {
      access_token: token,
      token_type: 'Bearer',
      expires_in: grant.expiresAt - grant.issuedAt,
      holder: grant.holder,
      scopes: grant.scopes,
      policies,
    },
    { 'Cache-Control': 'no-store' }, // RFC 6749 §5.1
  );
}

/**
 * The verifier's HTTP API (express 5 Router, no listen; the stack mounts it at `/verifier`), on the credential core:
 *
 * - `POST /presentation-requests` `{ resource, action }` → nonce, audience, expiry and what the policy needs; the
 *   resource is a concrete one, or a sign-in scope (a policy's own pattern such as `/issuer/**`)
 * - `POST /presentations` `{ vp }` → the presentation verified for the resource and action its nonce was issued for,
 *   then an access token bound to the holder and that scope
 * - `POST /tokens/renew` (Bearer) → a fresh token for a live one, up to the session's maximum age
 * - `POST /tokens/sign-out` (Bearer) → the token is refused everywhere from now on
 * - `POST /verify` `{ jwt }` → for third parties: the coded result for a VC or a VP JWT, no token
 * - `GET /.well-known/openid4vp-verifier` → metadata: formats, algorithms, endpoints, the token key
 * - `GET /openapi.json` → this API as OpenAPI 3.1
 *
 * Every refusal is `{ error: { code, message } }` with the status of the code in protocol's registry.
 */
export function buildVerifierRouter(core: Verifier, options: VerifierRouterOptions = {}): VerifierRouter {
  const log = options.log ?? silentLogger;
  const router = express.Router();
  router.use(jsonBody());

  // Every presentation request stores a nonce until it expires, and asking needs no login: a rate and a cap per
  // source address in front of the store, and the store's own capacity behind them (ERR_CAPACITY), so no one fills it
  // for everyone.
  const budget = new RequestBudget(
    options.requestLimits ?? DEFAULT_PRESENTATION_REQUEST_LIMITS,
    core.checks.nonceTtlMs,
  );

  router.post('/presentation-requests', async (req, res) => {
    const { resource, action } = body(RequestBody, req);
    const refused = budget.take(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    if (refused) {
      res.setHeader('retry-after', String(refused.retryAfterS));
      throw new TesseraError(refused.code, refused.message);
    }
    let r: Awaited<ReturnType<Verifier['request']>>;
    try {
      r = await core.request(resource, action);
    } catch (e) {
      if (e instanceof TesseraError && e.code === 'ERR_CAPACITY') {
        const d = e.details as { retryAfterS?: unknown } | undefined;
        res.setHeader('retry-after', String(typeof d?.retryAfterS === 'number' ? d.retryAfterS : 30));
      }
      throw e;
    }
    if (!r.ok) throw fail(r.error);
    const q = r.value;
    sendJson(res, 201, {
      nonce: q.nonce,
      audience: q.audience,
      expiresAt: q.expiresAt,
      resource: q.resource,
      action: q.action,
      requirements: q.requirements,
      // The same request in OpenID4VP 1.0 terms (§5): a vp_token over direct_post to the presentations endpoint.
      openid4vp: {
        response_type: 'vp_token',
        response_mode: 'direct_post',
        client_id: `decentralized_identifier:${core.did}`,
        nonce: q.nonce,
        ...(options.publicUrl ? { response_uri: `${options.publicUrl}/presentations` } : {}),
        dcql_query: dcqlQuery(q.requirements),
      },
    });
  });

  router.post('/presentations', async (req, res) => {
    const { vp } = presentationBody(req);
    const r = await core.exchange(vp);
    if (!r.ok) throw fail(r.error);
    sendToken(res, r.value.token, r.value.grant, r.value.policies);
  });

  router.post('/tokens/renew', async (req, res) => {
    const r = await core.renew(bearer(req));
    if (!r.ok) throw fail(r.error);
    sendToken(res, r.value.token, r.value.grant, r.value.policies);
  });

  router.post('/tokens/sign-out', async (req, res) => {
    const r = await core.signOut(bearer(req));
    if (!r.ok) throw fail(r.error);
    res.status(204).end();
  });

  router.post('/verify', async (req, res) => {
    const { jwt } = body(VerifyBody, req);
    const parsed = parseJwt(jwt);
    if (!parsed.ok) throw fail(parsed.error);
    if (parsed.value.payload.vp !== undefined) {
      const r = await core.present(jwt);
      if (!r.ok) throw fail(r.error);
      sendJson(res, 200, {
        verified: true,
        kind: 'presentation',
        holder: r.value.holder,
        resource: r.value.scope.resource,
        action: r.value.scope.action,
        policies: r.value.decision.policies,
        credentials: r.value.credentials.map(granted),
      });
      return;
    }
    const r = await core.verifyCredential(jwt);
    if (!r.ok) throw fail(r.error);
    sendJson(res, 200, { verified: true, kind: 'credential', subject: r.value.subject, ...granted(r.value) });
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(verifierOpenApi(options.publicUrl ?? '/verifier'));
  });

  router.get('/.well-known/openid4vp-verifier', (_req, res) => {
    const base = options.publicUrl ?? '';
    res.json({
      client_id: `decentralized_identifier:${core.did}`,
      audience: core.did,
      vp_formats_supported: {
        jwt_vp_json: { alg_values_supported: [...ALLOWED_JWT_ALGS] },
        jwt_vc_json: { alg_values_supported: [...ALLOWED_JWT_ALGS] },
      },
      response_types_supported: ['vp_token'],
      response_modes_supported: ['direct_post'],
      presentation_request_endpoint: `${base}/presentation-requests`,
      response_uri: `${base}/presentations`,
      token_renew_endpoint: `${base}/tokens/renew`,
      token_sign_out_endpoint: `${base}/tokens/sign-out`,
      verify_endpoint: `${base}/verify`,
      access_token: {
        issuer: core.tokens.did,
        typ: 'at+jwt',
        alg: core.tokens.alg,
        ttl_seconds: core.tokens.ttlSeconds,
        jwk: core.tokens.publicJwk,
      },
    });
  });

  router.use(errorHandler(log, 'verifier'));
  return router;
}
