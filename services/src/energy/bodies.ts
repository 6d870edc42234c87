import { EVM_ADDRESS_PATTERN } from '@tessera/protocol';
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

// ---------------------------------------------------------------------------------------------------------------
// The answers, as the routes send them (checked against the real answers under TESSERA_CHECK_RESPONSES=1)

const wh = (description?: string) => {
  const s = z.number().int().min(0);
  return description ? s.meta({ description }) : s;
};
/** n€ as a decimal string (bigint amounts are sent as strings); `signed`: may be negative. */
const nanoEur = (description: string, signed = false) =>
  z
    .string()
    .regex(signed ? /^-?[0-9]+$/ : /^[0-9]+$/)
    .meta({ description });
const ADDRESS = z.string().regex(EVM_ADDRESS_PATTERN);
const DIGEST = z.string().regex(/^0x[0-9a-f]{64}$/);

/** An accepted order as the market keeps it: the order schema, with the participant and meter the route filled in. */
export const EnergyOrder = z.object(OrderSchema.shape).meta({
  id: 'EnergyOrder',
  description: 'an order as the market keeps it: `participant` is the token’s holder, `meterId` the path’s',
});

export const OrderAccepted = z.object({
  order: EnergyOrder,
  periodId: z.number().int().min(0).meta({ description: 'the trading period the order is in' }),
});

/** A participant's energy in a bill (Wh): the same in a period's bills and in a meter's. */
const billEnergy = {
  participant: z.string(),
  consumedWh: wh(),
  producedWh: wh(),
  boughtWh: wh('bought from other participants'),
  soldWh: wh('sold to other participants'),
  gridImportWh: wh('metered net import beyond what was bought locally, bought from the grid at retail'),
  gridExportWh: wh('metered net export beyond what was sold locally, sold to the grid at feed-in'),
};

/** A closed period as `GET /energy/periods/{periodId}` shows it. */
export const EnergyPeriod = z
  .object({
    periodId: z.number().int().min(0),
    rule: z.enum(['uniform', 'pay-as-bid']).meta({ description: 'the pricing rule it was cleared with' }),
    priceMicroEurPerKwh: z
      .number()
      .int()
      .nullable()
      .meta({ description: 'the uniform clearing price (µ€/kWh); null when nothing matched, or under pay-as-bid' }),
    volumeWh: wh('energy traded between participants'),
    orders: z.number().int().min(0).meta({ description: 'how many orders the book had' }),
    trades: z.number().int().min(0).meta({ description: 'how many trades the clearing made' }),
    book: z
      .array(
        z.object({
          id: z.string(),
          side: z.enum(['bid', 'offer']),
          energyWh: wh(),
          limitPriceMicroEurPerKwh: z.number().int().min(0),
          filledWh: wh('what the order traded'),
        }),
      )
      .meta({ description: 'every order of the period, in submission order' }),
    bookHash: DIGEST.meta({ description: 'sha256 of the order book, recorded on chain by the settlement' }),
    allocationHash: DIGEST.meta({ description: 'sha256 of the allocation (rule, price, trades), recorded on chain' }),
    grid: z
      .object({
        importWh: wh(),
        exportWh: wh(),
        receivedNanoEur: nanoEur('what the grid received for imports (n€)'),
        paidNanoEur: nanoEur('what the grid paid for exports (n€)'),
      })
      .meta({ description: 'the grid supplier’s side: what it delivered and took, and the money' }),
    bills: z.array(
      z.object({
        ...billEnergy,
        netNanoEur: nanoEur('what the participant pays net (negative: receives); the credit moved on chain', true),
      }),
    ),
    balance: z
      .object({ energyWh: z.number().int(), moneyNanoEur: nanoEur('n€ left over', true) })
      .meta({ description: 'what is left over across the participants and the grid: 0 Wh and "0" n€' }),
    settlement: z
      .object({
        status: z.enum(['pending', 'signed', 'mined', 'failed']),
        txHash: z.string().nullable(),
        blockNumber: z.number().int().nullable(),
      })
      .nullable()
      .meta({ description: 'the on-chain settlement as the outbox has it now; null when settlement is not on chain' }),
  })
  .meta({ id: 'EnergyPeriod' });

/** A meter's gateway binding (`POST /energy/meters/{meterId}/gateway`). */
export const EnergyMeterBinding = z
  .object({
    meterId: z.string(),
    participant: z.string().meta({ description: 'the holder DID that trades for the meter' }),
    deviceId: z.string().regex(/^0x[0-9a-f]{64}$/),
    nameplateW: z
      .number()
      .int()
      .min(0)
      .meta({ description: 'production limit (W) from the credential’s nameplateKw; 0 for a consumer' }),
  })
  .meta({ id: 'EnergyMeterBinding' });

export const EnergyAccount = z.object({
  participant: z.string().meta({ description: 'the holder DID' }),
  account: ADDRESS.meta({ description: 'its on-chain account (checksummed)' }),
  balanceNanoEur: nanoEur('its EnergyCredit balance (n€)'),
  meter: z
    .object({
      ...EnergyMeterBinding.shape,
      updatedAt: z.string().meta({ description: 'when it was bound (ISO 8601)' }),
    })
    .nullable()
    .meta({ description: 'the meter’s binding; null until a gateway is bound to it' }),
  currentPeriod: z.number().int().min(0).meta({ description: 'the period trading now: floor(ms / periodMs)' }),
  periodMs: z.number().int().min(1).meta({ description: 'trading period length (ms)' }),
});

/** A bill's amounts: energy in Wh, money in n€ as decimal strings. */
const billFields = {
  ...billEnergy,
  marketPaid: nanoEur('paid to other participants (n€)'),
  marketReceived: nanoEur('received from other participants (n€)'),
  gridPaid: nanoEur('paid to the grid for imports (n€)'),
  gridReceived: nanoEur('received from the grid for exports (n€)'),
  net: nanoEur('what the participant pays net (negative: receives), n€', true),
};

export const EnergyBills = z.object({
  participant: z.string(),
  periods: z
    .array(z.object({ periodId: z.number().int().min(0), ...billFields }))
    .meta({ description: 'one bill per closed period the holder took part in, oldest first' }),
  months: z
    .array(
      z.object({
        ...billFields,
        month: z
          .string()
          .regex(/^[0-9]{4}-[0-9]{2}$/)
          .meta({ description: 'YYYY-MM, Europe/Paris' }),
        periods: z.number().int().min(1).meta({ description: 'how many period bills it sums' }),
      }),
    )
    .meta({ description: 'the period bills summed per calendar month' }),
});

export const TopUpDone = z.object({
  participant: z.string(),
  account: ADDRESS.meta({ description: 'the account credited (checksummed)' }),
  amountNanoEur: z.string().regex(/^[1-9][0-9]*$/),
  txHash: z
    .string()
    .regex(/^0x[0-9a-fA-F]{64}$/)
    .meta({ description: 'the mint transaction' }),
});

export const TopUpPending = z.object({
  pending: z.literal(true),
  requestId: z.string(),
  message: z.string(),
});
