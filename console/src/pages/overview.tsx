import { useEffect, useRef, useState } from 'preact/hooks';
import { api, type HealthReport, parseMetrics } from '../api';
import { Refusal, Section } from '../ui';

const FIGURES: [string, string][] = [
  ['tessera_chain_block', 'Latest block'],
  ['tessera_chain_blocks_total', 'Blocks seen'],
  ['tessera_chain_transactions_total', 'Transactions'],
  ['tessera_chain_gas_used_total', 'Gas used'],
  ['tessera_chain_active_accounts', 'Active accounts'],
  ['tessera_chain_contracts', 'Contracts'],
];

/** A line of the last values (an SVG polyline; the figures are small and live). */
function Spark({ values, label }: { values: number[]; label: string }) {
  if (values.length < 2) return null;
  const min = Math.min(...values);
  const max = Math.max(...values);
  const pts = values
    .map((v, i) => `${(i / (values.length - 1)) * 200},${38 - ((v - min) / (max - min || 1)) * 36}`)
    .join(' ');
  return (
    <svg class="spark" viewBox="0 0 200 40" role="img" aria-label={label}>
      <polyline points={pts} fill="none" stroke="currentColor" stroke-width="2" />
    </svg>
  );
}

export function Overview() {
  const [health, setHealth] = useState<HealthReport>();
  const [figures, setFigures] = useState<Map<string, number>>(new Map());
  const [history, setHistory] = useState<number[]>([]);
  const [error, setError] = useState<{ code: string; message: string }>();
  const [updated, setUpdated] = useState<Date>();
  const alive = useRef(true);

  useEffect(() => {
    alive.current = true;
    const poll = async () => {
      const [h, m] = await Promise.all([api.health(), api.metrics()]);
      if (!alive.current) return;
      // /healthz answers 503 with the report when a part is down: show it all the same.
      if (h.ok) setHealth(h.value);
      else setError(h.error);
      if (m.ok) {
        const f = parseMetrics(m.value);
        setFigures(f);
        const block = f.get('tessera_chain_block');
        if (block !== undefined) setHistory((v) => [...v.slice(-59), block]);
        setError(undefined);
      }
      setUpdated(new Date());
    };
    void poll();
    const t = setInterval(poll, 2_000);
    return () => {
      alive.current = false;
      clearInterval(t);
    };
  }, []);

  const mqttRefused = [...figures.entries()].filter(([k]) => k.startsWith('tessera_mqtt_packets_refused_total'));
  const handshakes = labelled(figures, 'tessera_mqtt_handshakes_total');
  const energyRefusals = labelled(figures, 'tessera_energy_refusals_total');
  const orders = labelled(figures, 'tessera_energy_orders_total');
  return (
    <>
      <h1>Overview</h1>
      <p class="muted" aria-live="polite">
        Live: updated every 2 s{updated ? `, last at ${updated.toLocaleTimeString()}` : ''}.
      </p>
      <Refusal error={error} />
      <Section title="Chain" id="chain">
        <dl class="figures">
          {FIGURES.map(([k, label]) => (
            <div key={k}>
              <dt>{label}</dt>
              <dd data-figure={k}>{total(figures, k)?.toLocaleString('en') ?? '–'}</dd>
            </div>
          ))}
        </dl>
        <Spark values={history} label="latest block over the last two minutes" />
      </Section>
      <Section title="Health of every part" id="health">
        <table>
          <thead>
            <tr>
              <th scope="col">Part</th>
              <th scope="col">State</th>
              <th scope="col">Details</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(health?.parts ?? {}).map(([name, p]) => {
              const { ok, ...rest } = p;
              return (
                <tr key={name} data-part={name}>
                  <th scope="row">{name}</th>
                  <td class={ok ? 'ok' : 'bad'}>{ok ? 'ok' : 'down'}</td>
                  <td class="details">
                    {Object.entries(rest)
                      .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
                      .join(' · ')}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </Section>
      <Section title="MQTT sessions and handshakes" id="mqtt">
        <dl class="figures">
          <div>
            <dt>Connected clients</dt>
            <dd data-figure="mqtt-clients">{String(health?.parts.mqtt?.connectedClients ?? '–')}</dd>
          </div>
          {handshakes.map(({ labels, value }) => (
            <div key={JSON.stringify(labels)} data-handshakes={labels.outcome}>
              <dt>
                Handshakes {labels.outcome}
                {labels.code ? ` (${labels.code})` : ''}
              </dt>
              <dd>{value}</dd>
            </div>
          ))}
          {mqttRefused.map(([k, v]) => (
            <div key={k}>
              <dt>Packets refused {/phase="([^"]+)"/.exec(k)?.[1]?.replace('_', ' ') ?? ''}</dt>
              <dd>{v}</dd>
            </div>
          ))}
        </dl>
      </Section>
      <Section title="Energy market" id="market">
        <dl class="figures">
          <div>
            <dt>Last clearing price (µ€/kWh)</dt>
            <dd data-figure="energy-price">{figures.get('tessera_energy_clearing_price') ?? '–'}</dd>
          </div>
          <div>
            <dt>Periods cleared</dt>
            <dd>{figures.get('tessera_energy_periods_closed_total') ?? '–'}</dd>
          </div>
          <div>
            <dt>Trades</dt>
            <dd>{figures.get('tessera_energy_trades_total') ?? '–'}</dd>
          </div>
          <div>
            <dt>Traded locally (kWh)</dt>
            <dd>
              {figures.has('tessera_energy_traded_wh_total')
                ? (figures.get('tessera_energy_traded_wh_total')! / 1000).toLocaleString('en')
                : '–'}
            </dd>
          </div>
          {orders.map(({ labels, value }) => (
            <div key={labels.side}>
              <dt>Orders ({labels.side})</dt>
              <dd>{value}</dd>
            </div>
          ))}
          {energyRefusals.map(({ labels, value }) => (
            <div key={labels.code}>
              <dt>Refused {labels.code}</dt>
              <dd>{value}</dd>
            </div>
          ))}
        </dl>
      </Section>
    </>
  );
}

/** A metric's value, or the sum of its labelled series. */
function total(figures: Map<string, number>, name: string): number | undefined {
  const series = labelled(figures, name);
  return figures.get(name) ?? (series.length > 0 ? series.reduce((n, x) => n + x.value, 0) : undefined);
}

/** The series of a labelled metric: `name{a="x",b="y"} 3` → { labels: { a: 'x', b: 'y' }, value: 3 }. */
function labelled(figures: Map<string, number>, name: string): { labels: Record<string, string>; value: number }[] {
  const out: { labels: Record<string, string>; value: number }[] = [];
  for (const [k, value] of figures) {
    if (!k.startsWith(`${name}{`)) continue;
    const labels: Record<string, string> = {};
    for (const m of k.slice(name.length).matchAll(/(\w+)="([^"]*)"/g)) labels[m[1]!] = m[2]!;
    out.push({ labels, value });
  }
  return out;
}
