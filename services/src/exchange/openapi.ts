import { ERROR_CODES } from '@tessera/protocol';
import { z } from 'zod';
import { MessageBodySchema } from './messages.js';
import { QuestionnaireSchema } from './questionnaire.js';

const json = (schema: unknown) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const errors = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      {
        description: Object.entries(ERROR_CODES)
          .filter(
            ([k, v]) =>
              v.status === s &&
              (k.startsWith('ERR_EXCHANGE_') ||
                k.startsWith('ERR_AUTH') ||
                k === 'ERR_FORBIDDEN' ||
                k === 'ERR_VALIDATION'),
          )
          .map(([k]) => k)
          .join(', '),
        content: json(ref('Error')),
      },
    ]),
  );
const secured = [{ bearer: [] }];
const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };
const jwsBody = (description: string) => ({
  required: true,
  content: json({
    type: 'object',
    required: ['jws'],
    additionalProperties: false,
    properties: { jws: { type: 'string', description } },
  }),
});
/**
 * A zod schema as a component: its `$defs` become components of their own (prefixed with the schema's name) and
 * references to them are rewritten, since `#/$defs/...` would point at the document's root once embedded.
 */
function components(name: string, s: z.ZodType): Record<string, unknown> {
  const {
    $schema: _ignored,
    $defs,
    ...root
  } = z.toJSONSchema(s, { unrepresentable: 'any', io: 'input' }) as Record<string, unknown> & {
    $defs?: Record<string, unknown>;
  };
  const rewrite = (v: unknown): unknown =>
    JSON.parse(
      JSON.stringify(v).replace(/"#\/\$defs\/([^"]+)"/g, (_m, d: string) => `"#/components/schemas/${name}_${d}"`),
    );
  const out: Record<string, unknown> = { [name]: rewrite(root) };
  for (const [d, def] of Object.entries($defs ?? {})) out[`${name}_${d}`] = rewrite(def);
  return out;
}

/**
 * The data exchange's HTTP API as an OpenAPI 3.1 document, for the lead to merge into the stack's: paths are relative
 * to where `buildExchangeRouter` is mounted (`serverUrl`, for example `https://host/data/exchange`).
 */
export function exchangeOpenApi(serverUrl: string) {
  const list = (name: string, item: string) => ({
    description: `The ${name}`,
    content: json({ type: 'object', properties: { [name]: { type: 'array', items: ref(item) } } }),
  });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera data exchange',
      version: '0.1.0',
      description:
        'Send data, request it with a questionnaire and answer it, grant and revoke consent, forward under consent, ' +
        'and chain exchanges into processes. Every message is a JWS (ES256K) signed with the sender DID key and ' +
        'acknowledged by the recipient with its own JWS over the message hash; both are recorded in a hash-chained ' +
        'trail anchored on chain (TesseraAnchor). Callers present a DataPartnerCredential to the verifier ' +
        '(POST /verifier/presentation-requests with resource /data/exchange and action *, then POST ' +
        '/verifier/presentations) and send the access token as a bearer token; they act as its holder DID.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description: 'Access token from POST /verifier/presentations for resource /data/exchange, action *',
        },
      },
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
        ...components('MessageBody', MessageBodySchema),
        ...components('Questionnaire', QuestionnaireSchema),
        Partner: {
          type: 'object',
          properties: {
            did: { type: 'string' },
            name: { type: 'string' },
            validUntil: { type: ['string', 'null'], format: 'date-time' },
            registeredAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
          },
        },
        Message: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            kind: {
              type: 'string',
              enum: ['data', 'request', 'answer', 'decision', 'consent.grant', 'consent.revoke', 'forward'],
            },
            from: { type: 'string' },
            to: { type: 'string' },
            processId: { type: ['string', 'null'] },
            refId: {
              type: ['string', 'null'],
              description: 'requestId of an answer, originalId of a forward, consentId of a revocation',
            },
            contentHash: {
              type: ['string', 'null'],
              description: 'SHA-256 of the document, or of the inline payload as canonical JSON',
            },
            body: {
              ...ref('MessageBody'),
              description:
                'The `tex` claim of the message JWS (header typ tessera-exchange+jwt, alg ES256K; claims iss = sender ' +
                'DID, aud = recipient DID, jti = message id, iat = sender timestamp).',
            },
            jws: { type: 'string' },
            hash: { type: 'string', description: 'SHA-256 (hex) of the JWS: what the acknowledgement signs' },
            sentAt: { type: 'string', format: 'date-time' },
            receivedAt: { type: 'string', format: 'date-time' },
            status: { type: 'string', enum: ['sent', 'acknowledged'] },
            ackJws: { type: ['string', 'null'] },
            ackHash: { type: ['string', 'null'] },
            ackedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Consent: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            controller: { type: 'string' },
            recipient: { type: 'string' },
            subject: { type: 'string' },
            purpose: { type: 'string' },
            thirdPartyDisclosure: { type: 'boolean' },
            thirdParties: { type: ['array', 'null'], items: { type: 'string' } },
            exchangeIds: { type: ['array', 'null'], items: { type: 'string' } },
            expiresAt: { type: 'string', format: 'date-time' },
            status: { type: 'string', enum: ['active', 'revoked'] },
            revokedBy: { type: ['string', 'null'] },
            revokedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Process: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            template: { type: 'string', enum: ['supplier-onboarding'] },
            initiator: { type: 'string' },
            counterparty: { type: 'string' },
            status: { type: 'string', enum: ['running', 'completed', 'rejected'] },
            steps: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  name: { type: 'string' },
                  kind: { type: 'string' },
                  from: { type: 'string', enum: ['initiator', 'counterparty'] },
                  state: { type: 'string', enum: ['waiting', 'open', 'sent', 'acknowledged'] },
                  messageId: { type: 'string' },
                },
              },
            },
            createdAt: { type: 'string', format: 'date-time' },
            updatedAt: { type: 'string', format: 'date-time' },
          },
        },
        TrailEntry: {
          type: 'object',
          properties: {
            seq: { type: 'integer' },
            when: { type: 'string', format: 'date-time' },
            who: { type: 'string' },
            what: { type: 'string' },
            details: { type: 'object' },
            prevHash: { type: 'string' },
            hash: {
              type: 'string',
              description: 'SHA-256 over the canonical JSON of seq, prevHash, who, what, when, details',
            },
          },
        },
      },
    },
    security: secured,
    paths: {
      '/partners': {
        get: {
          summary: 'Partners others can address',
          responses: { '200': list('partners', 'Partner'), ...errors(401, 403) },
        },
        post: {
          summary: 'Register (or refresh) the caller as a partner',
          requestBody: { content: json({ type: 'object', properties: { name: { type: 'string', maxLength: 200 } } }) },
          responses: { '200': { description: 'The partner', content: json(ref('Partner')) }, ...errors(401, 403, 422) },
        },
      },
      '/partners/hosted-key': {
        post: {
          summary: 'The delegation that lets this service sign for the caller (HTML interface)',
          description:
            'Creates (once) a key the service holds for the caller and returns the ERC-1056 addDelegateSigned request ' +
            '(registry, nonce, identity, delegateType veriKey, delegate, validitySeconds) and its digest, which the ' +
            "caller's owner key signs after recomputing it. Nothing is written until /confirm.",
          responses: {
            '200': { description: 'The offer', content: json({ type: 'object' }) },
            ...errors(401, 403, 422),
          },
        },
      },
      '/partners/hosted-key/confirm': {
        post: {
          summary:
            "Relay the owner's signature over the offer on chain; from then on the service can sign for the caller",
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['signature'],
              additionalProperties: false,
              properties: { signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$' } },
            }),
          },
          responses: {
            '200': { description: 'Mined', content: json({ type: 'object' }) },
            ...errors(401, 403, 404, 422, 502),
          },
        },
      },
      '/messages': {
        get: {
          summary: "The caller's messages (sent and received), newest first",
          parameters: [
            { name: 'kind', in: 'query', schema: { type: 'string' } },
            { name: 'processId', in: 'query', schema: { type: 'string' } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          ],
          responses: { '200': list('messages', 'Message'), ...errors(401, 403) },
        },
        post: {
          summary: 'Submit a message signed by the caller',
          requestBody: jwsBody('Compact JWS, ES256K, typ tessera-exchange+jwt, signed with the caller DID key'),
          responses: {
            '201': { description: 'Recorded, with its trail entry', content: json(ref('Message')) },
            ...errors(401, 403, 404, 409, 422),
          },
        },
      },
      '/messages/hosted': {
        post: {
          summary: 'Submit a message signed with the key the service holds for the caller',
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['to', 'body'],
              properties: { to: { type: 'string' }, body: ref('MessageBody') },
            }),
          },
          responses: {
            '201': { description: 'Recorded', content: json(ref('Message')) },
            ...errors(401, 403, 404, 409, 422),
          },
        },
      },
      '/messages/{id}': {
        get: {
          summary: 'A message the caller sent or received',
          parameters: [idParam],
          responses: { '200': { description: 'The message', content: json(ref('Message')) }, ...errors(401, 403, 404) },
        },
      },
      '/messages/{id}/provenance': {
        get: {
          summary: 'The provenance chain: the message, then each exchange it forwards, back to the original',
          parameters: [idParam],
          responses: { '200': list('chain', 'Message'), ...errors(401, 403, 404) },
        },
      },
      '/messages/{id}/signatures': {
        get: {
          summary: "Re-verify the sender's and the recipient's signatures against their DIDs now",
          parameters: [idParam],
          responses: {
            '200': { description: 'Both signers and the hash the acknowledgement covers' },
            ...errors(401, 403, 404),
          },
        },
      },
      '/messages/{id}/ack': {
        post: {
          summary: "The recipient's acknowledgement",
          parameters: [idParam],
          requestBody: jwsBody(
            'Compact JWS, ES256K, typ tessera-exchange-ack+jwt, claim ack = { messageId, messageHash }',
          ),
          responses: {
            '200': { description: 'The acknowledged message', content: json(ref('Message')) },
            ...errors(401, 403, 404, 422),
          },
        },
      },
      '/messages/{id}/ack/hosted': {
        post: {
          summary: 'Acknowledge with the key the service holds for the caller',
          parameters: [idParam],
          responses: {
            '200': { description: 'The acknowledged message', content: json(ref('Message')) },
            ...errors(401, 403, 404),
          },
        },
      },
      '/consents': {
        get: {
          summary: 'Consents the caller gave or received',
          responses: { '200': list('consents', 'Consent'), ...errors(401, 403) },
        },
      },
      '/processes': {
        get: {
          summary: "The caller's processes",
          responses: { '200': list('processes', 'Process'), ...errors(401, 403) },
        },
      },
      '/processes/{id}': {
        get: {
          summary: 'A process with its step states',
          parameters: [idParam],
          responses: { '200': { description: 'The process', content: json(ref('Process')) }, ...errors(401, 403, 404) },
        },
      },
      '/trail': {
        get: {
          summary: 'Trail entries the caller took part in, oldest first (the exportable audit report)',
          parameters: [
            { name: 'afterSeq', in: 'query', schema: { type: 'integer', minimum: 0 } },
            { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 1000 } },
          ],
          responses: { '200': list('entries', 'TrailEntry'), ...errors(401, 403) },
        },
      },
      '/trail/verify': {
        get: {
          summary: 'Verify the whole trail: hash chain, recorded messages, and the head anchored on chain',
          responses: {
            '200': { description: '{ verified: true, length, head, anchored }' },
            ...errors(401, 403, 500),
          },
        },
      },
      '/ui/': {
        get: {
          summary: 'The HTML interface (token in an HttpOnly cookie set by POST /ui/login)',
          security: [],
          responses: { '200': { description: 'text/html' }, '303': { description: 'to /ui/login when not signed in' } },
        },
      },
    },
  };
}
