import { EnergyCredit__factory, type Outbox } from '@tessera/contracts';
import { type DeviceState, err, type Logger, ok, type Result, TesseraError, GUARD_ERRORS } from '@tessera/protocol';
import { attachOpenApi, errorHandler, jsonBody } from '@tessera/runtime/http';
import type { BrokerAdapter, RequireCredentialsOptions } from '@tessera/verifier';
import { getAddress, type JsonRpcProvider } from 'ethers';
import { type Request, type RequestHandler, Router } from 'express';
import type { Registry } from 'prom-client';
import type { DataSource } from 'typeorm';
import {
  EnergyAccount,
  EnergyBills,
  EnergyMeterBinding,
  GatewayBodyDoc,
  MAX_TOP_UP_NANO_EUR,
  MeterParam,
  newEnergyApi,
  TopUpBodyDoc,
  TopUpDone,
  TopUpPending,
} from './bodies.js';
import { buildEnergyRouter } from './http.js';
import { monthlyBills } from './market/billing.js';
import { NANO_EUR_PER_EUR } from './market/units.js';
import { EnergyMarket } from './market-service.js';
import { DatabaseMarketStore } from './market-store.js';
import { MeterStore } from './meters-store.js';
import { attachMeterReadings } from './mqtt.js';
import { EnergySettlement, ethrAccount } from './settlement.js';

/** The grid supplier's float, minted once so it can pay feed-in before it has received anything (n€). */
export const GRID_FLOAT_NANO_EUR = 1_000_000n * NANO_EUR_PER_EUR;
export { MAX_TOP_UP_NANO_EUR } from './bodies.js';

const GATEWAY = '/energy/meters/:meterId/gateway';
const ACCOUNT = '/energy/meters/:meterId/account';
const CREDITS = '/energy/credits';
const BILLS = '/energy/meters/:meterId/bills';

/** What the energy market needs from the stack, and nothing more. */
export interface EnergyPartDeps {
  db: DataSource;
  outbox: Outbox;
  provider: JsonRpcProvider;
  /** Refuses with ERR_CHAIN_UNAVAILABLE while the chain is known to be down (nothing is recorded then). */
  assertChainUp?: () => void;
  /** The EnergyCredit token contract. */
  creditAddress: string;
  /** The grid supplier's account (buys what is not matched locally, pays feed-in). */
  gridAccount: string;
  /** The verifier's route guard. */
  guard: (options: RequireCredentialsOptions) => RequestHandler;
  /** Where the service is mounted (its OpenAPI servers entry). */
  publicUrl: string;
}

export interface EnergyPartOptions {
  /** Trading period length (ms); 15 minutes by default. */
  periodMs?: number;
  /** How often due periods are closed (ms). */
  closeEveryMs?: number;
  /** The stack's broker: meters publish readings on it once their handshake succeeded. */
  broker?: Pick<BrokerAdapter, 'subscribe'>;
  /** The stack's metrics registry (market figures join the stack's /metrics). */
  metrics?: Registry;
  /**
   * The device as `caller` may see it: its recorded owner DID and on-chain state (the issuer's device lifecycle,
   * which refuses a caller who is not its owner, manufacturer, an operator or an admin).
   */
  deviceView(deviceId: string, caller: string): Promise<Result<{ owner: string | null; state: DeviceState }>>;
}

export interface EnergyPart {
  router: Router;
  market: EnergyMarket;
  stop(): void;
}

/** The EnergyProsumer credential of the token for `meterId` (the policy checked it; the claims must agree). */
function prosumerCredential(req: Request, meterId: string) {
  const c = req.accessGrant?.credentials.find(
    (x) => x.types.includes('EnergyProsumerCredential') && x.claims['meterId'] === meterId,
  );
  if (!c)
    throw new TesseraError('ERR_POLICY_DENIED', `no EnergyProsumer credential for meter ${meterId} in this token`);
  return c;
}

/**
 * The production limit (W) a gateway binding records, from the claims the token's EnergyProsumer credential shows:
 * 0 for a consumer; a producer's or prosumer's nameplateKw, which must be shown (an SD-JWT VC presented for the
 * policy's claims alone hides it, and a limit of 0 would refuse every production reading later, silently).
 */
export function nameplateOf(claims: Record<string, unknown>): Result<number> {
  if (claims['role'] === 'consumer') return ok(0);
  const kw = claims['nameplateKw'];
  if (typeof kw === 'number' && Number.isFinite(kw) && kw > 0) return ok(Math.round(kw * 1000));
  return err(
    'ERR_POLICY_DENIED',
    `a ${typeof claims['role'] === 'string' ? claims['role'] : 'producing'} meter's credential must show nameplateKw (its production limit): present it in full, for example \`npm run wallet -- present … --format jwt_vc_json\``,
  );
}

/**
 * The energy market as the stack runs it (mounted at `/services/energy`): orders over HTTP behind the verifier's
 * guard, meter readings over MQTT from authenticated gateways, periods closed on a timer and settled on chain in
 * EnergyCredit through the outbox. Meters join by their holder binding a gateway device they own
 * (`POST /energy/meters/:meterId/gateway`), and operators credit participants' prepaid accounts
 * (`POST /energy/credits`).
 */
export async function startEnergyPart(ctx: EnergyPartDeps, o: EnergyPartOptions, log: Logger): Promise<EnergyPart> {
  const { creditAddress, gridAccount: grid } = ctx;
  await ensureGridFloat(ctx.provider, creditAddress, grid, ctx.outbox, log);
  const meters = new MeterStore(ctx.db);
  const market = new EnergyMarket({
    settlement: new EnergySettlement({ outbox: ctx.outbox, creditAddress, gridAccount: grid }),
    // books, readings, outcomes and meters in the database: replicas share them, and a restart keeps them
    store: new DatabaseMarketStore(ctx.db),
    meters,
    ...(o.periodMs ? { periodMs: o.periodMs } : {}),
    ...(o.metrics ? { metrics: o.metrics } : {}),
  });
  if (o.broker) {
    await attachMeterReadings(o.broker, market, {
      onRefused: (deviceId, e) => log.info({ deviceId, code: e.code, reason: e.message }, 'meter reading refused'),
    });
  }
  market.start(o.closeEveryMs ?? 5_000, (e) => log.warn({ err: e }, 'closing energy periods failed; will retry'));

  const { guard } = ctx;
  const router = Router();
  const api = newEnergyApi();
  router.use(buildEnergyRouter({ market, guard, logger: log, publicUrl: ctx.publicUrl, api }));

  api.route(
    router,
    {
      method: 'post',
      path: '/energy/meters/{meterId}/gateway',
      summary: 'Bind a gateway device to a meter: its readings (MQTT, after its handshake) are then the meter’s',
      description: 'Bearer access token from the verifier for policy `energy.meter.gateway`.',
      bearer: true,
      params: MeterParam,
      body: GatewayBodyDoc,
      responses: {
        200: { description: 'the binding', schema: EnergyMeterBinding },
      },
      errors: [...GUARD_ERRORS, 'ERR_VALIDATION', 'ERR_DEVICE_NOT_OWNER', 'ERR_CONFLICT', 'ERR_DEVICE_UNKNOWN'],
    },
    guard({ resource: GATEWAY }),
    jsonBody({ limit: 1024 }),
    async ({ params: { meterId }, body: { deviceId } }, req, res) => {
      const credential = prosumerCredential(req, meterId);
      const holder = req.accessGrant!.holder;
      const found = await o.deviceView(deviceId, holder);
      if (!found.ok) throw new TesseraError(found.error.code, found.error.message);
      const device = found.value;
      if (device.owner !== holder)
        throw new TesseraError('ERR_DEVICE_NOT_OWNER', `device ${deviceId} is not recorded as owned by ${holder}`);
      if (device.state !== 'Active')
        throw new TesseraError('ERR_CONFLICT', `device ${deviceId} is ${device.state}; commission it first`);
      const current = await meters.get(meterId);
      if (current && current.participant !== holder)
        throw new TesseraError('ERR_CONFLICT', `meter ${meterId} is bound to another participant`);
      const other = await meters.byDevice(deviceId);
      if (other && other.meterId !== meterId)
        throw new TesseraError('ERR_CONFLICT', `device ${deviceId} is already the gateway of meter ${other.meterId}`);
      const nameplate = nameplateOf(credential.claims);
      if (!nameplate.ok) throw new TesseraError(nameplate.error.code, nameplate.error.message);
      const registration = { meterId, participant: holder, deviceId, nameplateW: nameplate.value };
      await meters.save(registration);
      market.registerMeter(registration);
      log.info({ meterId, deviceId, participant: holder }, 'meter gateway bound');
      res.status(200).json(registration);
    },
  );

  api.route(
    router,
    {
      method: 'get',
      path: '/energy/meters/{meterId}/account',
      summary: 'The holder’s account: its EnergyCredit balance (n€), the meter, the current period',
      description: 'Bearer access token from the verifier for policy `energy.meter.read`.',
      bearer: true,
      params: MeterParam,
      responses: {
        200: { description: 'the account', schema: EnergyAccount },
      },
      errors: [...GUARD_ERRORS, 'ERR_MARKET_ACCOUNT_UNKNOWN'],
    },
    guard({ resource: ACCOUNT }),
    async ({ params: { meterId } }, req, res) => {
      prosumerCredential(req, meterId);
      const holder = req.accessGrant!.holder;
      const account = ethrAccount(holder);
      if (!account) throw new TesseraError('ERR_MARKET_ACCOUNT_UNKNOWN', `${holder} has no on-chain account`);
      const credit = EnergyCredit__factory.connect(creditAddress, ctx.provider);
      res.json({
        participant: holder,
        account,
        balanceNanoEur: (await credit.balanceOf(account)).toString(),
        meter: (await meters.get(meterId)) ?? null,
        currentPeriod: market.currentPeriod(),
        periodMs: market.periodMs,
      });
    },
  );

  // the holder's bills: per period closed since start, and per calendar month (Europe/Paris), money in n€
  api.route(
    router,
    {
      method: 'get',
      path: '/energy/meters/{meterId}/bills',
      summary: 'The holder’s bills: per closed period and per calendar month, money in n€',
      description: 'Bearer access token from the verifier for policy `energy.meter.read`.',
      bearer: true,
      params: MeterParam,
      responses: { 200: { description: 'the bills', schema: EnergyBills } },
      errors: [...GUARD_ERRORS],
    },
    guard({ resource: BILLS }),
    async ({ params: { meterId } }, req, res) => {
      prosumerCredential(req, meterId);
      const holder = req.accessGrant!.holder;
      const settlements = (await market.closedPeriods()).map((o) => o.settlement);
      const mine = (b: { participant: string }) => b.participant === holder;
      const text = (b: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(b).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]));
      res.json({
        participant: holder,
        periods: settlements.flatMap((s) =>
          s.bills.filter(mine).map((b) => ({ periodId: s.periodId, ...text({ ...b }) })),
        ),
        months: monthlyBills(settlements)
          .filter(mine)
          .map((b) => text({ ...b })),
      });
    },
  );

  api.route(
    router,
    {
      method: 'post',
      path: '/energy/credits',
      summary: 'Credit a participant’s prepaid account in EnergyCredit (Operator)',
      description: 'Bearer access token from the verifier for policy `energy.credits.mint`.',
      bearer: true,
      body: TopUpBodyDoc,
      responses: {
        200: { description: 'minted', schema: TopUpDone },
        202: {
          description:
            'recorded, not final yet (the chain stopped answering meanwhile): it will be minted once, and the same requestId returns the result',
          schema: TopUpPending,
        },
      },
      errors: [
        ...GUARD_ERRORS,
        'ERR_VALIDATION',
        'ERR_MARKET_AMOUNT_OUT_OF_RANGE',
        'ERR_MARKET_ACCOUNT_UNKNOWN',
        'ERR_CHAIN_TX_FAILED',
        'ERR_CHAIN_UNAVAILABLE',
      ],
    },
    guard({ resource: CREDITS }),
    jsonBody({ limit: 1024 }),
    async ({ body }, req, res) => {
      const amount = BigInt(body.amountNanoEur);
      if (amount > MAX_TOP_UP_NANO_EUR)
        throw new TesseraError('ERR_MARKET_AMOUNT_OUT_OF_RANGE', `a top-up is at most ${MAX_TOP_UP_NANO_EUR} n€`);
      const account = ethrAccount(body.participant);
      if (!account) throw new TesseraError('ERR_MARKET_ACCOUNT_UNKNOWN', 'the participant must be a did:ethr');
      const key = `energy-credit:${body.requestId}`;
      // a chain known to be down: refused before anything is recorded (a retry of a recorded one goes on)
      if (!(await ctx.outbox.get(key))) ctx.assertChainUp?.();
      let row: Awaited<ReturnType<Outbox['submit']>>;
      try {
        row = await ctx.outbox.submit(key, {
          kind: 'energy-credit.mint',
          to: creditAddress,
          data: EnergyCredit__factory.createInterface().encodeFunctionData('mint', [account, amount]),
        });
      } catch (e) {
        const recorded = await ctx.outbox.get(key).catch(() => undefined);
        if (recorded === null) throw e; // never recorded: it did not and will not happen
        // recorded: the outbox mints it once the chain answers; the same requestId returns the result
        res.status(202).json({
          pending: true,
          requestId: body.requestId,
          message: 'the top-up is recorded and will be minted; repeat the request with the same requestId',
        });
        return;
      }
      if (row.status === 'failed')
        throw new TesseraError('ERR_CHAIN_TX_FAILED', `the top-up was not minted and will not be: ${row.error}`);
      if (row.status !== 'mined') {
        res.status(202).json({ pending: true, requestId: body.requestId, message: 'the top-up is not final yet' });
        return;
      }
      log.info(
        { participant: body.participant, amountNanoEur: body.amountNanoEur, by: req.accessGrant?.holder },
        'credit top-up',
      );
      res
        .status(200)
        .json({ participant: body.participant, account, amountNanoEur: body.amountNanoEur, txHash: row.txHash });
    },
  );

  router.use(errorHandler(log, 'energy'));
  attachOpenApi(router, (serverUrl) => api.openapi(serverUrl));
  return { router, market, stop: () => market.stop() };
}

/** Mint the grid supplier's float once (idempotent: keyed by contract and grid account). */
async function ensureGridFloat(
  provider: JsonRpcProvider,
  creditAddress: string,
  grid: string,
  outbox: Outbox,
  log: Logger,
): Promise<void> {
  const credit = EnergyCredit__factory.connect(creditAddress, provider);
  try {
    if ((await credit.balanceOf(grid)) > 0n) return;
  } catch (e) {
    log.warn({ err: e }, 'reading the grid float failed; feed-in cannot be paid until it is minted');
    return;
  }
  // enqueued, not awaited: a chain that does not mine (an unfunded relayer on an external chain) must not stop start
  const pending = outbox.submit(`energy-grid-float:${creditAddress.toLowerCase()}:${getAddress(grid).toLowerCase()}`, {
    kind: 'energy-credit.mint',
    to: creditAddress,
    data: credit.interface.encodeFunctionData('mint', [grid, GRID_FLOAT_NANO_EUR]),
  });
  void pending.then(
    (row) => {
      if (row.status !== 'mined')
        log.warn({ error: row.error }, 'minting the grid float failed; feed-in cannot be paid');
    },
    (e: unknown) => log.warn({ err: e }, 'minting the grid float did not finish; the outbox keeps trying'),
  );
}
