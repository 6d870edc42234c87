import { ERROR_CODES, type ErrorShape, type Logger, TesseraError } from '@tessera/protocol';
import { formBody } from '@tessera/runtime/http';
import express, { type Request, type Response, type Router } from 'express';
import type { BudgetRefusal } from '../http/request-budget.js';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { IssuedToken } from '../core.js';
import { RESPONSE_MODES, type Oid4vpService } from './service.js';

/** The path prefix of the response endpoint, whose body is a form (OpenID4VP 1.0 §8.2). */
export const OID4VP_RESPONSE_PATH = '/oid4vp/response/';

const CreateBody = z.strictObject({
  resource: z.string().min(1).max(256),
  action: z.string().regex(/^(\*|[A-Za-z]{1,32})$/, 'must be an HTTP method or an MQTT action'),
  response_mode: z.enum(RESPONSE_MODES).optional(),
  flow: z.enum(['same-device', 'cross-device']).optional(),
  transaction_data: z.array(z.record(z.string(), z.unknown())).max(4).optional(),
});

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
  _log: Logger,
  budget: (req: Request) => BudgetRefusal | undefined = () => undefined,
): Router {
  const router = express.Router();

  router.post('/oid4vp/requests', async (req, res) => {
    if (!req.is('application/json'))
      throw new TesseraError('ERR_UNSUPPORTED_MEDIA_TYPE', 'the body must be application/json');
    const b = CreateBody.safeParse(req.body);
    if (!b.success) {
      const issues = b.error.issues.map((i) => ({
        path: i.path.map(String).join('.') || '(root)',
        message: i.message,
      }));
      throw new TesseraError(
        'ERR_VALIDATION',
        `the body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
        { details: issues },
      );
    }
    // The same per-source budget as POST /presentation-requests: each request holds a nonce and state until it lapses.
    const refused = budget(req);
    if (refused) {
      res.setHeader('retry-after', String(refused.retryAfterS));
      throw new TesseraError(refused.code, refused.message);
    }
    const r = await service.createRequest({
      resource: b.data.resource,
      action: b.data.action,
      ...(b.data.response_mode ? { responseMode: b.data.response_mode } : {}),
      ...(b.data.flow ? { flow: b.data.flow } : {}),
      ...(b.data.transaction_data ? { transactionData: b.data.transaction_data } : {}),
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
  });

  router.get('/oid4vp/requests/:id/object', async (req, res) => {
    const r = await service.requestObject(String(req.params.id));
    if (!r.ok) return sendOauthError(res, r.error);
    res.setHeader('cache-control', 'no-store');
    res.type('application/oauth-authz-req+jwt').send(r.value);
  });

  router.post(`${OID4VP_RESPONSE_PATH}:id`, formBody(), async (req, res) => {
    const r = await service.respond(String(req.params.id), req.body as Record<string, string>);
    if (!r.ok) return sendOauthError(res, r.error);
    res.setHeader('cache-control', 'no-store');
    res.json(r.value.redirectUri ? { redirect_uri: r.value.redirectUri } : {});
  });

  router.get('/oid4vp/requests/:id/result', async (req, res) => {
    const code = typeof req.query.response_code === 'string' ? req.query.response_code : '';
    const r = await service.result(String(req.params.id), code);
    res.setHeader('cache-control', 'no-store');
    if (r === undefined) {
      res.status(202).json({ status: 'pending' });
      return;
    }
    if (!r.ok) throw new TesseraError(r.error.code, r.error.message);
    res.json(tokenBody(r.value));
  });

  return router;
}
