import { type Logger, silentLogger, TesseraError } from '@tessera/protocol';
import { errorHandler, jsonBody } from '@tessera/runtime/http';
import type { RequireCredentialsOptions } from '@tessera/verifier';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { EnergyMarket } from './market-service.js';
import { energyOpenApi } from './openapi.js';

export interface EnergyRouterDeps {
  market: EnergyMarket;
  /** The credential core's guard (`Verifier.guard`): a revoked credential stops trading at once. */
  guard: (options: RequireCredentialsOptions) => RequestHandler;
  logger?: Logger;
  /** Absolute URL the router is mounted at, for the OpenAPI document's server. */
  publicUrl?: string;
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
export function buildEnergyRouter(deps: EnergyRouterDeps): Router {
  const log = deps.logger ?? silentLogger;
  const router = Router();

  // the token is checked before the body is even parsed
  const guard = deps.guard({ resource: ORDERS });
  router.post(ORDERS, guard, jsonBody({ limit: 4 * 1024 }), (req: Request, res: Response) => {
    const grant = req.accessGrant!;
    const meterId = String(req.params['meterId']);
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
    const r = deps.market.submitOrder(grant.holder, meterId, body);
    if (!r.ok) {
      res.status(new TesseraError(r.error.code, r.error.message).status).json({ error: r.error });
      return;
    }
    res.status(201).json(r.value);
  });

  router.get('/energy/openapi.json', (_req: Request, res: Response) => {
    res.json(energyOpenApi(deps.publicUrl ?? '/'));
  });

  router.get('/energy/periods/:periodId', async (req: Request, res: Response) => {
    const id = Number(req.params['periodId']);
    const o = Number.isSafeInteger(id) ? deps.market.outcome(id) : undefined;
    if (!o)
      throw new TesseraError('ERR_NOT_FOUND', `period ${String(req.params['periodId']).slice(0, 20)} is not closed`);
    const row = (await deps.market.settlementNow(id)) ?? o.outbox;
    res.json({
      periodId: id,
      rule: o.closed.clearing.rule,
      priceMicroEurPerKwh: o.closed.clearing.price,
      volumeWh: o.closed.clearing.volumeWh,
      orders: o.closed.orders.length,
      trades: o.closed.clearing.trades.length,
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
  });

  router.use(errorHandler(log, 'energy'));
  return router;
}
