/**
 * Energy market: clearing time for one period of 10,000 orders (issue 7: target under 50 ms), p50/p99 over repeated
 * runs, against the textbook matcher that scans the whole book for the best remaining bid and offer before every
 * match (same book, same run, same allocation — checked). Also the wall time of one simulated summer day for 200
 * households (load and solar models, 96 order books, clearing and settlement of every slot, off chain).
 */
import { type BenchReport, percentile, ratio } from '@tessera/protocol';
import type { BenchContext } from '../../scripts/bench.js';
import { allocationHash, clear } from '../src/energy/market/clearing.js';
import { clearNaive } from '../src/energy/market/naive.js';
import { randomBook } from '../src/energy/market/testing.js';
import { DEFAULT_TARIFFS } from '../src/energy/market/units.js';
import { SIM_DEFAULTS } from '../src/energy/sim/params.js';
import { simulate } from '../src/energy/sim/simulate.js';

const ORDERS = 10_000;
const RUNS = 200;
const NAIVE_RUNS = 7;

function timeRuns(n: number, books: ReturnType<typeof randomBook>[], f: (b: (typeof books)[number]) => unknown) {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const book = books[i % books.length]!;
    const t0 = performance.now();
    f(book);
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}

const round = (x: number) => Math.round(x * 1000) / 1000;

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const books = Array.from({ length: 10 }, (_, i) => randomBook(1000 + i, ORDERS));
  // same allocation from both matchers on the benchmark's own input
  for (const b of books.slice(0, 2))
    if (allocationHash(0, clear(b, DEFAULT_TARIFFS)) !== allocationHash(0, clearNaive(b, DEFAULT_TARIFFS)))
      throw new Error('the fast and the naive matcher disagree on the benchmark book');
  timeRuns(20, books, (b) => clear(b, DEFAULT_TARIFFS)); // warm-up (JIT)
  ctx.progress('market: clearing', 0, RUNS + NAIVE_RUNS);
  const ours = timeRuns(RUNS, books, (b) => clear(b, DEFAULT_TARIFFS));
  ctx.progress('market: clearing', RUNS, RUNS + NAIVE_RUNS);
  const naive: number[] = [];
  for (let i = 0; i < NAIVE_RUNS; i++) {
    naive.push(...timeRuns(1, [books[i % books.length]!], (b) => clearNaive(b, DEFAULT_TARIFFS)));
    ctx.progress('market: clearing', RUNS + i + 1, RUNS + NAIVE_RUNS);
  }
  naive.sort((a, b) => a - b);
  const trades = clear(books[0]!, DEFAULT_TARIFFS).trades.length;

  ctx.progress('market: simulated day', 0, 96);
  const day = simulate({ ...SIM_DEFAULTS, weeks: [{ ...SIM_DEFAULTS.weeks[0]!, days: 1 }] }, (_label, done, total) =>
    ctx.progress('market: simulated day', done, total),
  );

  const figures = {
    clear_10k_p50_ms: round(percentile(ours, 50)),
    clear_10k_p99_ms: round(percentile(ours, 99)),
    sim_summer_day_200_households_ms: Math.round(day.wallMs),
  };
  const baselines = {
    clear_10k_p50_ms: round(percentile(naive, 50)),
    clear_10k_p99_ms: round(percentile(naive, 99)),
  };
  return {
    bench: 'market',
    figures,
    baselines,
    ratios: {
      clear_10k_p50_ms: ratio(figures.clear_10k_p50_ms, baselines.clear_10k_p50_ms, false),
      clear_10k_p99_ms: ratio(figures.clear_10k_p99_ms, baselines.clear_10k_p99_ms, false),
    },
    machine: ctx.machine,
    notes: [
      `${ORDERS.toLocaleString('en-US')} orders per book (half bids, half offers, ${ORDERS / 4} participants), ~${trades} trades; ` +
        `${RUNS} timed runs over 10 books; baseline: scan-per-match matcher, ${NAIVE_RUNS} runs, same books, same allocation`,
      `target: clearing under 50 ms (issue 7); the simulated day is off chain (${day.weeks[0]!.summary.orders} orders in 96 periods)`,
    ],
  };
}
