import { CREDENTIAL_TYPE_NAMES, CREDENTIAL_TYPES, DID_PATTERN, ERROR_CODES, MAX_DEVICE_BATCH } from '@tessera/protocol';
import { z } from 'zod';
import { PartyInput } from '../parties.js';

const json = (schema: unknown) => ({ 'application/json': { schema } });
const errorResponse = (description: string) => ({ description, content: json({ $ref: '#/components/schemas/Error' }) });
const errors = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((s) => [
      String(s),
      errorResponse(
        Object.entries(ERROR_CODES)
          .filter(([, v]) => v.status === s)
          .map(([k]) => k)
          .join(', '),
      ),
    ]),
  );
const secured = [{ bearer: [] }];
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const deviceIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  schema: { type: 'string', pattern: '^0x[0-9a-fA-F]{64}$' },
  description: 'device id (DeviceRegistry key)',
};
const deviceView = {
  description: 'The device after the change',
  content: json({ $ref: '#/components/schemas/Device' }),
};

/** The device lifecycle (http/devices.ts). The chain is written by the stack's relayer through the outbox. */
function devicePaths() {
  const action = (summary: string) => ({
    post: {
      summary,
      security: secured,
      parameters: [deviceIdParam],
      responses: { '200': deviceView, ...errors(400, 401, 403, 404, 409, 502) },
    },
  });
  return {
    '/devices/batches': {
      post: {
        summary: `Register up to ${MAX_DEVICE_BATCH} devices as one Merkle batch, one transaction (Manufacturer). Each secret is in this answer only.`,
        security: secured,
        requestBody: { required: true, content: json({ $ref: '#/components/schemas/DeviceBatchRequest' }) },
        responses: {
          '201': {
            description: 'The batch; each device with its provisioning file (secret in clear), salt and proof',
            content: json({ $ref: '#/components/schemas/DeviceBatch' }),
          },
          ...errors(400, 401, 403, 409, 413, 422, 502),
        },
      },
    },
    '/devices/{id}': {
      get: {
        summary:
          'A device and its on-chain state (its manufacturer, its owner, an Operator or an Admin); never its secret',
        security: secured,
        parameters: [deviceIdParam],
        responses: { '200': { ...deviceView, description: 'The device' }, ...errors(400, 401, 403, 404) },
      },
    },
    '/devices/{id}/commission': {
      post: {
        summary:
          "Bind the device's DID key and activate it (DeviceOwner: a DeviceOwnerCredential whose `device` is that DID; the device's assigned owner if one was named at registration)",
        security: secured,
        parameters: [deviceIdParam],
        requestBody: {
          required: true,
          content: json({
            type: 'object',
            required: ['identity'],
            properties: { identity: { type: 'string', description: 'did:ethr of the device key, or its address' } },
          }),
        },
        responses: { '200': deviceView, ...errors(400, 401, 403, 404, 409, 422, 502) },
      },
    },
    '/devices/{id}/suspend': action('Suspend an active device; its live sessions are dropped (Operator)'),
    '/devices/{id}/resume': action('Resume a suspended device (Operator)'),
    '/devices/{id}/revoke': action('Revoke a device for good; its live sessions are dropped (Operator)'),
    '/devices/{id}/decommission': action('Take a device out of service for good (its owner, or an Operator)'),
  };
}

/** The issuer's HTTP API, OpenAPI 3.1. Claim schemas are generated from the protocol's zod schemas. */
export function issuerOpenApi(serverUrl: string) {
  const claimSchemas = Object.fromEntries(
    CREDENTIAL_TYPE_NAMES.map((t) => {
      const { $schema: _ignored, ...schema } = z.toJSONSchema(CREDENTIAL_TYPES[t].claims, { unrepresentable: 'any' });
      return [`${t}Claims`, schema];
    }),
  );
  const statusChange = (verb: string) => ({
    post: {
      summary: `${verb} a credential (Operator)`,
      security: secured,
      parameters: [idParam],
      requestBody: { required: false, content: json({ type: 'object', properties: { reason: { type: 'string' } } }) },
      responses: {
        '200': {
          description: 'The credential after the change',
          content: json({ $ref: '#/components/schemas/StatusChange' }),
        },
        ...errors(401, 403, 404, 409),
      },
    },
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera issuer',
      version: '0.1.0',
      description:
        'Issue, list, suspend, resume and revoke W3C Verifiable Credentials (JWT, VC Data Model 1.1) with W3C Bitstring ' +
        'Status Lists, and read the hash-chained audit trail. Admins and operators authenticate by presenting their ' +
        'role credential over a server nonce (POST /auth/challenge, then POST /auth/token).',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'Access token from POST /auth/token' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: {
                code: { type: 'string', enum: Object.keys(ERROR_CODES) },
                message: { type: 'string' },
                details: {},
              },
            },
          },
        },
        // One variant per credential type: its claims schema and its longest validity, chosen by `type`.
        IssueRequest: {
          oneOf: CREDENTIAL_TYPE_NAMES.map((t) => ({ $ref: `#/components/schemas/IssueRequest${t}` })),
          discriminator: {
            propertyName: 'type',
            mapping: Object.fromEntries(CREDENTIAL_TYPE_NAMES.map((t) => [t, `#/components/schemas/IssueRequest${t}`])),
          },
        },
        ...Object.fromEntries(
          CREDENTIAL_TYPE_NAMES.map((t) => [
            `IssueRequest${t}`,
            {
              type: 'object',
              required: ['type', 'subject', 'claims'],
              additionalProperties: false,
              properties: {
                type: { type: 'string', const: t },
                subject: {
                  type: 'string',
                  maxLength: 512,
                  pattern: DID_PATTERN,
                  description: 'DID of the holder, without path, query or fragment',
                  examples: ['did:ethr:0x7a69:0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'],
                },
                claims: { $ref: `#/components/schemas/${t}Claims` },
                validitySeconds: {
                  type: 'integer',
                  minimum: 1,
                  maximum: CREDENTIAL_TYPES[t].maxValiditySeconds,
                  description: `seconds; default ${CREDENTIAL_TYPES[t].defaultValiditySeconds}`,
                },
              },
            },
          ]),
        ),
        Credential: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            type: { type: 'string', enum: CREDENTIAL_TYPE_NAMES },
            subject: { type: 'string' },
            issuer: { type: 'string' },
            status: { type: 'string', enum: ['active', 'suspended', 'revoked'] },
            claims: { type: 'object' },
            jwt: { type: 'string' },
            issuedAt: { type: 'string', format: 'date-time' },
            expiresAt: { type: 'string', format: 'date-time' },
            expired: { type: 'boolean' },
            updatedAt: { type: 'string', format: 'date-time' },
            statusList: { type: 'integer' },
            statusIndex: { type: 'integer' },
            credentialStatus: { type: 'array', items: { type: 'object' } },
          },
        },
        StatusChange: {
          type: 'object',
          properties: { credential: { $ref: '#/components/schemas/Credential' }, changed: { type: 'boolean' } },
        },
        AuditEntry: {
          type: 'object',
          properties: {
            seq: { type: 'integer' },
            when: { type: 'string', format: 'date-time' },
            who: { type: 'string' },
            what: { type: 'string' },
            details: { type: 'object' },
            prevHash: { type: 'string' },
            hash: { type: 'string' },
          },
        },
        PartyInput: (({ $schema: _s, ...rest }) => rest)(
          z.toJSONSchema(PartyInput, { unrepresentable: 'any', io: 'input' }),
        ),
        DeviceBatchRequest: {
          type: 'object',
          required: ['devices'],
          properties: {
            devices: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_DEVICE_BATCH,
              items: {
                type: 'object',
                required: ['characteristics'],
                properties: {
                  characteristics: {
                    type: 'object',
                    description: 'model, serial, hardwareRevision, firmwareHash, mac (protocol DeviceCharacteristics)',
                  },
                  deviceId: { type: 'string', description: 'default: protocol deviceIdOf(manufacturer DID, serial)' },
                  owner: { type: 'string', description: 'DID of the owner; only it may commission the device' },
                },
              },
            },
          },
        },
        DeviceBatch: {
          type: 'object',
          properties: {
            batchId: { type: 'integer' },
            root: { type: 'string' },
            txHash: { type: 'string' },
            devices: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  deviceId: { type: 'string' },
                  batchId: { type: 'integer' },
                  salt: { type: 'string' },
                  proof: { type: 'array', items: { type: 'string' } },
                  provisioning: {
                    type: 'object',
                    description: 'device-agent provisioning file: npm run device -- enrol --provisioning FILE',
                  },
                },
              },
            },
          },
        },
        Device: {
          type: 'object',
          properties: {
            deviceId: { type: 'string' },
            state: {
              type: 'string',
              enum: ['Unknown', 'Registered', 'Active', 'Suspended', 'Revoked', 'Decommissioned'],
            },
            manufacturer: { type: 'string' },
            owner: { type: ['string', 'null'] },
            did: { type: ['string', 'null'] },
            identity: { type: ['string', 'null'] },
            batchId: { type: ['integer', 'null'] },
            fingerprint: { type: 'string' },
            commitment: { type: 'string' },
            characteristics: { type: 'object' },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
          },
        },
        ...claimSchemas,
      },
    },
    paths: {
      '/auth/challenge': {
        post: {
          summary: 'Get a single-use nonce and the audience for an admin presentation',
          responses: {
            '201': {
              description: 'The challenge',
              content: json({
                type: 'object',
                properties: { nonce: { type: 'string' }, audience: { type: 'string' }, expiresAt: { type: 'string' } },
              }),
            },
          },
        },
      },
      '/auth/token': {
        post: {
          summary:
            'Exchange a presentation (JWT VP with nonce and aud) of Admin/Operator credentials for an access token',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['presentation'],
              properties: { presentation: { type: 'string' } },
            }),
          },
          responses: {
            '200': {
              description: 'A short-lived access token',
              content: json({
                type: 'object',
                properties: {
                  accessToken: { type: 'string' },
                  tokenType: { const: 'Bearer' },
                  expiresAt: { type: 'string' },
                  did: { type: 'string' },
                  roles: { type: 'array', items: { type: 'string' } },
                },
              }),
            },
            ...errors(400, 401, 403, 413),
          },
        },
      },
      '/auth/logout': {
        post: {
          summary: 'End the access token',
          security: secured,
          responses: { '204': { description: 'Done' }, ...errors(401) },
        },
      },
      '/credential-types': {
        get: {
          summary: 'The credential types, their default and maximum validity and claim schemas',
          responses: { '200': { description: 'Types', content: json({ type: 'object' }) } },
        },
      },
      '/credentials': {
        post: {
          summary: 'Issue a credential (Admin)',
          security: secured,
          requestBody: { required: true, content: json({ $ref: '#/components/schemas/IssueRequest' }) },
          responses: {
            '201': { description: 'The issued credential', content: json({ $ref: '#/components/schemas/Credential' }) },
            ...errors(400, 401, 403, 413, 415, 422),
          },
        },
        get: {
          summary: 'List issued credentials, newest first (Admin or Operator)',
          security: secured,
          parameters: [
            { name: 'type', in: 'query', schema: { type: 'string', enum: CREDENTIAL_TYPE_NAMES } },
            { name: 'subject', in: 'query', schema: { type: 'string' } },
            { name: 'status', in: 'query', schema: { type: 'string', enum: ['active', 'suspended', 'revoked'] } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
            { name: 'cursor', in: 'query', schema: { type: 'string' } },
          ],
          responses: {
            '200': {
              description: 'A page',
              content: json({
                type: 'object',
                properties: {
                  items: { type: 'array', items: { $ref: '#/components/schemas/Credential' } },
                  nextCursor: { type: 'string' },
                },
              }),
            },
            ...errors(400, 401, 403, 422),
          },
        },
      },
      '/credentials/{id}': {
        get: {
          summary: 'One issued credential (Admin or Operator)',
          security: secured,
          parameters: [idParam],
          responses: {
            '200': { description: 'The credential', content: json({ $ref: '#/components/schemas/Credential' }) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/credentials/{id}/suspend': statusChange('Suspend'),
      '/credentials/{id}/resume': statusChange('Resume'),
      '/credentials/{id}/revoke': statusChange('Revoke (final)'),
      '/parties': {
        post: {
          summary: 'Register a person or an organisation by its DID (Admin)',
          security: secured,
          requestBody: { required: true, content: json({ $ref: '#/components/schemas/PartyInput' }) },
          responses: {
            '201': { description: 'The party', content: json({ type: 'object' }) },
            ...errors(401, 403, 409, 413, 415, 422),
          },
        },
        get: {
          summary: 'List parties by DID (Admin or Operator)',
          security: secured,
          parameters: [
            { name: 'kind', in: 'query', schema: { type: 'string', enum: ['person', 'organisation'] } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500 } },
            { name: 'after', in: 'query', schema: { type: 'string' }, description: 'last DID of the previous page' },
          ],
          responses: { '200': { description: 'Parties', content: json({ type: 'array' }) }, ...errors(401, 403, 422) },
        },
      },
      '/parties/{did}': {
        get: {
          summary: 'One party with the credentials issued to it (Admin or Operator)',
          security: secured,
          parameters: [{ name: 'did', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The party', content: json({ type: 'object' }) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/credentials/{id}/offer': {
        post: {
          summary: 'Make a one-time offer of the credential to its subject (Admin); returns the code to hand over',
          security: secured,
          parameters: [idParam],
          requestBody: {
            required: false,
            content: json({ type: 'object', properties: { ttlSeconds: { type: 'integer' } } }),
          },
          responses: {
            '201': {
              description: 'The offer (the code is shown only here)',
              content: json({
                type: 'object',
                properties: {
                  code: { type: 'string' },
                  credentialId: { type: 'string' },
                  expiresAt: { type: 'string' },
                  redeemUrl: { type: 'string' },
                },
              }),
            },
            ...errors(401, 403, 404, 409, 422),
          },
        },
      },
      '/.well-known/openid-credential-issuer': {
        get: {
          summary:
            'OpenID4VCI 1.0 credential issuer metadata (also at the origin: /.well-known/openid-credential-issuer/issuer)',
          responses: { '200': { description: 'Metadata', content: json({ type: 'object' }) } },
        },
      },
      '/.well-known/oauth-authorization-server': {
        get: {
          summary: 'RFC 8414 authorization server metadata (the issuer is its own authorization server)',
          responses: { '200': { description: 'Metadata', content: json({ type: 'object' }) } },
        },
      },
      '/oid4vci/offers/{ref}': {
        get: {
          summary: 'A credential offer by reference (OpenID4VCI 1.0 §4.1.3); public, until the code expires',
          parameters: [{ name: 'ref', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'The credential offer object', content: json({ type: 'object' }) },
            ...errors(404),
          },
        },
      },
      '/oid4vci/authorize': {
        get: {
          summary:
            'Authorization endpoint (RFC 6749 §4.1, PKCE S256): the caller signs in with a Tessera token for GET /oid4vci/authorize; redirects with code, state and iss',
          responses: { '302': { description: 'Redirect to redirect_uri' }, ...errors(400, 401, 403) },
        },
      },
      '/oid4vci/token': {
        post: {
          summary:
            'Token endpoint (form): pre-authorized code (+ tx_code) or authorization code (+ code_verifier); a DPoP header binds the token',
          responses: {
            '200': {
              description: 'access_token, token_type (DPoP or Bearer), expires_in',
              content: json({ type: 'object' }),
            },
            '400': { description: 'OAuth error: { error, error_description, error_code }' },
          },
        },
      },
      '/oid4vci/nonce': {
        post: {
          summary: 'Nonce endpoint (OpenID4VCI 1.0 §7): a single-use c_nonce for key proofs',
          responses: { '200': { description: '{ c_nonce }', content: json({ type: 'object' }) } },
        },
      },
      '/oid4vci/credential': {
        post: {
          summary:
            'Credential endpoint (OpenID4VCI 1.0 §8): { credential_configuration_id, proofs: { jwt: [...] } } with a DPoP-bound or bearer token; batch',
          responses: {
            '200': { description: '{ credentials: [{ credential }] }', content: json({ type: 'object' }) },
            '400': {
              description: 'OAuth error: invalid_proof, invalid_nonce, invalid_credential_request (+ error_code)',
            },
            '401': { description: 'invalid_token (+ error_code)' },
          },
        },
      },
      '/status-lists/{id}/token': {
        get: {
          summary:
            'The Status List Token (statuslist+jwt, 2 bits: 0 valid, 1 revoked, 2 suspended) of SD-JWT VCs; public',
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
          responses: { '200': { description: 'application/statuslist+jwt' }, ...errors(404) },
        },
      },
      '/offers/redeem': {
        post: {
          summary:
            'Alias of the pre-authorized code grant in one step (offers without a transaction code): `proof` is a JWT (ES256K, typ openid4vci-proof+jwt) signed by the credential subject with aud = issuer URL and nonce = code, all three required; public',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['code', 'proof'],
              properties: { code: { type: 'string' }, proof: { type: 'string' } },
            }),
          },
          responses: {
            '200': {
              description: 'The credential',
              content: json({
                type: 'object',
                properties: { id: { type: 'string' }, type: { type: 'string' }, credential: { type: 'string' } },
              }),
            },
            ...errors(400, 401, 404),
          },
        },
      },
      '/status-lists/{id}/{purpose}': {
        get: {
          summary: 'The signed BitstringStatusListCredential (JWT) with the current bits; public',
          parameters: [
            { name: 'id', in: 'path', required: true, schema: { type: 'integer' } },
            {
              name: 'purpose',
              in: 'path',
              required: true,
              schema: { type: 'string', enum: ['revocation', 'suspension'] },
            },
          ],
          responses: {
            '200': { description: 'Compact JWT', content: { 'application/vc+jwt': { schema: { type: 'string' } } } },
            ...errors(404),
          },
        },
      },
      '/status-events': {
        get: {
          summary:
            'Server-sent events: one `status` event per change, naming the status list URLs to refetch; public (the lists are), capped per source address and in all',
          responses: {
            '200': {
              description: 'text/event-stream',
              content: { 'text/event-stream': { schema: { type: 'string' } } },
            },
            '429': errorResponse('ERR_RATE_LIMITED: this source address holds as many streams as it may'),
            '503': errorResponse('ERR_CAPACITY: every stream slot is in use; retry after the indicated delay'),
          },
        },
      },
      '/audit': {
        get: {
          summary: 'Read the audit trail in order (Admin or Operator)',
          security: secured,
          parameters: [
            { name: 'afterSeq', in: 'query', schema: { type: 'integer', minimum: 0 } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
          ],
          responses: {
            '200': {
              description: 'Entries',
              content: json({
                type: 'object',
                properties: { items: { type: 'array', items: { $ref: '#/components/schemas/AuditEntry' } } },
              }),
            },
            ...errors(401, 403),
          },
        },
      },
      '/audit/verify': {
        get: {
          summary: 'Verify the hash chain (and the head anchored on chain, when anchoring is configured)',
          security: secured,
          responses: {
            '200': { description: 'The trail verifies', content: json({ type: 'object' }) },
            ...errors(401, 403, 500),
          },
        },
      },
      ...devicePaths(),
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
      '/docs': { get: { summary: 'Human-readable API page', responses: { '200': { description: 'HTML' } } } },
    },
  };
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A small self-contained HTML page listing the operations of the spec (no external scripts). */
export function docsPage(spec: ReturnType<typeof issuerOpenApi>): string {
  const rows = Object.entries(spec.paths)
    .flatMap(([path, ops]) =>
      Object.entries(ops as Record<string, { summary: string; security?: unknown }>).map(
        ([method, op]) =>
          `<tr><td><code>${method.toUpperCase()}</code></td><td><code>${esc(path)}</code></td><td>${esc(op.summary)}</td><td>${op.security ? 'bearer' : 'public'}</td></tr>`,
      ),
    )
    .join('\n');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(spec.info.title)} API</title>
<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}td,th{padding:.3rem .6rem;text-align:left;vertical-align:top}tr:nth-child(even){background:#f4f4f4}</style>
</head><body><h1>${esc(spec.info.title)} API</h1><p>${esc(spec.info.description)}</p>
<p>Machine-readable: <a href="openapi.json">openapi.json</a> (OpenAPI ${spec.openapi}).</p>
<table><thead><tr><th>method</th><th>path</th><th>what</th><th>auth</th></tr></thead><tbody>
${rows}
</tbody></table></body></html>`;
}
