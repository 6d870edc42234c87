import { ERROR_CODES, type ErrorShape, type Logger, PRESENTATION_ERRORS, TesseraError } from '@tessera/protocol';
import { formBody, type HttpApi } from '@tessera/runtime/http';
import express, { type Request, type Response, type Router } from 'express';
import type { BudgetRefusal } from '../http/request-budget.js';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { IssuedToken } from '../core.js';
import { RESPONSE_MODES, type Oid4vpService } from './service.js';

/** The path prefix of the response endpoint, whose body is a form (OpenID4VP 1.0 §8.2). */
export const OID4VP_RESPONSE_PATH = '/oid4vp/response/';

const CreateBody = z
  .strictObject({
    resource: z.string().min(1).max(256),
    action: z.string().regex(/^(\*|[A-Za-z]{1,32})$/, 'must be an HTTP method or an MQTT action'),
    response_mode: z.enum(RESPONSE_MODES).optional(),
    flow: z.enum(['same-device', 'cross-device']).optional(),
    transaction_data: z.array(z.record(z.string(), z.unknown())).max(4).optional(),
  })
  .meta({ id: 'Oid4vpRequestBody' });
const Created = z
  .object({
    id: z.string(),
    client_id: z.string().meta({ description: 'The verifier, as the wallet sees it (decentralized_identifier:…)' }),
    request_uri: z.string().meta({ description: 'Where the wallet fetches the signed request object, once' }),
    authorization_request: z.string().meta({ description: 'The openid4vp:// request by reference' }),
    response_mode: z.enum(RESPONSE_MODES),
    result_uri: z.string().meta({
      description: 'Where the initiator collects the access token (GET, with response_code = transaction_secret)',
    }),
    transaction_secret: z
      .string()
      .meta({ description: "The initiator's secret for result_uri; never give it to the wallet" }),
    expires_at: z.number().int().meta({ description: 'When the request lapses (seconds since the epoch)' }),
    dcql_query: z.record(z.string(), z.unknown()).meta({ description: 'The DCQL query the request carries' }),
    qr_svg: z.string().meta({ description: 'The same as a QR code (SVG)' }),
  })
  .meta({ id: 'Oid4vpRequest', description: 'The request, its QR code, the result URI and the transaction secret' });
const IdParam = z.object({ id: z.string() });
/** The response endpoint's form (OpenID4VP 1.0 §8.2 direct_post, §8.3.1 direct_post.jwt). */
const ResponseForm = z
  .object({
    vp_token: z.string().optional().meta({ description: 'direct_post: JSON keyed by the DCQL query id' }),
    state: z.string().optional(),
    response: z.string().optional().meta({ description: 'direct_post.jwt: the answer as a JWE (ECDH-ES)' }),
  })
  .meta({ id: 'Oid4vpResponseForm' });
const OauthError = z
  .object({ error: z.string(), error_description: z.string(), error_code: z.string() })
  .meta({ id: 'OAuthError', description: "An OAuth-style refusal that also carries Tessera's code (error_code)" });

/** The access token answer of the verifier (POST /presentations, /tokens/renew, an OpenID4VP result). */
export const TokenAnswer = z
  .object({
    access_token: z.string().meta({ description: 'RFC 9068 JWT (typ at+jwt)' }),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int(),
    holder: z.string(),
    scopes: z.array(z.object({ resource: z.string(), action: z.string() })),
    policies: z.array(z.string()),
  })
  .meta({ id: 'AccessToken' });

const tokenBody = (t: IssuedToken) => ({
  access_token: t.token,
  token_type: 'Bearer',
  expires_in: t.grant.expiresAt - t.grant.issuedAt,
  holder: t.grant.holder,
  scopes: t.grant.scopes,
  policies: t.policies,
});

/** An OAuth-style refusal (`error`, `error_description`) that also carries Tessera's code (`error_code`). */
function sendOauthError(res: Response, e: ErrorShape): void {
  const status = ERROR_CODES[e.code].status;
  res.setHeader('cache-control', 'no-store');
  res.status(status).json({
    error:
      status >= 500 ? 'server_error' : e.code === 'ERR_OID4VP_REQUEST_UNKNOWN' ? 'invalid_request' : 'access_denied',
    error_description: e.message,
    error_code: e.code,
  });
}

/**
 * The OpenID4VP 1.0 endpoints of the verifier (in its router, so at `/verifier/oid4vp/...` in the stack):
 *
 * - `POST /oid4vp/requests` `{ resource, action, response_mode?, flow?, transaction_data? }` → the request by
 *   reference (`openid4vp://` URI and its QR code), the result URI and the initiator's transaction secret
 * - `GET /oid4vp/requests/:id/object` → the signed request object (`application/oauth-authz-req+jwt`), once
 * - `POST /oid4vp/response/:id` (form: `vp_token` and `state`, or `response` = JWE) → `{ redirect_uri? }`
 * - `GET /oid4vp/requests/:id/result?response_code=…` → the access token (200, once), 202 while unanswered
 */
export function oid4vpRoutes(
  service: Oid4vpService,
  api: HttpApi,
  _log: Logger,
  budget: (req: Request) => BudgetRefusal | undefined = () => undefined,
): Router {
  const router = express.Router();

  api.route(
    router,
    {
      method: 'post',
      path: '/oid4vp/requests',
      summary: 'OpenID4VP 1.0: create a signed request for a resource and action',
      description:
        'Answers the openid4vp:// request (and its QR code), the result URI and the transaction secret. Draws on the same per-source budget as POST /presentation-requests.',
      body: CreateBody,
      responses: { 201: { description: 'Created', schema: Created } },
      errors: ['ERR_POLICY_DENIED', 'ERR_RATE_LIMITED', 'ERR_CAPACITY', 'ERR_VALIDATION', 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    },
    async ({ body }, req, res) => {
      // The same per-source budget as POST /presentation-requests: each request holds a nonce and state until it lapses.
      const refused = budget(req);
      if (refused) {
        res.setHeader('retry-after', String(refused.retryAfterS));
        throw new TesseraError(refused.code, refused.message);
      }
      const r = await service.createRequest({
        resource: body.resource,
        action: body.action,
        ...(body.response_mode ? { responseMode: body.response_mode } : {}),
        ...(body.flow ? { flow: body.flow } : {}),
        ...(body.transaction_data ? { transactionData: body.transaction_data } : {}),
      });
      if (!r.ok)
        throw new TesseraError(
          r.error.code,
          r.error.message,
          r.error.details === undefined ? undefined : { details: r.error.details },
        );
      const qr = await QRCode.toString(r.value.authorization_request, { type: 'svg', errorCorrectionLevel: 'M' });
      res.setHeader('cache-control', 'no-store');
      res.status(201).json({ ...r.value, qr_svg: qr });
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: '/oid4vp/requests/{id}/object',
      summary: 'The signed request object, once',
      params: IdParam,
      responses: {
        200: { description: 'JWS', mediaType: 'application/oauth-authz-req+jwt', schema: { type: 'string' } },
        404: { description: 'ERR_OID4VP_REQUEST_UNKNOWN', schema: OauthError },
      },
    },
    async ({ params }, _req, res) => {
      const r = await service.requestObject(params.id);
      if (!r.ok) return sendOauthError(res, r.error);
      res.setHeader('cache-control', 'no-store');
      res.type('application/oauth-authz-req+jwt').send(r.value);
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: `${OID4VP_RESPONSE_PATH}{id}`,
      summary: 'Response endpoint: vp_token and state (direct_post), or response (direct_post.jwt)',
      params: IdParam,
      otherBody: { mediaType: 'application/x-www-form-urlencoded', schema: ResponseForm },
      responses: {
        200: {
          description: 'Accepted; redirect_uri for a same-device flow',
          schema: z.object({ redirect_uri: z.string().optional() }),
        },
        400: { description: 'An OAuth-style refusal with error_code', schema: OauthError },
      },
    },
    formBody(),
    async ({ params }, req, res) => {
      const r = await service.respond(params.id, req.body as Record<string, string>);
      if (!r.ok) return sendOauthError(res, r.error);
      res.setHeader('cache-control', 'no-store');
      res.json(r.value.redirectUri ? { redirect_uri: r.value.redirectUri } : {});
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: '/oid4vp/requests/{id}/result',
      summary: 'The access token for the initiator, once; 202 while unanswered',
      params: IdParam,
      query: z.object({
        response_code: z
          .unknown()
          .meta({ type: 'string', description: "The transaction secret, or the redirect's response code" }),
      }),
      responses: {
        200: { description: 'The access token', schema: TokenAnswer },
        202: { description: 'Pending', schema: z.object({ status: z.literal('pending') }) },
      },
      // the wallet's answer, relayed: refused as its presentation was
      errors: [
        'ERR_OID4VP_REQUEST_UNKNOWN',
        'ERR_OID4VP_RESPONSE_MALFORMED',
        'ERR_OID4VP_QUERY_MISMATCH',
        ...PRESENTATION_ERRORS,
        'ERR_UNAVAILABLE',
      ],
    },
    async ({ params }, req, res) => {
      const code = typeof req.query.response_code === 'string' ? req.query.response_code : '';
      const r = await service.result(params.id, code);
      res.setHeader('cache-control', 'no-store');
      if (r === undefined) {
        res.status(202).json({ status: 'pending' });
        return;
      }
      if (!r.ok) throw new TesseraError(r.error.code, r.error.message);
      res.json(tokenBody(r.value));
    },
  );

  return router;
}
