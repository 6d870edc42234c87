import { errors, GUARD, json, offeringId, ref, secured } from './openapi-common.js';

/** Coupons and redemption in the offerings' OpenAPI document. */

const coupon = { name: 'coupon', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } };
const payments = { type: 'array', items: ref('Payment') };

export const paymentSchemas = {
  CouponDate: {
    type: 'object',
    properties: {
      number: { type: 'integer', minimum: 1 },
      recordAt: { type: 'string', format: 'date-time', description: 'holders of record at this time are paid' },
      paysAt: { type: 'string', format: 'date-time' },
      perUnit: {
        type: 'string',
        description: 'minor units owed per whole unit, exact decimal (unit price × rate ÷ payments a year)',
      },
    },
  },
  Payment: {
    type: 'object',
    description:
      'What one holder of record is owed (paid off chain in the currency). Amounts are whole minor units, rounded ' +
      'down per holder. `withheld`: the wallet was not eligible (no record, expired or frozen) at the record block.',
    properties: {
      id: { type: 'string' },
      offeringId: { type: 'string' },
      kind: { type: 'string', enum: ['coupon', 'redemption'] },
      coupon: { type: 'integer', description: '0 for the redemption' },
      blockNumber: { type: 'integer' },
      wallet: { type: 'string' },
      balance: { type: 'string', description: 'token base units held at blockNumber' },
      amount: { type: 'integer' },
      currency: { type: 'string' },
      status: { type: 'string', enum: ['due', 'withheld'] },
      burnKey: { type: ['string', 'null'] },
      createdAt: { type: 'string', format: 'date-time' },
    },
  },
};

export function paymentPaths() {
  return {
    '/{offeringId}/coupons': {
      get: {
        summary: 'The coupon schedule from the terms (empty without a coupon)',
        parameters: [offeringId],
        responses: {
          '200': {
            description: 'Coupons in order',
            content: json({ type: 'object', properties: { items: { type: 'array', items: ref('CouponDate') } } }),
          },
          ...errors('ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'),
        },
      },
    },
    '/{offeringId}/coupons/{coupon}/record': {
      post: {
        summary:
          "Record coupon n (the offering's issuer, from its record date): the holders at the last block mined at the " +
          'record date and what each is owed; recorded once, later calls return the same record',
        ...secured('offering.coupons.record'),
        parameters: [offeringId, coupon],
        responses: {
          '200': {
            description: 'The record',
            content: json({
              type: 'object',
              properties: { coupon: ref('CouponDate'), blockNumber: { type: 'integer' }, payments },
            }),
          },
          ...errors(
            ...GUARD,
            'ERR_VALIDATION',
            'ERR_OFFERING_NOT_FOUND',
            'ERR_OFFERING_STATE',
            'ERR_OFFERING_COUPON_UNKNOWN',
          ),
        },
      },
    },
    '/{offeringId}/coupons/{coupon}/payments': {
      get: {
        summary: 'The payment records of coupon n (empty until recorded)',
        parameters: [offeringId, coupon],
        responses: {
          '200': {
            description: 'By wallet',
            content: json({ type: 'object', properties: { coupon: ref('CouponDate'), items: payments } }),
          },
          ...errors('ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_COUPON_UNKNOWN'),
        },
      },
    },
    '/{offeringId}/redemption': {
      post: {
        summary:
          "Redeem at maturity (the offering's issuer, from maturesAt): the token is paused, each holder's principal " +
          'recorded, and its units burnt by the agent through the outbox; idempotent',
        ...secured('offering.redeem'),
        parameters: [offeringId],
        responses: {
          '200': {
            description: 'The records and the burn report',
            content: json({
              type: 'object',
              properties: {
                offering: ref('Offering'),
                blockNumber: { type: 'integer' },
                payments,
                burn: {
                  type: 'object',
                  properties: {
                    burned: { type: 'integer' },
                    pending: { type: 'integer' },
                    failed: { type: 'array', items: { type: 'object' } },
                  },
                },
              },
            }),
          },
          ...errors(...GUARD, 'ERR_OFFERING_NOT_FOUND', 'ERR_OFFERING_STATE', 'ERR_CHAIN_TX_FAILED'),
        },
      },
      get: {
        summary: 'The redemption records (empty until redeemed)',
        parameters: [offeringId],
        responses: {
          '200': { description: 'By wallet', content: json({ type: 'object', properties: { items: payments } }) },
          ...errors('ERR_VALIDATION', 'ERR_OFFERING_NOT_FOUND'),
        },
      },
    },
  };
}
