import { HttpApi } from '@tessera/runtime/http';
import { z } from 'zod';
import { OrderSchema } from './market/order.js';

/**
 * The bodies of the energy market's meter and credit routes, one schema each: the route parses with it and the OpenAPI
 * document is generated from it, so the published rules are the enforced ones.
 */

/** A participant's did:ethr (its address, or its public key, is the account credited). */
const ETHR_DID_PATTERN = '^did:ethr:(?:(?:0x[0-9a-fA-F]+|[a-z0-9-]+):)?(?:0x[0-9a-fA-F]{40}|0x0[23][0-9a-fA-F]{64})$';

export const GatewayBody = z
  .strictObject({
    deviceId: z
      .string()
      .regex(/^0x[0-9a-f]{64}$/, 'must be 0x and 64 lowercase hex')
      .meta({
        description: 'the gateway device (DeviceRegistry id): Active on chain and owned by the caller',
        examples: [`0x${'5a'.repeat(32)}`],
      }),
  })
  .meta({ examples: [{ deviceId: `0x${'5a'.repeat(32)}` }] });

/** The most an operator credits in one top-up (n€): 10,000 €. */
export const MAX_TOP_UP_NANO_EUR = 10_000n * 1_000_000_000n;

export const TopUpBody = z
  .strictObject({
    requestId: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{8,100}$/, 'must be 8 to 100 letters, digits, . _ : -')
      .meta({
        description:
          'idempotency key chosen by the operator, 8 to 100 characters: the same request id never mints twice',
        examples: ['topup-2026-0001'],
      }),
    participant: z
      .string()
      .max(512)
      .meta({
        pattern: ETHR_DID_PATTERN,
        description: "the participant's did:ethr; its account is credited",
        examples: ['did:ethr:0x7a69:0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'],
      }),
    amountNanoEur: z
      .string()
      .regex(/^[1-9][0-9]{0,30}$/, 'must be a positive integer in n€ (as a string)')
      .meta({
        description: `n€ (10⁻⁹ €) as a decimal string, at most ${MAX_TOP_UP_NANO_EUR} (10,000 €): "20000000000" is 20 €`,
        examples: ['20000000000'],
      }),
  })
  .meta({
    examples: [
      {
        requestId: 'topup-2026-0001',
        participant: 'did:ethr:0x7a69:0x2c7536e3605d9c16a7a3d7b1898e529396a65c23',
        amountNanoEur: '20000000000',
      },
    ],
  });

/**
 * The order body: the order schema (the one the market validates orders with) without the fields the route fills in
 * (participant from the token, meter from the path).
 */
export const OrderBody = OrderSchema.omit({ participant: true, meterId: true })
  .extend({
    periodId: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('trading period (floor(ms / period length)); default: the current one'),
  })
  .meta({ id: 'OrderBody' });
export const GatewayBodyDoc = GatewayBody.meta({ id: 'GatewayBody' });
export const TopUpBodyDoc = TopUpBody.meta({ id: 'TopUpBody' });
export const MeterParam = z.object({ meterId: z.string() });

export const newEnergyApi = () =>
  new HttpApi({
    title: 'Tessera energy market',
    description:
      'A neighbourhood energy market: a uniform-price call auction per trading period between feed-in and retail ' +
      'tariffs, bills reconciled against meter readings, settlement on chain in energy credits. Energy in Wh, prices in ' +
      'µ€/kWh, money in n€ (integers).',
    bearerDescription: 'JWT (RFC 9068 at+jwt) access token from the verifier',
  });

/** A JSON answer described in words (its fields are listed in the description). */
export const described = (description: string) => ({ type: 'object', description });
