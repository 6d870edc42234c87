import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type EnergyBills, type EnergyPeriod, parseMetrics } from '../api';
import type { ChartSpec } from '../charts';
import { presentFor, useSession } from '../session';
import { Refusal, Section, short } from '../ui';

type Err = { code: string; message: string } | undefined;
/** How many periods back the charts and the book reach. */
const PERIODS_SHOWN = 24;

/** n€ (a decimal string) as euros with cents and a tenth of a cent. */
export function euros(nano: string | number | undefined): string {
  if (nano === undefined) return '–';
  const n = BigInt(nano);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const milli = (abs + 500_000n) / 1_000_000n; // thousandths of a euro
  return `${neg ? '−' : ''}${milli / 1000n}.${String(milli % 1000n).padStart(3, '0')} €`;
}
const kwh = (wh: number | undefined) => (wh === undefined ? '–' : (wh / 1000).toLocaleString('en'));
/** µ€/kWh as ct/kWh. */
const cents = (micro: number | null | undefined) =>
  micro === null || micro === undefined ? '–' : (micro / 10_000).toLocaleString('en', { maximumFractionDigits: 3 });

/** A Vega-Lite chart, drawn once the chart code (loaded on this page only) is there. */
function Chart({ spec, name }: { spec: ChartSpec; name: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<Err>();
  const key = JSON.stringify(spec);
  useEffect(() => {
    let alive = true;
    let release: (() => void) | undefined;
    void import('../charts')
      .then(async ({ drawChart }) => {
        if (!alive || !ref.current) return;
        ref.current.replaceChildren();
        release = await drawChart(ref.current, spec);
        if (!alive) release();
        else ref.current.dataset.drawn = 'true';
      })
      .catch((e: unknown) => setError({ code: 'ERR_UNAVAILABLE', message: `the chart did not draw: ${String(e)}` }));
    return () => {
      alive = false;
      release?.();
    };
  }, [key]);
  return (
    <>
      <div ref={ref} class="chart" data-chart={name} />
      <Refusal error={error} />
    </>
  );
}

function periodCharts(periods: EnergyPeriod[], periodMs: number): { price: ChartSpec; volume: ChartSpec } {
  const values = periods.map((p) => ({
    start: new Date(p.periodId * periodMs).toISOString(),
    price: p.priceMicroEurPerKwh === null ? null : p.priceMicroEurPerKwh / 10_000,
    volume: p.volumeWh / 1000,
  }));
  const x = { field: 'start', type: 'temporal' as const, title: 'period start' };
  return {
    price: {
      description: 'Clearing price per trading period, in euro cents per kWh',
      title: 'Clearing price (ct/kWh)',
      width: 'container',
      height: 180,
      data: { values },
      mark: { type: 'line', point: true, color: '#0b5cad' },
      encoding: { x, y: { field: 'price', type: 'quantitative', title: 'ct/kWh' } },
    } as ChartSpec,
    volume: {
      description: 'Energy cleared per trading period, in kWh',
      title: 'Volume cleared (kWh)',
      width: 'container',
      height: 180,
      data: { values },
      mark: { type: 'bar', color: '#1e6b33' },
      encoding: { x, y: { field: 'volume', type: 'quantitative', title: 'kWh' } },
    } as ChartSpec,
  };
}

/**
 * Bills of the meters the policy opens to the wallet's credentials (decided by the stack's credential core without a
 * presentation), each read with a token the wallet presents its credential for.
 */
function Bills() {
  const s = useSession();
  const meters = s.walletAccess?.meters ?? [];
  const [bills, setBills] = useState<EnergyBills & { meterId: string }>();
  const [error, setError] = useState<Err>();
  const [busy, setBusy] = useState(false);
  return (
    <Section title="Bills per meter" id="bills">
      <p>
        A meter's bills are its holder's: the wallet presents the meter's EnergyProsumer credential to the verifier for
        them{s.holder ? '' : ' (unlock a wallet that holds one)'}. The meters offered are those the policy opens to the
        wallet's credentials.
      </p>
      {meters.length > 0 ? (
        <form
          class="filters"
          id="bills-form"
          onSubmit={async (e) => {
            e.preventDefault();
            const meterId = String(new FormData(e.currentTarget).get('meterId') ?? '').trim();
            setError(undefined);
            setBusy(true);
            try {
              const t = await presentFor(`/energy/meters/${meterId}/bills`, 'GET');
              if (!t.ok) return setError(t);
              const r = await api.energyBills(t.token, meterId);
              if (!r.ok) return setError(r.error);
              setBills({ ...r.value, meterId });
            } finally {
              setBusy(false);
            }
          }}
        >
          <label for="bills-meter">Meter</label>
          <input id="bills-meter" name="meterId" required maxLength={64} list="wallet-meters" />
          <datalist id="wallet-meters">
            {meters.map((m) => (
              <option key={m} value={m} />
            ))}
          </datalist>
          <button type="submit" disabled={busy}>
            Show bills
          </button>
        </form>
      ) : (
        <p class="muted" id="no-meters">
          The policy opens no meter's bills to {s.holder ? "this wallet's credentials" : 'this session'}.
        </p>
      )}
      <Refusal error={error} />
      {bills ? (
        <div data-bills={bills.meterId}>
          <h3>Per month</h3>
          <BillTable rows={bills.months} first="month" />
          <h3>Per period</h3>
          <BillTable rows={bills.periods} first="periodId" />
        </div>
      ) : null}
    </Section>
  );
}

type BillRow = EnergyBills['periods'][number] | EnergyBills['months'][number];

function BillTable({ rows, first }: { rows: BillRow[]; first: 'month' | 'periodId' }) {
  if (rows.length === 0) return <p class="muted">No bill yet.</p>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">{first === 'month' ? 'Month' : 'Period'}</th>
          <th scope="col">Consumed (kWh)</th>
          <th scope="col">Produced (kWh)</th>
          <th scope="col">Bought locally (kWh)</th>
          <th scope="col">Sold locally (kWh)</th>
          <th scope="col">From the grid (kWh)</th>
          <th scope="col">To the grid (kWh)</th>
          <th scope="col">Net</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((b) => (
          <tr key={'month' in b ? b.month : b.periodId} data-bill-row>
            <th scope="row">{'month' in b ? b.month : b.periodId}</th>
            <td>{kwh(b.consumedWh)}</td>
            <td>{kwh(b.producedWh)}</td>
            <td>{kwh(b.boughtWh)}</td>
            <td>{kwh(b.soldWh)}</td>
            <td>{kwh(b.gridImportWh)}</td>
            <td>{kwh(b.gridExportWh)}</td>
            <td>{euros(b.net)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** The book of one closed period: bids from the highest limit down, offers from the lowest up, as the clearing ranks them. */
function ClosedBook({ period }: { period: EnergyPeriod | undefined }) {
  if (!period?.book) return null;
  const bids = period.book
    .filter((o) => o.side === 'bid')
    .sort((a, b) => b.limitPriceMicroEurPerKwh - a.limitPriceMicroEurPerKwh);
  const offers = period.book
    .filter((o) => o.side === 'offer')
    .sort((a, b) => a.limitPriceMicroEurPerKwh - b.limitPriceMicroEurPerKwh);
  return (
    <table id="closed-book" data-book-period={period.periodId}>
      <caption>
        Book of period {period.periodId}: {period.book.length} orders, cleared at {cents(period.priceMicroEurPerKwh)}{' '}
        ct/kWh
      </caption>
      <thead>
        <tr>
          <th scope="col">Side</th>
          <th scope="col">Order</th>
          <th scope="col">Energy (kWh)</th>
          <th scope="col">Limit (ct/kWh)</th>
          <th scope="col">Traded (kWh)</th>
        </tr>
      </thead>
      <tbody>
        {[...bids, ...offers].map((o) => (
          <tr key={`${o.side}:${o.id}`} data-order={o.id}>
            <td>{o.side}</td>
            <td>{short(o.id, 12)}</td>
            <td>{kwh(o.energyWh)}</td>
            <td>{cents(o.limitPriceMicroEurPerKwh)}</td>
            <td data-filled>{kwh(o.filledWh)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Energy() {
  const [periodMs, setPeriodMs] = useState<number>();
  const [periods, setPeriods] = useState<EnergyPeriod[]>();
  const [orders, setOrders] = useState<{ side: string; value: number }[]>([]);
  const [error, setError] = useState<Err>();
  const [updated, setUpdated] = useState<Date>();

  useEffect(() => {
    let alive = true;
    let ms: number | undefined;
    const poll = async () => {
      if (ms === undefined) {
        const info = await api.info();
        if (!info.ok) return setError(info.error);
        ms = (info.value.energyPeriodSeconds ?? 900) * 1000;
        setPeriodMs(ms);
      }
      const current = Math.floor(Date.now() / ms);
      const ids = Array.from({ length: PERIODS_SHOWN }, (_, i) => current - PERIODS_SHOWN + i).filter((p) => p >= 0);
      const [answers, metrics] = await Promise.all([Promise.all(ids.map((p) => api.energyPeriod(p))), api.metrics()]);
      if (!alive) return;
      // a period that is not closed (or saw no order) is not there: the market answers ERR_NOT_FOUND for it
      const failed = answers.find((a) => !a.ok && a.error.code !== 'ERR_NOT_FOUND');
      setError(failed && !failed.ok ? failed.error : undefined);
      setPeriods(answers.flatMap((a) => (a.ok ? [a.value] : [])));
      if (metrics.ok) {
        const f = parseMetrics(metrics.value);
        setOrders(
          [...f.entries()]
            .filter(([k]) => k.startsWith('tessera_energy_orders_total{'))
            .map(([k, value]) => ({ side: /side="([^"]*)"/.exec(k)?.[1] ?? '?', value })),
        );
      }
      setUpdated(new Date());
    };
    void poll();
    const t = setInterval(poll, 5_000);
    return () => {
      alive = false;
      clearInterval(t);
    };
  }, []);

  const charts = periods && periodMs && periods.length > 0 ? periodCharts(periods, periodMs) : undefined;
  return (
    <>
      <h1>Energy market</h1>
      <p class="muted" aria-live="polite">
        {periodMs ? `Trading periods of ${periodMs / 1000} s; ` : ''}the last {PERIODS_SHOWN} periods, updated every 5 s
        {updated ? `, last at ${updated.toLocaleTimeString()}` : ''}.
      </p>
      <Refusal error={error} />
      <Section title="Clearing prices and volumes" id="clearing">
        {charts ? (
          <div class="charts">
            <Chart name="price" spec={charts.price} />
            <Chart name="volume" spec={charts.volume} />
          </div>
        ) : (
          <p class="muted" data-no-periods>
            {periods ? 'No period closed with orders in this window yet.' : 'Loading…'}
          </p>
        )}
      </Section>
      <Section title="Order book" id="book">
        <p>
          Orders stay private to their participants while a period trades (sealed bids); once it closes, the market
          publishes its book: every order with what it traded, and its digest, which the on-chain settlement commits to.
        </p>
        <dl class="figures">
          {orders.map((o) => (
            <div key={o.side} data-orders={o.side}>
              <dt>Orders placed ({o.side})</dt>
              <dd>{o.value}</dd>
            </div>
          ))}
        </dl>
        <table id="periods">
          <thead>
            <tr>
              <th scope="col">Period</th>
              <th scope="col">Start</th>
              <th scope="col">Rule</th>
              <th scope="col">Orders</th>
              <th scope="col">Trades</th>
              <th scope="col">Price (ct/kWh)</th>
              <th scope="col">Volume (kWh)</th>
              <th scope="col">Book digest</th>
              <th scope="col">Settlement</th>
            </tr>
          </thead>
          <tbody>
            {[...(periods ?? [])].reverse().map((p) => (
              <tr key={p.periodId} data-period={p.periodId}>
                <th scope="row">{p.periodId}</th>
                <td>{periodMs ? new Date(p.periodId * periodMs).toLocaleTimeString() : ''}</td>
                <td>{p.rule}</td>
                <td>{p.orders}</td>
                <td>{p.trades}</td>
                <td data-price>{cents(p.priceMicroEurPerKwh)}</td>
                <td>{kwh(p.volumeWh)}</td>
                <td title={p.bookHash}>{short(p.bookHash, 10)}</td>
                <td>{p.settlement ? p.settlement.status : '–'}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <ClosedBook period={[...(periods ?? [])].reverse().find((p) => (p.book?.length ?? 0) > 0)} />
      </Section>
      <Bills />
    </>
  );
}
