import {
  err,
  httpError,
  type Logger,
  MAX_HTTP_BODY_BYTES,
  ok,
  type Result,
  silentLogger,
  TesseraError,
} from '@tessera/protocol';
import express, {
  type ErrorRequestHandler,
  type NextFunction,
  type Request,
  type RequestHandler,
  type Response,
  type Router,
} from 'express';
import { z } from 'zod';
import type { PolicyDecision, PolicyEngine } from '../policy/engine.js';
import type { Requirement } from '../policy/schema.js';
import { ALLOWED_JWT_ALGS, parseJwt } from '../vc/jwt.js';
import type { InMemoryStatusListProvider } from '../vc/status.js';
import type { StatusListSync } from '../vc/status-sync.js';
import type { PresentationVerifier, VerifiedCredential } from '../vc/verify.js';
import { type RequireCredentialsOptions, requireCredentials } from './guard.js';
import { verifierOpenApi } from './openapi.js';
import { DEFAULT_PRESENTATION_REQUEST_LIMITS, RequestBudget, type RequestBudgetLimits } from './request-budget.js';
import type { AccessTokens, GrantedCredential, Scope } from './tokens.js';

export interface VerifierRouterDeps {
  verifier: PresentationVerifier;
  policy: PolicyEngine;
  tokens: AccessTokens;
  /** The audience presentations must name: the verifier's DID, the same string the PresentationVerifier was built with. */
  audience: string;
  /**
   * Keeps status lists current from the issuer's change notifications (`onStatusChange`). Without it a notification
   * can only drop the named lists from `statusLists` (fail closed) and log an error.
   */
  statusSync?: Pick<StatusListSync, 'refresh'>;
  /** The lists the verifier reads; a list whose refresh failed is dropped, so its credentials fail closed. */
  statusLists?: InMemoryStatusListProvider;
  /** Absolute URL the router is mounted at (`https://host/verifier`), for the metadata's endpoint URLs. */
  publicUrl?: string;
  /**
   * What one source address may ask of the unauthenticated `POST /presentation-requests` (each stores a nonce);
   * default DEFAULT_PRESENTATION_REQUEST_LIMITS. Counted per replica.
   */
  requestLimits?: RequestBudgetLimits;
  log?: Logger;
}

/** The router, plus the guard for services and the push hook for status changes that share its state. */
export type VerifierRouter = Router & {
  /** Express middleware for services' routes; see `requireCredentials`. */
  requireCredentials(options: RequireCredentialsOptions): RequestHandler;
  /**
   * Status-list push hook (DESIGN §6): connect it to the issuer's status change events. Resolves once the lists are
   * refetched, verified and installed; presentations and guarded requests arriving meanwhile wait for it, so the first
   * one after a revocation is refused without any cache expiring.
   */
  onStatusChange(urls: readonly string[]): Promise<void>;
};

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

interface BoundRequest {
  resource: string;
  action: string;
}

/** One spelling per resource: each segment percent-decoded and re-encoded, so scopes compare as strings. */
function canonicalResource(resource: string): string | undefined {
  try {
    return resource
      .split('/')
      .map((s) => encodeURIComponent(decodeURIComponent(s)))
      .join('/');
  } catch {
    return undefined;
  }
}

/**
 * A DCQL query (OpenID4VP 1.0 §6) describing what the policy needs: one credential query per requirement, JWT VC
 * format, by type, with the claims the constraints read. Informative: the policy engine decides, not the wallet.
 */
function dcqlQuery(requirements: Requirement[]) {
  return {
    credentials: requirements.map((r, i) => ({
      id: `req${i}`,
      format: 'jwt_vc_json',
      meta: { type_values: [['VerifiableCredential', r.credentialType]] },
      ...(r.claims.length > 0
        ? { claims: r.claims.map((c) => ({ path: ['credentialSubject', ...c.claim.split('.')] })) }
        : {}),
    })),
  };
}

const granted = (vc: VerifiedCredential): GrantedCredential => ({
  types: vc.types,
  issuer: vc.issuer,
  claims: vc.claims,
  ...(vc.expiresAt === undefined ? {} : { expiresAt: vc.expiresAt }),
  status: vc.status,
});

const JSON_TYPE = /^application\/json(?:\s*;\s*charset="?utf-8"?)?$/i;
const JSON_WHITESPACE = /^[ \t\n\r]*/;

/** The error body-parser raises for a body that is not strict JSON (`httpError` maps it to ERR_JSON_MALFORMED). */
const malformedJson = () =>
  Object.assign(new SyntaxError('request body is not valid JSON'), {
    type: 'entity.parse.failed',
    status: 400,
    expose: true,
  });

/**
 * `express.json({ limit, strict: true })` for its common case, without its per-request machinery (type-is, raw-body,
 * iconv): a body of type `application/json` (no charset or UTF-8), not compressed, not chunked, with a Content-Length
 * from 1 to `limit` bytes (node's HTTP parser reads exactly that many). Everything else goes to express.json itself,
 * so the answers to other media types, charsets, encodings, empty and oversized bodies stay what they were.
 * Like express.json in strict mode: a UTF-8 BOM is dropped, only an object or an array is accepted.
 */
function jsonBody(limit: number): RequestHandler {
  const fallback = express.json({ limit, strict: true });
  return (req, res, next) => {
    const h = req.headers;
    const type = h['content-type'];
    const length = h['content-length'];
    const size = length === undefined ? Number.NaN : Number(length);
    if (
      type === undefined ||
      !JSON_TYPE.test(type) ||
      h['content-encoding'] !== undefined ||
      h['transfer-encoding'] !== undefined ||
      !(size >= 1 && size <= limit) ||
      req.body !== undefined ||
      req.readableEnded
    ) {
      fallback(req, res, next);
      return;
    }
    const chunks: Buffer[] = [];
    const done = (e?: unknown) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', done);
      next(e);
    };
    const onData = (c: Buffer) => chunks.push(c);
    const onEnd = () => {
      let text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      const first = text[JSON_WHITESPACE.exec(text)![0].length];
      if (first !== '{' && first !== '[') return done(malformedJson());
      try {
        req.body = JSON.parse(text);
      } catch {
        return done(malformedJson());
      }
      done();
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', done);
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

/**
 * The verifier's HTTP API (express 5 Router, no listen; the stack mounts it at `/verifier`):
 *
 * - `POST /presentation-requests` `{ resource, action }` → nonce, audience, expiry and what the policy needs
 * - `POST /presentations` `{ vp }` → the presentation verified for the resource and action its nonce was issued for,
 *   then an access token bound to the holder and that scope
 * - `POST /verify` `{ jwt }` → for third parties: the coded result for a VC or a VP JWT, no token
 * - `GET /.well-known/openid4vp-verifier` → metadata: formats, algorithms, endpoints, the token key
 * - `GET /openapi.json` → this API as OpenAPI 3.1
 *
 * Every refusal is `{ error: { code, message } }` with the status of the code in protocol's registry.
 */
export function buildVerifierRouter(deps: VerifierRouterDeps): VerifierRouter {
  const log = deps.log ?? silentLogger;
  const { verifier, policy, tokens, audience } = deps;

  // Status refreshes in flight: verifications wait for them so none runs on a list older than the last change.
  const pending = new Set<Promise<void>>();
  const settled = (): Promise<void> | undefined =>
    pending.size === 0 ? undefined : Promise.allSettled([...pending]).then(() => undefined);

  async function onStatusChange(urls: readonly string[]): Promise<void> {
    const sync = deps.statusSync;
    if (!sync) {
      for (const url of urls) deps.statusLists?.delete(url);
      log.error(
        { urls },
        'status change notified but the verifier router has no statusSync: lists dropped, not refreshed',
      );
      return;
    }
    const run = Promise.all(
      [...new Set(urls)].map(async (url) => {
        const r = await sync.refresh(url);
        if (!r.ok) {
          // Fail closed: a list we could not refresh may be missing a revocation; its credentials are refused with
          // ERR_VC_STATUS_UNAVAILABLE until a later notification installs it again.
          deps.statusLists?.delete(url);
          log.warn({ url, code: r.error.code, reason: r.error.message }, 'status list refresh failed');
        }
      }),
    ).then(() => undefined);
    pending.add(run);
    try {
      await run;
    } finally {
      pending.delete(run);
    }
  }

  /** Verify a presentation and evaluate it for the resource and action bound to its nonce. */
  async function present(
    vp: unknown,
  ): Promise<
    Result<{ holder: string; scope: BoundRequest; decision: PolicyDecision; credentials: VerifiedCredential[] }>
  > {
    await settled();
    const verified = await verifier.verifyPresentation(vp);
    if (!verified.ok) return verified;
    // The nonce was just consumed by the verifier (once, on every replica), and its request binding with it.
    const bound = verified.value.request;
    if (bound === undefined) return err('ERR_VP_NONCE', 'the nonce was not issued by a presentation request');
    const scope = JSON.parse(bound) as BoundRequest;
    const decision = policy.evaluate(scope, verified.value.credentials);
    if (!decision.ok) return decision;
    return ok({
      holder: verified.value.holder,
      scope,
      decision: decision.value,
      credentials: verified.value.credentials,
    });
  }

  const router = express.Router() as VerifierRouter;
  router.use(jsonBody(MAX_HTTP_BODY_BYTES));

  // Every presentation request stores a nonce until it expires: a rate and a cap per source address in front of the
  // store, and the store's own capacity behind them (ERR_CAPACITY), so no one fills it for everyone.
  const budget = new RequestBudget(deps.requestLimits ?? DEFAULT_PRESENTATION_REQUEST_LIMITS, verifier.nonceTtlMs);

  router.post('/presentation-requests', async (req, res) => {
    const { resource: raw, action: rawAction } = body(RequestBody, req);
    const resource = canonicalResource(raw);
    if (resource === undefined) throw new TesseraError('ERR_VALIDATION', 'resource has an invalid percent-encoding');
    const action = rawAction;
    // Deny by default: no request is issued for what no policy grants.
    const requirements = policy.requirementsFor(resource, action);
    if (requirements.length === 0) {
      throw new TesseraError('ERR_POLICY_DENIED', `no policy grants ${action} on ${resource}`, {
        details: { reason: 'no-policy' },
      });
    }
    const refused = budget.take(req.ip ?? req.socket.remoteAddress ?? 'unknown');
    if (refused) {
      res.setHeader('retry-after', String(refused.retryAfterS));
      throw new TesseraError(refused.code, refused.message);
    }
    let request: Awaited<ReturnType<PresentationVerifier['createRequest']>>;
    try {
      request = await verifier.createRequest(JSON.stringify({ resource, action }));
    } catch (e) {
      if (e instanceof TesseraError && e.code === 'ERR_CAPACITY') {
        const d = e.details as { retryAfterS?: unknown } | undefined;
        res.setHeader('retry-after', String(typeof d?.retryAfterS === 'number' ? d.retryAfterS : 30));
      }
      throw e;
    }
    sendJson(res, 201, {
      nonce: request.nonce,
      audience: request.audience,
      expiresAt: request.expiresAt,
      resource,
      action,
      requirements,
      // The same request in OpenID4VP 1.0 terms (§5): a vp_token over direct_post to the presentations endpoint.
      openid4vp: {
        response_type: 'vp_token',
        response_mode: 'direct_post',
        client_id: `decentralized_identifier:${audience}`,
        nonce: request.nonce,
        ...(deps.publicUrl ? { response_uri: `${deps.publicUrl}/presentations` } : {}),
        dcql_query: dcqlQuery(requirements),
      },
    });
  });

  router.post('/presentations', async (req, res) => {
    const { vp } = presentationBody(req);
    const r = await present(vp);
    if (!r.ok) throw fail(r.error);
    const scopes: Scope[] = [{ resource: r.value.scope.resource, action: r.value.scope.action.toUpperCase() }];
    const used = [...new Set(r.value.decision.satisfiedBy.map((s) => s.credential))].map((i) =>
      granted(r.value.credentials[i]!),
    );
    const { token, grant } = await tokens.issueAsync(r.value.holder, scopes, used);
    sendJson(
      res,
      200,
      {
        access_token: token,
        token_type: 'Bearer',
        expires_in: grant.expiresAt - grant.issuedAt,
        holder: grant.holder,
        scopes,
        policies: r.value.decision.policies,
      },
      { 'Cache-Control': 'no-store' }, // RFC 6749 §5.1
    );
  });

  router.post('/verify', async (req, res) => {
    const { jwt } = body(VerifyBody, req);
    const parsed = parseJwt(jwt);
    if (!parsed.ok) throw fail(parsed.error);
    if (parsed.value.payload.vp !== undefined) {
      const r = await present(jwt);
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
    await settled();
    const r = await verifier.verifyCredential(jwt);
    if (!r.ok) throw fail(r.error);
    sendJson(res, 200, { verified: true, kind: 'credential', subject: r.value.subject, ...granted(r.value) });
  });

  router.get('/openapi.json', (_req, res) => {
    res.json(verifierOpenApi(deps.publicUrl ?? '/verifier'));
  });

  router.get('/.well-known/openid4vp-verifier', (_req, res) => {
    const base = deps.publicUrl ?? '';
    res.json({
      client_id: `decentralized_identifier:${audience}`,
      audience,
      vp_formats_supported: {
        jwt_vp_json: { alg_values_supported: [...ALLOWED_JWT_ALGS] },
        jwt_vc_json: { alg_values_supported: [...ALLOWED_JWT_ALGS] },
      },
      response_types_supported: ['vp_token'],
      response_modes_supported: ['direct_post'],
      presentation_request_endpoint: `${base}/presentation-requests`,
      response_uri: `${base}/presentations`,
      verify_endpoint: `${base}/verify`,
      access_token: {
        issuer: tokens.did,
        typ: 'at+jwt',
        alg: tokens.alg,
        ttl_seconds: tokens.ttlSeconds,
        jwk: tokens.publicJwk,
      },
    });
  });

  const onError: ErrorRequestHandler = (e, req, res, _next: NextFunction) => {
    const mapped = httpError(e);
    if (mapped.internal) log.error({ err: e, method: req.method, path: req.path }, 'unhandled error in verifier route');
    res.status(mapped.status).json(mapped.body);
  };
  router.use(onError);

  router.requireCredentials = (options) =>
    requireCredentials({ tokens, ...(deps.statusLists ? { statusLists: deps.statusLists } : {}), settled }, options);
  router.onStatusChange = onStatusChange;
  return router;
}
