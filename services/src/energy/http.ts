import { type Logger, silentLogger, TesseraError, GUARD_ERRORS } from '@tessera/protocol';
import { attachOpenApi, errorHandler, type HttpApi, jsonBody } from '@tessera/runtime/http';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { ClosedPeriod } from './market/book.js';
import type { EnergyMarket } from './market-service.js';
import { EnergyPeriod, newEnergyApi, OrderAccepted, OrderBody } from './bodies.js';
import { z } from 'zod';

export interface EnergyRouterDeps {
  market: EnergyMarket;
  /** The credential core's guard (`Verifier.guard`): a revoked credential stops trading at once. */
  guard: (options: RequireCredentialsOptions) => RequestHandler;
  logger?: Logger;
  /** Absolute URL the router is mounted at, for the OpenAPI document's server. */
  publicUrl?: string;
  /** The API the routes are declared in (the part's, when it adds routes of its own); default a new one. */
  api?: HttpApi;
}

const ORDERS = '/energy/meters/:meterId/orders';

const money = (n: bigint) => n.toString();

/**
 * What a closed period leaves over across the participants and the grid, which must be nothing: the metered energy
 * the participants took net (consumed − produced) less what the grid delivered net (import − export), in Wh, and what
 * the participants paid net less what the grid took net (received − paid), in n€ (trades between participants cancel).
 */
export function periodBalance(s: {
  bills: readonly { consumedWh: number; producedWh: number; net: bigint }[];
  grid: { importWh: number; exportWh: number; received: bigint; paid: bigint };
}): { energyWh: number; moneyNanoEur: string } {
  const energy = s.bills.reduce((a, b) => a + b.consumedWh - b.producedWh, 0) - (s.grid.importWh - s.grid.exportWh);
  const money = s.bills.reduce((a, b) => a + b.net, 0n) - (s.grid.received - s.grid.paid);
  return { energyWh: energy, moneyNanoEur: money.toString() };
}

/**
 * The market's HTTP API. `POST /energy/meters/:meterId/orders` needs an access token granted for that very meter
 * (policy `energy.order.place`: an EnergyProsumer credential whose meterId is the route's); the holder DID becomes the
 * order's participant, and only a producer or prosumer credential may sell. `GET /energy/periods/:periodId` shows a
 * closed period: price, volume, digests and the on-chain settlement's outbox state; `GET /energy/openapi.json`
 * describes the API.
 */
/** A closed period's orders in submission order, each with the energy it traded (from the clearing's trades). */
function bookOf(closed: ClosedPeriod) {
  const filled = new Map<string, number>();
  for (const t of closed.clearing.trades) {
    filled.set(t.bidId, (filled.get(t.bidId) ?? 0) + t.energyWh);
    filled.set(t.offerId, (filled.get(t.offerId) ?? 0) + t.energyWh);
  }
  return closed.orders.map((o) => ({
    id: o.id,
    side: o.side,
    energyWh: o.energyWh,
    limitPriceMicroEurPerKwh: o.limitPrice,
    filledWh: filled.get(o.id) ?? 0,
  }));
}

export function buildEnergyRouter(deps: EnergyRouterDeps): Router {
  const log = deps.logger ?? silentLogger;
  const router = Router();

  const api = deps.api ?? newEnergyApi();

  // the token is checked before the body is even parsed; the market validates the order with the schema documented
  const guard = deps.guard({ resource: ORDERS });
  api.route(
    router,
    {
      method: 'post',
      path: '/energy/meters/{meterId}/orders',
      summary: 'Place a bid or an offer for a meter in a trading period',
      description:
        'Bearer access token from the verifier for policy `energy.order.place`: an EnergyProsumer credential whose ' +
        'meterId is the path’s. Offers need a producer or prosumer credential.',
      bearer: true,
      params: z.object({ meterId: z.string() }),
      body: OrderBody,
      validateBody: false,
      responses: { 201: { description: 'accepted; the order and its period', schema: OrderAccepted } },
      errors: [
        'ERR_JSON_MALFORMED',
        'ERR_BODY_TOO_LARGE',
        'ERR_UNSUPPORTED_MEDIA_TYPE',
        ...GUARD_ERRORS,
        'ERR_MARKET_ORDER_INVALID',
        'ERR_MARKET_AMOUNT_OUT_OF_RANGE',
        'ERR_MARKET_DUPLICATE_ORDER',
        'ERR_MARKET_PERIOD_CLOSED',
        'ERR_MARKET_TOO_MANY_ORDERS',
      ],
    },
    guard,
    jsonBody({ limit: 4 * 1024 }),
    async ({ params: { meterId } }, req, res) => {
      const grant = req.accessGrant!;
      // defence in depth: the policy granted this route, and the claims must say so too
      const credential = grant.credentials.find(
        (c) => c.types.includes('EnergyProsumerCredential') && c.claims['meterId'] === meterId,
      );
      if (!credential)
        throw new TesseraError('ERR_POLICY_DENIED', `no EnergyProsumer credential for meter ${meterId} in this token`);
      const body = req.body as Record<string, unknown> | undefined;
      if (body?.['side'] === 'offer' && credential.claims['role'] === 'consumer')
        throw new TesseraError(
          'ERR_POLICY_DENIED',
          'a consumer meter cannot sell: offers need a producer or prosumer credential',
        );
      const r = await deps.market.submitOrder(grant.holder, meterId, body);
      if (!r.ok) {
        res.status(new TesseraError(r.error.code, r.error.message).status).json({ error: r.error });
        return;
      }
      res.status(201).json(r.value);
    },
  );

  const document = (serverUrl: string) => api.openapi(serverUrl);
  router.get('/energy/openapi.json', (_req: Request, res: Response) => {
    res.json(document(deps.publicUrl ?? '/'));
  });

  api.route(
    router,
    {
      method: 'get',
      path: '/energy/periods/{periodId}',
      summary: 'A closed period: price, volume, its order book, digests, bills and the on-chain settlement state',
      description:
        'The book lists every order of the period in submission order with what it traded (`filledWh`), so the ' +
        'supply and demand curves and the clearing can be drawn and checked. Books are shown only once a period is ' +
        'closed: an open book would let a participant bid against the others’ sealed orders.',
      params: z.object({
        periodId: z
          .string()
          .regex(/^[0-9]+$/)
          .meta({ description: 'the period number' }),
      }),
      invalid: (_where, _e) => new TesseraError('ERR_NOT_FOUND', 'no such closed period'),
      responses: { 200: { description: 'the period', schema: EnergyPeriod } },
      errors: ['ERR_NOT_FOUND'],
    },
    async ({ params }, _req, res) => {
      const id = Number(params.periodId);
      const o = Number.isSafeInteger(id) ? await deps.market.outcome(id) : undefined;
      if (!o) throw new TesseraError('ERR_NOT_FOUND', `period ${params.periodId.slice(0, 20)} is not closed`);
      const row = (await deps.market.settlementNow(id)) ?? o.outbox;
      res.json({
        periodId: id,
        rule: o.closed.clearing.rule,
        priceMicroEurPerKwh: o.closed.clearing.price,
        volumeWh: o.closed.clearing.volumeWh,
        orders: o.closed.orders.length,
        trades: o.closed.clearing.trades.length,
        book: bookOf(o.closed),
        bookHash: o.closed.bookHash,
        allocationHash: o.closed.allocationHash,
        grid: {
          importWh: o.settlement.grid.importWh,
          exportWh: o.settlement.grid.exportWh,
          receivedNanoEur: money(o.settlement.grid.received),
          paidNanoEur: money(o.settlement.grid.paid),
        },
        bills: o.settlement.bills.map((b) => ({
          participant: b.participant,
          consumedWh: b.consumedWh,
          producedWh: b.producedWh,
          boughtWh: b.boughtWh,
          soldWh: b.soldWh,
          gridImportWh: b.gridImportWh,
          gridExportWh: b.gridExportWh,
          netNanoEur: money(b.net),
        })),
        balance: periodBalance(o.settlement),
        settlement: row ? { status: row.status, txHash: row.txHash, blockNumber: row.blockNumber } : null,
      });
    },
  );

  router.use(errorHandler(log, 'energy'));
  return attachOpenApi(router, document);
}
