import { ERROR_CODES, type ErrorCode } from '@tessera/protocol';

const json = (schema: unknown) => ({ 'application/json': { schema } });
/** One response per status, listing the codes that map to it and that the endpoint can return. */
const errors = (...codes: ErrorCode[]) => {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const c of codes) byStatus.set(ERROR_CODES[c].status, [...(byStatus.get(ERROR_CODES[c].status) ?? []), c]);
  return Object.fromEntries(
    [...byStatus].map(([status, list]) => [
      String(status),
      { description: list.join(', '), content: json({ $ref: '#/components/schemas/Error' }) },
    ]),
  );
};
const BODY_ERRORS: ErrorCode[] = [
  'ERR_JSON_MALFORMED',
  'ERR_BODY_TOO_LARGE',
  'ERR_UNSUPPORTED_MEDIA_TYPE',
  'ERR_VALIDATION',
];
const PRESENTATION_ERRORS: ErrorCode[] = [
  'ERR_JWT_MALFORMED',
  'ERR_JWT_TOO_LARGE',
  'ERR_JWT_ALG_UNSUPPORTED',
  'ERR_JWT_SIGNATURE',
  'ERR_VP_MALFORMED',
  'ERR_VP_NO_CREDENTIAL',
  'ERR_VP_NONCE',
  'ERR_VP_AUDIENCE',
  'ERR_VP_EXPIRED',
  'ERR_VP_NOT_YET_VALID',
  'ERR_VC_MALFORMED',
  'ERR_VC_EXPIRED',
  'ERR_VC_NOT_YET_VALID',
  'ERR_VC_REVOKED',
  'ERR_VC_SUSPENDED',
  'ERR_VC_STATUS_UNAVAILABLE',
  'ERR_VC_UNTRUSTED_ISSUER',
  'ERR_VC_SUBJECT_MISMATCH',
  'ERR_DID_NOT_FOUND',
  'ERR_DID_RESOLUTION_FAILED',
  'ERR_POLICY_DENIED',
];
const jwtString = { type: 'string', maxLength: 16384, description: 'A compact JWS (JWT VC or VP)' };

/** The verifier's HTTP API as OpenAPI 3.1 served at `GET /openapi.json`. */
export function verifierOpenApi(serverUrl: string, o: { oid4vp?: boolean } = {}) {
  // The OpenID4VP endpoints exist when the core has a public URL for its request objects (createOid4vpService).
  const oid4vpPaths = {
    '/oid4vp/requests': {
      post: {
        summary:
          'OpenID4VP 1.0: create a signed request for { resource, action, response_mode?, flow?, transaction_data? }; answers the openid4vp:// request (and its QR code), the result URI and the transaction secret',
        responses: {
          '201': { description: 'Created', content: json({ type: 'object' }) },
          ...errors('ERR_POLICY_DENIED', 'ERR_VALIDATION'),
        },
      },
    },
    '/oid4vp/requests/{id}/object': {
      get: {
        summary: 'The signed request object (application/oauth-authz-req+jwt), once',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '200': { description: 'JWS' }, ...errors('ERR_OID4VP_REQUEST_UNKNOWN') },
      },
    },
    '/oid4vp/response/{id}': {
      post: {
        summary:
          'Response endpoint (form): vp_token (JSON keyed by query id) and state for direct_post, or response (JWE, ECDH-ES) for direct_post.jwt',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: {
          '200': { description: '{ redirect_uri? } (same-device)', content: json({ type: 'object' }) },
          '400': { description: 'OAuth-style error with error_code' },
        },
      },
    },
    '/oid4vp/requests/{id}/result': {
      get: {
        summary:
          'The access token for the initiator (response_code = transaction secret or redirect code), once; 202 while unanswered',
        parameters: [
          { name: 'id', in: 'path', required: true, schema: { type: 'string' } },
          { name: 'response_code', in: 'query', required: true, schema: { type: 'string' } },
        ],
        responses: { '200': { description: 'Access token' }, '202': { description: 'Pending' } },
      },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera verifier',
      version: '0.1.0',
      description:
        'Presentation requests, presentations exchanged for short-lived access tokens bound to the holder and the ' +
        'granted scope, and verification of credentials and presentations for third parties. Every refusal is ' +
        '{ error: { code, message } } with a stable code (docs/errors.md).',
    },
    servers: [{ url: serverUrl }],
    components: {
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
        Requirement: {
          type: 'object',
          properties: {
            credentialType: { type: 'string' },
            trustedIssuer: { type: 'boolean' },
            issuers: { type: 'array', items: { type: 'string' } },
            notExpired: { type: 'boolean' },
            claims: { type: 'array', items: { type: 'object' } },
          },
        },
        Scope: {
          type: 'object',
          required: ['resource', 'action'],
          properties: { resource: { type: 'string' }, action: { type: 'string' } },
        },
      },
    },
    paths: {
      '/presentation-requests': {
        post: {
          summary: 'Ask for a presentation request for a resource and action',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              additionalProperties: false,
              required: ['resource', 'action'],
              properties: {
                resource: { type: 'string', maxLength: 256, examples: ['/energy/meters/DE0001/orders'] },
                action: { type: 'string', pattern: '^(\\*|[A-Za-z]{1,32})$', examples: ['POST'] },
              },
            }),
          },
          responses: {
            '201': {
              description: 'A single-use nonce bound to the resource and action, and what the policy needs',
              content: json({
                type: 'object',
                properties: {
                  nonce: { type: 'string' },
                  audience: { type: 'string', description: "The verifier's DID: the presentation's aud" },
                  expiresAt: { type: 'integer', description: 'Seconds since the epoch' },
                  resource: { type: 'string' },
                  action: { type: 'string' },
                  requirements: { type: 'array', items: { $ref: '#/components/schemas/Requirement' } },
                  openid4vp: {
                    type: 'object',
                    description: 'The same request in OpenID4VP 1.0 terms, with a DCQL query',
                  },
                },
              }),
            },
            ...errors('ERR_POLICY_DENIED', 'ERR_RATE_LIMITED', 'ERR_CAPACITY', ...BODY_ERRORS),
          },
        },
      },
      '/presentations': {
        post: {
          summary: 'Present credentials for the requested resource and action; get an access token',
          requestBody: {
            required: true,
            content: json({
              oneOf: [
                { type: 'object', additionalProperties: false, required: ['vp'], properties: { vp: jwtString } },
                {
                  type: 'object',
                  additionalProperties: false,
                  required: ['vp_token'],
                  properties: { vp_token: jwtString },
                },
              ],
            }),
          },
          responses: {
            '200': {
              description: 'Granted',
              content: json({
                type: 'object',
                properties: {
                  access_token: { type: 'string', description: 'RFC 9068 JWT (typ at+jwt)' },
                  token_type: { const: 'Bearer' },
                  expires_in: { type: 'integer' },
                  holder: { type: 'string' },
                  scopes: { type: 'array', items: { $ref: '#/components/schemas/Scope' } },
                  policies: { type: 'array', items: { type: 'string' } },
                },
              }),
            },
            ...errors(...PRESENTATION_ERRORS, ...BODY_ERRORS),
          },
        },
      },
      '/verify': {
        post: {
          summary: 'Verify a credential or a presentation (third parties; no token)',
          requestBody: {
            required: true,
            content: json({
              oneOf: ['jwt', 'vp', 'vc'].map((k) => ({
                type: 'object',
                additionalProperties: false,
                required: [k],
                properties: { [k]: jwtString },
              })),
            }),
          },
          responses: {
            '200': {
              description: 'Verified: kind credential (subject, types, issuer, claims, status) or presentation',
              content: json({ type: 'object', properties: { verified: { const: true }, kind: { type: 'string' } } }),
            },
            ...errors(...PRESENTATION_ERRORS, ...BODY_ERRORS),
          },
        },
      },
      ...(o.oid4vp ? oid4vpPaths : {}),
      '/.well-known/openid4vp-verifier': {
        get: {
          summary: 'Verifier metadata: formats, algorithms, endpoints, the access token key',
          responses: { '200': { description: 'Metadata', content: json({ type: 'object' }) } },
        },
      },
    },
  };
}
