import { ERROR_CODES } from '@tessera/protocol';
import { z } from 'zod';
import { GatewayBody, TopUpBody } from './bodies.js';
import { OrderSchema } from './market/order.js';

const json = (schema: unknown) => ({ 'application/json': { schema } });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** One response per status, listing the registry codes that map to it and that the route can return. */
const errors = (...codes: (keyof typeof ERROR_CODES)[]) => {
  const byStatus = new Map<number, string[]>();
  for (const c of codes) byStatus.set(ERROR_CODES[c].status, [...(byStatus.get(ERROR_CODES[c].status) ?? []), c]);
  return Object.fromEntries(
    [...byStatus].map(([s, cs]) => [String(s), { description: cs.join(', '), content: json(ref('Error')) }]),
  );
};

/** The order body: the order schema without the fields the route fills in (participant from the token, meter from the path). */
const OrderBodySchema = OrderSchema.omit({ participant: true, meterId: true }).extend({
  periodId: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe('trading period (floor(ms / period length)); default: the current one'),
});

/** The energy market's HTTP API as OpenAPI 3.1; the order schema is generated from the domain's zod schema. */
export function energyOpenApi(serverUrl: string) {
  const schema = (zod: z.ZodType) => {
    const { $schema: _ignored, ...rest } = z.toJSONSchema(zod, { io: 'input', unrepresentable: 'any' });
    return rest;
  };
  const order = schema(OrderBodySchema);
  const meterParam = { name: 'meterId', in: 'path', required: true, schema: { type: 'string' } };
  const guarded = (policy: string, summary: string) => ({
    summary,
    security: [{ bearer: [] }],
    description: `Bearer access token from the verifier for policy \`${policy}\`.`,
  });
  const refused = [
    'ERR_AUTH_REQUIRED',
    'ERR_AUTH_INVALID',
    'ERR_AUTH_EXPIRED',
    'ERR_VC_REVOKED',
    'ERR_VC_SUSPENDED',
    'ERR_POLICY_DENIED',
  ] as const;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tessera energy market',
      version: '0.1.0',
      description:
        'A neighbourhood energy market: a uniform-price call auction per trading period between feed-in and retail ' +
        'tariffs, bills reconciled against meter readings, settlement on chain in energy credits. Energy in Wh, prices in ' +
        'µ€/kWh, money in n€ (integers).',
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
        OrderBody: order,
        GatewayBody: schema(GatewayBody),
        TopUpBody: schema(TopUpBody),
      },
    },
    paths: {
      '/energy/meters/{meterId}/orders': {
        post: {
          summary: 'Place a bid or an offer for a meter in a trading period',
          security: [{ bearer: [] }],
          description:
            'Bearer access token from the verifier for policy `energy.order.place`: an EnergyProsumer credential whose ' +
            'meterId is the path’s. Offers need a producer or prosumer credential.',
          parameters: [{ name: 'meterId', in: 'path', required: true, schema: { type: 'string' } }],
          requestBody: { required: true, content: json(ref('OrderBody')) },
          responses: {
            '201': { description: 'accepted; the order and its period' },
            ...errors(
              'ERR_JSON_MALFORMED',
              'ERR_BODY_TOO_LARGE',
              'ERR_AUTH_REQUIRED',
              'ERR_AUTH_INVALID',
              'ERR_AUTH_EXPIRED',
              'ERR_VC_REVOKED',
              'ERR_VC_SUSPENDED',
              'ERR_FORBIDDEN',
              'ERR_POLICY_DENIED',
              'ERR_MARKET_ORDER_INVALID',
              'ERR_MARKET_AMOUNT_OUT_OF_RANGE',
              'ERR_MARKET_DUPLICATE_ORDER',
              'ERR_MARKET_PERIOD_CLOSED',
              'ERR_MARKET_TOO_MANY_ORDERS',
              'ERR_VC_STATUS_UNAVAILABLE',
            ),
          },
        },
      },
      '/energy/meters/{meterId}/gateway': {
        post: {
          ...guarded(
            'energy.meter.gateway',
            'Bind a gateway device to a meter: its readings (MQTT, after its handshake) are then the meter’s',
          ),
          parameters: [meterParam],
          requestBody: { required: true, content: json(ref('GatewayBody')) },
          responses: {
            '200': { description: 'the binding: meterId, participant, deviceId, nameplateW' },
            ...errors('ERR_VALIDATION', 'ERR_DEVICE_NOT_OWNER', 'ERR_CONFLICT', 'ERR_DEVICE_UNKNOWN', ...refused),
          },
        },
      },
      '/energy/meters/{meterId}/account': {
        get: {
          ...guarded(
            'energy.meter.read',
            'The holder’s account: its EnergyCredit balance (n€), the meter, the current period',
          ),
          parameters: [meterParam],
          responses: { '200': { description: 'the account' }, ...errors('ERR_MARKET_ACCOUNT_UNKNOWN', ...refused) },
        },
      },
      '/energy/meters/{meterId}/bills': {
        get: {
          ...guarded('energy.meter.read', 'The holder’s bills: per closed period and per calendar month, money in n€'),
          parameters: [meterParam],
          responses: { '200': { description: 'the bills' }, ...errors(...refused) },
        },
      },
      '/energy/credits': {
        post: {
          ...guarded('energy.credits.mint', 'Credit a participant’s prepaid account in EnergyCredit (Operator)'),
          requestBody: { required: true, content: json(ref('TopUpBody')) },
          responses: {
            '200': { description: 'minted: participant, account, amountNanoEur, txHash' },
            ...errors(
              'ERR_VALIDATION',
              'ERR_MARKET_AMOUNT_OUT_OF_RANGE',
              'ERR_MARKET_ACCOUNT_UNKNOWN',
              'ERR_CHAIN_TX_FAILED',
              ...refused,
            ),
          },
        },
      },
      '/energy/periods/{periodId}': {
        get: {
          summary: 'A closed period: price, volume, digests, bills and the on-chain settlement state',
          parameters: [{ name: 'periodId', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } }],
          responses: { '200': { description: 'the period' }, ...errors('ERR_NOT_FOUND') },
        },
      },
      '/energy/openapi.json': {
        get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } },
      },
    },
  };
}
