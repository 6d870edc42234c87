import { ERROR_CODES } from '@tessera/protocol';
import { z } from 'zod';
import { OfferingTermsSchema } from '../terms.js';
import { BODY, errors, GUARD, json, offeringId, ref, secured } from './openapi-common.js';
import { paymentPaths, paymentSchemas } from './openapi-payments.js';

/** The token-offering HTTP API as OpenAPI 3.1; the terms schema is generated from the domain's zod schema. */
export function offeringsOpenApi(serverUrl: string) {
  const { $schema: _ignored, ...terms } = z.toJSONSchema(OfferingTermsSchema, { io: 'input', unrepresentable: 'any' });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera token offerings',
      version: '0.1.0',
      description:
        'Security-token offerings (for example green bonds) that only verified investors may buy and hold: offerings ' +
        'created by an issuer organisation, certified by a certifier, subscribed with an AccreditedInvestor credential, ' +
        'allocated at close and minted on a permissioned token whose transfers check both parties on chain.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT (RFC 9068 at+jwt)' },
      },
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
        OfferingTerms: terms,
        Offering: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            issuer: { type: 'string', description: 'DID of the issuer organisation' },
            terms: ref('OfferingTerms'),
            status: { type: 'string', enum: ['open', 'allocated', 'redeemed', 'cancelled'] },
            tokenAddress: { type: ['string', 'null'] },
            certification: { type: ['object', 'null'] },
            certified: { type: 'boolean', description: 'the certification badge shows now' },
            subscribed: { type: 'integer' },
            remaining: { type: 'integer' },
            createdAt: { type: 'string', format: 'date-time' },
            allocatedAt: { type: ['string', 'null'], format: 'date-time' },
          },
        },
        Subscription: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            offeringId: { type: 'string' },
            investor: { type: 'string' },
            wallet: { type: 'string' },
            quantity: { type: 'integer' },
            jurisdiction: { type: 'string' },
            status: { type: 'string', enum: ['subscribed', 'allocated', 'minted', 'unallocated', 'mint-failed'] },
            allocated: { type: ['integer', 'null'] },
            createdAt: { type: 'string', format: 'date-time' },
          },
        },
        ...paymentSchemas,
      },
    },
    paths: {
      '/': {
        get: {
          summary: 'List offerings',
          responses: {
            '200': {
              description: 'Offerings, oldest first',
              content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Offering') } } }),
            },
          },
        },
        post: {
          summary:
            'Create an offering (the holder of an OfferingIssuerCredential becomes its issuer); its token is deployed',
          ...secured('offering.create'),
          requestBody: {
            required: true,
            content: json({ type: 'object', required: ['terms'], properties: { terms: ref('OfferingTerms') } }),
          },
          responses: {
            '201': { description: 'The offering', content: json(ref('Offering')) },
            ...errors(
              ...BODY,
              ...GUARD,
              'ERR_OFFERING_TERMS_INVALID',
              'ERR_OFFERING_EXISTS',
              'ERR_OFFERING_ISSUER_NOT_AUTHORISED',
            ),
          },
        },
      },
      '/{offeringId}': {
        get: {
          summary: 'One offering',
          parameters: [offeringId],
          responses: {
            '200': { description: 'The offering', content: json(ref('Offering')) },
            ...errors('ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'),
          },
        },
      },
      '/{offeringId}/certification': {
        post: {
          summary: 'Record a certification: an OfferingCertificationCredential (VC-JWT) signed by the certifier',
          ...secured('offering.certify'),
          description:
            `${secured('offering.certify').description} ` +
            'The caller presents a CertifierCredential (certifiesOfferings) from an issuer the trust list trusts; the ' +
            'credential in the body must be signed by that same holder. Its subject is `urn:tessera:offering:<id>` ' +
            "with optional `scheme` (among the CertifierCredential's schemes when it lists any) and " +
            "`documentsSha256`; the signature is checked against the certifier's DID document on chain; the " +
            "certifier must not be the issuer and must be among the terms' certifiers when they list any.",
          parameters: [offeringId],
          requestBody: {
            required: true,
            content: json({ type: 'object', required: ['credential'], properties: { credential: { type: 'string' } } }),
          },
          responses: {
            '200': { description: 'The certified offering', content: json(ref('Offering')) },
            ...errors(
              ...BODY,
              ...GUARD,
              'ERR_OFFERING_NOT_FOUND',
              'ERR_OFFERING_STATE',
              'ERR_OFFERING_CERTIFICATION_INVALID',
              'ERR_OFFERING_CERTIFIER_NOT_TRUSTED',
            ),
          },
        },
      },
      '/{offeringId}/subscriptions': {
        post: {
          summary: 'Subscribe (AccreditedInvestorCredential); the claims come from the verified access token',
          ...secured('offering.subscribe'),
          parameters: [offeringId],
          requestBody: {
            required: true,
            content: json({
              type: 'object',
              required: ['quantity'],
              properties: {
                quantity: { type: 'integer', minimum: 1 },
                wallet: { type: 'string', description: "must be the holder's did:ethr address (the default)" },
              },
            }),
          },
          responses: {
            '201': { description: 'The subscription', content: json(ref('Subscription')) },
            ...errors(
              ...BODY,
              ...GUARD,
              'ERR_VC_EXPIRED',
              'ERR_OFFERING_NOT_FOUND',
              'ERR_OFFERING_NOT_CERTIFIED',
              'ERR_OFFERING_NOT_OPEN',
              'ERR_OFFERING_CLOSED',
              'ERR_OFFERING_BELOW_MINIMUM',
              'ERR_OFFERING_ABOVE_MAXIMUM',
              'ERR_OFFERING_SOLD_OUT',
              'ERR_OFFERING_ALREADY_SUBSCRIBED',
              'ERR_OFFERING_JURISDICTION',
              'ERR_OFFERING_INVESTOR_NOT_ACCREDITED',
              'ERR_OFFERING_INVESTOR_LIMIT',
              'ERR_OFFERING_WALLET_NOT_HOLDER',
              'ERR_CONFLICT',
            ),
          },
        },
      },
      '/me/subscriptions': {
        get: {
          summary: "The holder's subscriptions (AccreditedInvestorCredential)",
          ...secured('offering.subscriptions.read'),
          responses: {
            '200': {
              description: 'Subscriptions, oldest first',
              content: json({ type: 'object', properties: { items: { type: 'array', items: ref('Subscription') } } }),
            },
            ...errors(...GUARD),
          },
        },
      },
      '/{offeringId}/allocation': {
        post: {
          summary: "Close, allocate and mint through the outbox (the offering's issuer, after closesAt); idempotent",
          ...secured('offering.allocate'),
          parameters: [offeringId],
          responses: {
            '200': {
              description: 'Allocations and the mint report',
              content: json({
                type: 'object',
                properties: {
                  offering: ref('Offering'),
                  allocations: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: {
                        id: { type: 'string' },
                        requested: { type: 'integer' },
                        allocated: { type: 'integer' },
                      },
                    },
                  },
                  mint: {
                    type: 'object',
                    properties: {
                      minted: { type: 'integer' },
                      pending: { type: 'integer' },
                      failed: { type: 'array', items: { type: 'object' } },
                    },
                  },
                },
              }),
            },
            ...errors(...GUARD, 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_STATE'),
          },
        },
      },
      '/{offeringId}/holdings': {
        get: {
          summary: 'Holders of record (wallet and balance in token base units, from the chain)',
          parameters: [offeringId],
          responses: {
            '200': {
              description: 'Holders with a balance, by address',
              content: json({
                type: 'object',
                properties: {
                  items: {
                    type: 'array',
                    items: {
                      type: 'object',
                      properties: { wallet: { type: 'string' }, balance: { type: 'string' } },
                    },
                  },
                },
              }),
            },
            ...errors('ERR_OFFERING_NOT_FOUND'),
          },
        },
      },
      '/{offeringId}/transfer-check': {
        get: {
          summary: "ERC-1404 pre-flight: would this transfer go through, and if not, why (the token's own check)",
          parameters: [
            offeringId,
            { name: 'from', in: 'query', required: true, schema: { type: 'string' } },
            { name: 'to', in: 'query', required: true, schema: { type: 'string' } },
            { name: 'amount', in: 'query', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } },
          ],
          responses: {
            '200': {
              description: 'The restriction code of detectTransferRestriction, its name and message',
              content: json({
                type: 'object',
                properties: {
                  allowed: { type: 'boolean' },
                  code: { type: 'integer' },
                  name: { type: 'string' },
                  message: { type: 'string' },
                  revertsWith: { type: ['string', 'null'] },
                },
              }),
            },
            ...errors('ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_STATE'),
          },
        },
      },
      ...paymentPaths(),
      '/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
  };
}
