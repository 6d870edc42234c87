import {
  type Logger,
  PRESENTATION_ERRORS,
  type Requirement,
  RequirementSchema,
  requirementTypes,
  silentLogger,
  TesseraError,
} from '@tessera/protocol';
import { attachOpenApi, BODY_ERRORS, errorHandler, HttpApi, jsonBody } from '@tessera/runtime/http';
import express, { type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { Verifier } from '../core.js';
import { ALLOWED_JWT_ALGS, parseJwt } from '../vc/jwt.js';
import type { VerifiedCredential } from '../vc/verify.js';
import { OID4VP_RESPONSE_PATH, oid4vpRoutes, TokenAnswer } from '../oid4vp/routes.js';
import type { Oid4vpService } from '../oid4vp/service.js';
import { DEFAULT_PRESENTATION_REQUEST_LIMITS, RequestBudget, type RequestBudgetLimits } from './request-budget.js';
import type { GrantedCredential } from './tokens.js';

/** The verifier's HTTP API, as an express Router (the stack mounts it at `/verifier`). */
export type VerifierRouter = Router;

export interface VerifierRouterOptions {
  /** The OpenID4VP endpoints (`createOid4vpService`), mounted at `/oid4vp`. */
  oid4vp?: Oid4vpService;
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
const JWT_MAX = 16384;
const jwtString = z.unknown().meta({
  type: 'string',
  maxLength: JWT_MAX,
  description: 'A compact JWS (JWT VC or VP); its form is checked with a coded refusal (ERR_JWT_*)',
});
const RequestBody = z
  .strictObject({
    resource: z
      .string()
      .min(1)
      .max(RESOURCE_MAX)
      .meta({ examples: ['/energy/meters/DE0001/orders'] }),
    action: z
      .string()
      .regex(/^(\*|[A-Za-z]{1,32})$/, 'must be an HTTP method or an MQTT action')
      .meta({ examples: ['POST'] }),
  })
  .meta({ id: 'PresentationRequestBody' });
/** `vp_token` is OpenID4VP's name for the same field (OpenID4VP §8.1, a single JWT VP). */
const PresentationBody = z
  .union([
    z.strictObject({ vp: jwtString }),
    z.strictObject({ vp_token: jwtString }).transform((b) => ({ vp: b.vp_token })),
  ])
  .meta({ id: 'PresentationBody' });
const VerifyBody = z
  .union([
    z.strictObject({ jwt: jwtString }),
    z.strictObject({ vp: jwtString }).transform((b) => ({ jwt: b.vp })),
    z.strictObject({ vc: jwtString }).transform((b) => ({ jwt: b.vc })),
  ])
  .meta({ id: 'VerifyBody' });

const RequirementDoc = RequirementSchema.meta({
  id: 'Requirement',
  description: 'What one credential of the presentation must be (a policy requirement)',
});
const PresentationRequest = z
  .object({
    nonce: z.string(),
    audience: z.string().meta({ description: "The verifier's DID: the presentation's aud" }),
    expiresAt: z.number().int().meta({ description: 'Seconds since the epoch' }),
    resource: z.string(),
    action: z.string(),
    requirements: z.array(RequirementDoc),
    openid4vp: z
      .record(z.string(), z.unknown())
      .meta({ description: 'The same request in OpenID4VP 1.0 terms, with a DCQL query' }),
  })
  .meta({ id: 'PresentationRequest' });
const GrantedCredentialSchema = z.object({
  types: z.array(z.string()),
  issuer: z.string(),
  claims: z.record(z.string(), z.unknown()),
  expiresAt: z.number().int().optional(),
  status: z.unknown(),
});
const Verified = z
  .object({
    verified: z.literal(true),
    kind: z.enum(['credential', 'presentation']),
    subject: z.string().optional().meta({ description: 'credential: its subject' }),
    holder: z.string().optional().meta({ description: 'presentation: its holder' }),
    resource: z.string().optional(),
    action: z.string().optional(),
    policies: z.array(z.string()).optional(),
    credentials: z.array(GrantedCredentialSchema).optional(),
    types: z.array(z.string()).optional(),
    issuer: z.string().optional(),
    claims: z.record(z.string(), z.unknown()).optional(),
    expiresAt: z.number().int().optional(),
    status: z.unknown().optional(),
  })
  .meta({
    id: 'Verified',
    description:
      'kind credential: subject, types, issuer, claims, status; kind presentation: holder, scope, credentials',
  });

const TOKEN_ERRORS = ['ERR_AUTH_REQUIRED', 'ERR_AUTH_INVALID', 'ERR_AUTH_EXPIRED', 'ERR_AUTH_REPLAYED'] as const;

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

/** The two well-formed shapes of PresentationBody without zod (the hot path); the schema words any other. */
function presentationBody(req: Request): { vp: unknown } | undefined {
  const b: unknown = req.body;
  if (typeof b === 'object' && b !== null && !Array.isArray(b)) {
    const keys = Object.keys(b);
    if (keys.length === 1 && keys[0] === 'vp') return { vp: (b as { vp: unknown }).vp };
    if (keys.length === 1 && keys[0] === 'vp_token') return { vp: (b as { vp_token: unknown }).vp_token };
  }
  return undefined;
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
  const api = new HttpApi({
    title: 'Tessera verifier',
    description:
      'Presentation requests, presentations exchanged for short-lived access tokens bound to the holder and the ' +
      'granted scope, and verification of credentials and presentations for third parties. Every refusal is ' +
      '{ error: { code, message } } with a stable code (docs/errors.md).',
    bearerDescription: 'An access token from POST /presentations',
  });
  router.use(jsonBody({ skip: (req) => req.path.startsWith(OID4VP_RESPONSE_PATH) }));

  // Every presentation request stores a nonce until it expires, and asking needs no login: a rate and a cap per
  // source address in front of the store, and the store's own capacity behind them (ERR_CAPACITY), so no one fills it
  // for everyone. OpenID4VP requests draw on the same budget.
  const budget = new RequestBudget(
    options.requestLimits ?? DEFAULT_PRESENTATION_REQUEST_LIMITS,
    core.checks.nonceTtlMs,
  );
  if (options.oid4vp) {
    router.use(
      oid4vpRoutes(options.oid4vp, api, log, (req) => budget.take(req.ip ?? req.socket.remoteAddress ?? 'unknown')),
    );
  }

  api.route(
    router,
    {
      method: 'post',
      path: '/presentation-requests',
      summary: 'Ask for a presentation request for a resource and action',
      description:
        "The resource is a concrete one, or a sign-in scope (a policy's own pattern such as `/issuer/**`). Asking needs no login: a rate and a cap per source address (ERR_RATE_LIMITED) and the nonce store's capacity (ERR_CAPACITY) bound it.",
      body: RequestBody,
      responses: {
        201: {
          description: 'A single-use nonce bound to the resource and action, and what the policy needs',
          schema: PresentationRequest,
        },
      },
      errors: ['ERR_POLICY_DENIED', 'ERR_RATE_LIMITED', 'ERR_CAPACITY', ...BODY_ERRORS],
    },
    async ({ body: { resource, action } }, req, res) => {
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
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: '/presentations',
      summary: 'Present credentials for the requested resource and action; get an access token',
      description:
        'The presentation is verified for the resource and action its nonce was issued for; the token is bound to the holder and that scope.',
      body: PresentationBody,
      fastBody: presentationBody,
      responses: { 200: { description: 'Granted', schema: TokenAnswer } },
      errors: [...PRESENTATION_ERRORS, ...BODY_ERRORS],
    },
    async ({ body: { vp } }, _req, res) => {
      const r = await core.exchange(vp);
      if (!r.ok) throw fail(r.error);
      sendToken(res, r.value.token, r.value.grant, r.value.policies);
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: '/tokens/renew',
      summary: "A fresh token for a live one, up to the session's maximum age",
      bearer: true,
      responses: { 200: { description: 'Renewed', schema: TokenAnswer } },
      errors: [...TOKEN_ERRORS],
    },
    async (_input, req, res) => {
      const r = await core.renew(bearer(req));
      if (!r.ok) throw fail(r.error);
      sendToken(res, r.value.token, r.value.grant, r.value.policies);
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: '/tokens/sign-out',
      summary: 'Sign out: the token is refused everywhere from now on',
      bearer: true,
      responses: { 204: { description: 'Signed out' } },
      errors: [...TOKEN_ERRORS],
    },
    async (_input, req, res) => {
      const r = await core.signOut(bearer(req));
      if (!r.ok) throw fail(r.error);
      res.status(204).end();
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: '/verify',
      summary: 'Verify a credential or a presentation (third parties; no token)',
      body: VerifyBody,
      responses: { 200: { description: 'Verified', schema: Verified } },
      errors: [...PRESENTATION_ERRORS, ...BODY_ERRORS],
    },
    async ({ body: { jwt } }, _req, res) => {
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
    },
  );

  const document = (serverUrl: string) => api.openapi(serverUrl);
  attachOpenApi(router, document);
  api.route(
    router,
    { method: 'get', path: '/openapi.json', summary: 'This API as OpenAPI 3.1', responses: {}, hidden: true },
    (_input, _req, res) => {
      res.json(document(options.publicUrl ?? '/verifier'));
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: '/.well-known/openid4vp-verifier',
      summary: 'Verifier metadata: formats, algorithms, endpoints, the access token key',
      responses: { 200: { description: 'Metadata', schema: { type: 'object' } } },
    },
    (_input, _req, res) => {
      const base = options.publicUrl ?? '';
      res.json({
        client_id: `decentralized_identifier:${core.did}`,
        audience: core.did,
        vp_formats_supported: {
          jwt_vp_json: { alg_values_supported: [...ALLOWED_JWT_ALGS] },
          jwt_vc_json: { alg_values_supported: [...ALLOWED_JWT_ALGS] },
          'dc+sd-jwt': {
            'sd-jwt_alg_values': [...ALLOWED_JWT_ALGS],
            'kb-jwt_alg_values': [...ALLOWED_JWT_ALGS, 'ES256'],
          },
        },
        response_types_supported: ['vp_token'],
        response_modes_supported: options.oid4vp ? ['direct_post', 'direct_post.jwt'] : ['direct_post'],
        ...(options.oid4vp ? { request_endpoint: `${base}/oid4vp/requests` } : {}),
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
    },
  );

  router.use(errorHandler(log, 'verifier'));
  return router;
}
