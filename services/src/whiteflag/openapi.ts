import { ERROR_CODES } from '@tessera/protocol';
import { z } from 'zod';
import { AreaBodySchema, DeviceSignalSchema, SendBodyDocSchema, SignatureBodySchema } from './schemas.js';

const json = (schema: unknown) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const schema = (s: z.ZodType) => {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};
/** One response per status, listing the registry codes that map to it and that the route can return. */
const errors = (...codes: (keyof typeof ERROR_CODES)[]) => {
  const byStatus = new Map<number, string[]>();
  for (const c of codes) byStatus.set(ERROR_CODES[c].status, [...(byStatus.get(ERROR_CODES[c].status) ?? []), c]);
  return Object.fromEntries(
    [...byStatus].map(([s, cs]) => [String(s), { description: cs.join(', '), content: json(ref('Error')) }]),
  );
};
const GUARD = [
  'ERR_AUTH_REQUIRED',
  'ERR_AUTH_INVALID',
  'ERR_AUTH_EXPIRED',
  'ERR_VC_REVOKED',
  'ERR_VC_SUSPENDED',
  'ERR_VC_STATUS_UNAVAILABLE',
  'ERR_FORBIDDEN',
] as const;

/** The Whiteflag HTTP API as OpenAPI 3.1; request bodies are generated from the zod schemas that validate them. */
export function whiteflagOpenApi(serverUrl: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera Whiteflag',
      version: '0.1.0',
      description:
        'Authenticated, pre-defined messages (Whiteflag, version 1) on the configured chain: operators send signs and ' +
        'signals over HTTP, devices over MQTT (topic whiteflag/signals/{code}, payload DeviceSignal), and the listener ' +
        'shows what the chain carries with each originator’s authentication. See docs/whiteflag.md.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (RFC 9068 at+jwt)' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message'],
              properties: { code: { type: 'string', enum: Object.keys(ERROR_CODES) }, message: { type: 'string' } },
            },
          },
        },
        SendBody: schema(SendBodyDocSchema),
        DeviceSignal: schema(DeviceSignalSchema),
        AreaBody: schema(AreaBodySchema),
        SignatureBody: schema(SignatureBodySchema),
      },
    },
    paths: {
      '/whiteflag/messages/{messageCode}': {
        post: {
          summary: 'Send a Whiteflag message from the holder’s authenticated account',
          security: [{ bearer: [] }],
          description:
            'Policies whiteflag.send.{code} say which credential sends which type (operators: I, D, S, E, M, F, R; ' +
            'admins: T). The account must be authorised first (POST /whiteflag/originator/sending-key). 201 once mined, ' +
            '202 while pending (poll GET /whiteflag/sent/{requestId}).',
          parameters: [
            { name: 'messageCode', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Z]$' } },
          ],
          requestBody: { required: true, content: json(ref('SendBody')) },
          responses: {
            '201': { description: 'mined: the transaction (and the initialisation vector’s, when encrypted)' },
            '202': { description: 'recorded and sent, not yet mined' },
            ...errors(
              ...GUARD,
              'ERR_POLICY_DENIED',
              'ERR_VALIDATION',
              'ERR_JSON_MALFORMED',
              'ERR_BODY_TOO_LARGE',
              'ERR_WHITEFLAG_FIELD_INVALID',
              'ERR_WHITEFLAG_REFERENCE_INVALID',
              'ERR_WHITEFLAG_KEY_UNKNOWN',
              'ERR_WHITEFLAG_TOO_LARGE',
              'ERR_WHITEFLAG_ORIGINATOR_NOT_READY',
              'ERR_CHAIN_TX_FAILED',
            ),
          },
        },
      },
      '/whiteflag/messages': {
        get: {
          summary: 'Messages the listener received, newest first, each with its originator’s authentication',
          security: [{ bearer: [] }],
          description:
            '`authentic` is true only for a valid message whose account had a verified authentication when it was ' +
            'mined; unauthenticated and wrongly authenticated messages are listed, marked as such.',
          parameters: [
            { name: 'code', in: 'query', schema: { type: 'string' } },
            { name: 'auth', in: 'query', schema: { enum: ['authenticated', 'unauthenticated', 'failed'] } },
            { name: 'originator', in: 'query', schema: { type: 'string' } },
            { name: 'sinceBlock', in: 'query', schema: { type: 'integer' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', maximum: 500 } },
            { name: 'orphaned', in: 'query', schema: { enum: ['true', 'false'] } },
          ],
          responses: { '200': { description: '{ messages: [...] }' }, ...errors(...GUARD, 'ERR_VALIDATION') },
        },
      },
      '/whiteflag/messages/{txHash}': {
        get: {
          summary: 'One received message, the chain of messages it references, and those that reference it',
          security: [{ bearer: [] }],
          parameters: [{ name: 'txHash', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'the message' }, ...errors(...GUARD, 'ERR_WHITEFLAG_NOT_FOUND') },
        },
      },
      '/whiteflag/sent/{requestId}': {
        get: {
          summary: 'The state of one of the holder’s sends',
          security: [{ bearer: [] }],
          parameters: [{ name: 'requestId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'its outbox state and hashes' },
            ...errors(...GUARD, 'ERR_WHITEFLAG_NOT_FOUND'),
          },
        },
      },
      '/whiteflag/originator/sending-key': {
        post: {
          summary: 'The ERC-1056 delegation the holder signs to authorise its sending account',
          security: [{ bearer: [] }],
          description: 'The same offer form as the data exchange’s hosted keys: `wallet delegate <this URL>` signs it.',
          responses: {
            '200': { description: 'the offer and whether it is active' },
            ...errors(...GUARD, 'ERR_DID_MALFORMED'),
          },
        },
      },
      '/whiteflag/originator/sending-key/confirm': {
        post: {
          summary: 'Relay the signed delegation; the account then authenticates on chain (A1)',
          security: [{ bearer: [] }],
          requestBody: { required: true, content: json(ref('SignatureBody')) },
          responses: {
            '200': { description: 'the delegate, its transaction, the account and its statement URL' },
            ...errors(
              ...GUARD,
              'ERR_VALIDATION',
              'ERR_WHITEFLAG_AUTH_FAILED',
              'ERR_WHITEFLAG_NOT_FOUND',
              'ERR_CHAIN_TX_FAILED',
            ),
          },
        },
      },
      '/whiteflag/devices/{deviceId}/area': {
        put: {
          summary: 'Set the area whose authentic signals the device receives on whiteflag/inbox',
          security: [{ bearer: [] }],
          description: 'Needs a DeviceOwnerCredential whose device is the DID the registry binds to this device id.',
          parameters: [{ name: 'deviceId', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: true, content: json(ref('AreaBody')) },
          responses: {
            '200': { description: 'the area' },
            ...errors(
              ...GUARD,
              'ERR_VALIDATION',
              'ERR_DEVICE_ID_INVALID',
              'ERR_DEVICE_UNKNOWN',
              'ERR_DEVICE_NOT_OWNER',
            ),
          },
        },
        get: {
          summary: 'The device’s area',
          security: [{ bearer: [] }],
          parameters: [{ name: 'deviceId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { '200': { description: 'the area' }, ...errors(...GUARD, 'ERR_WHITEFLAG_NOT_FOUND') },
        },
      },
      '/whiteflag/statements/{address}': {
        get: {
          summary: 'The signed statement of a method-1 account (flattened JWS, ES256K), public',
          parameters: [{ name: 'address', in: 'path', required: true, schema: { type: 'string' } }],
          responses: {
            '200': { description: 'RFC 7515 flattened JSON serialization' },
            ...errors('ERR_WHITEFLAG_NOT_FOUND'),
          },
        },
      },
      '/whiteflag/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
  };
}
