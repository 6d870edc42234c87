/**
 * `npm run bench -- sessions`: N devices (default 10,000; TESSERA_SIM_SESSIONS) authenticated and connected
 * at once to the embedded aedes broker, held (TESSERA_SIM_HOLD_S, default 60 s) with a session refresh every
 * TESSERA_SIM_REFRESH_S (default 30 s); the stack's memory per connected session; then a broker restart (connect
 * storm) and the time until all are authenticated again; then (unless TESSERA_SIM_WARM_STORM=0) the same storm with
 * the devices enrolled with the new broker before it listens (storm_enrolled_first_*), a what-if for the verifier's
 * start order. Devices run as real DeviceAgents in a child process, so the
 * memory measured (heap + external after a full GC, and RSS, of this process: broker + handshake service) is the
 * stack's alone. Targets: under 20 KB per session, no errors, none refused wrongly.
 */
import type { BenchContext, BenchReport } from '@tessera/runtime';
import { type RssBreakdown, runSessionsScale } from './scale.js';

const kb = (bytes: number) => (bytes / 1024).toFixed(1);
const split = (b: RssBreakdown) =>
  `by where it sits: V8 heap in use ${kb(b.v8Live)} KB, V8 heap committed but not in use ${kb(b.v8CommittedNotLive)} KB, ` +
  `malloc heap ${kb(b.mallocHeap)} KB, rest ${kb(b.rest)} KB`;
/** The verifier's reasons for the handshakes it refused or could not decide in a phase, if any. */
const reasons = (r: Record<string, number>) =>
  Object.keys(r).length === 0
    ? ''
    : `; the verifier's reasons: ${Object.entries(r)
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n}× ${k}`)
        .join(', ')}`;
const int = (v: string | undefined, d: number) => (v && Number.isFinite(Number(v)) ? Math.floor(Number(v)) : d);

export async function run(ctx: BenchContext): Promise<BenchReport> {
  const devices = int(process.env.TESSERA_SIM_SESSIONS, 10_000);
  const holdS = int(process.env.TESSERA_SIM_HOLD_S, 60);
  const refreshEveryS = int(process.env.TESSERA_SIM_REFRESH_S, 30);
  const r = await runSessionsScale({
    devices,
    holdMs: holdS * 1000,
    refreshEveryS,
    progress: ctx.progress,
    warmStorm: process.env.TESSERA_SIM_WARM_STORM !== '0',
  });
  const sum = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  const holdErrors = sum(r.holdErrors.denied) + r.holdErrors.connectRefused + r.holdErrors.lostSessions;
  return {
    bench: 'sessions',
    figures: {
      devices: r.devices,
      sessions_authenticated: r.authenticated,
      broker_connected_clients: r.connectedClients,
      connect_all_s: Math.round(r.connectAllS * 10) / 10,
      stack_heap_per_session_kb: Math.round(r.heapPerSessionBytes / 102.4) / 10,
      stack_rss_per_session_kb: Math.round(r.rssPerSessionBytes / 102.4) / 10,
      hold_s: holdS,
      stack_heap_per_session_after_hold_kb: Math.round(r.heapPerSessionAfterHoldBytes / 102.4) / 10,
      stack_rss_per_session_after_hold_kb: Math.round(r.rssPerSessionAfterHoldBytes / 102.4) / 10,
      stack_rss_per_session_after_hold_memory_reducing_gc_kb:
        Math.round(r.rssPerSessionAfterHoldReducedBytes / 102.4) / 10,
      hold_refreshes: r.afterHold.refreshes,
      hold_sessions_at_end: r.afterHold.withSession,
      hold_errors: holdErrors,
      storm_reauthenticated: r.storm.reauthenticated,
      storm_all_back_s: Math.round(r.storm.allBackS * 10) / 10,
      storm_wrongly_refused_handshakes: sum(r.storm.denied),
      storm_refused_connects: r.storm.connectRefused,
      ...(r.warmStorm
        ? {
            storm_enrolled_first_reauthenticated: r.warmStorm.reauthenticated,
            storm_enrolled_first_all_back_s: Math.round(r.warmStorm.allBackS * 10) / 10,
            storm_enrolled_first_wrongly_refused_handshakes: sum(r.warmStorm.denied),
            storm_enrolled_first_refused_connects: r.warmStorm.connectRefused,
          }
        : {}),
      provision_s: Math.round(r.provisionS * 10) / 10,
    },
    baselines: {},
    ratios: {},
    machine: ctx.machine,
    notes: [
      `stack memory: ${r.baseline.heapUsedMb} MB heap+external / ${r.baseline.rssMb} MB RSS before connecting, ` +
        `${r.connected.heapUsedMb} / ${r.connected.rssMb} MB with ${r.authenticated} sessions, ` +
        `${r.afterHold.heapUsedMb} / ${r.afterHold.rssMb} MB after the hold; device process heap ${r.deviceProcessHeapMb} MB`,
      ...(r.rssBreakdownPerSession ? [`RSS per session with all connected, ${split(r.rssBreakdownPerSession)}`] : []),
      ...(r.rssBreakdownPerSessionAfterHold
        ? [`RSS per session at the end of the hold, ${split(r.rssBreakdownPerSessionAfterHold)}`]
        : []),
      `connect: ${r.authenticated}/${r.devices} authenticated in ${r.connectAllS.toFixed(1)} s${reasons(r.connectReasons)}`,
      `hold errors: denied ${JSON.stringify(r.holdErrors.denied)}, refused connects ${r.holdErrors.connectRefused}, ` +
        `disconnects ${r.holdErrors.disconnects}, sessions lost ${r.holdErrors.lostSessions}` +
        reasons(r.holdErrors.reasons),
      `connect storm: ${r.storm.reauthenticated}/${r.devices} back in ${r.storm.allBackS.toFixed(1)} s` +
        `${r.storm.timedOut ? ' (TIMED OUT)' : ''}; handshake refusals ${JSON.stringify(r.storm.denied)}; ` +
        `CONNECTs refused while the restarted verifier re-enrolled devices: ${r.storm.connectRefused}; ` +
        `other failed handshakes ${JSON.stringify(r.storm.other)}${reasons(r.storm.reasons)}`,
      ...(r.warmStorm
        ? [
            `connect storm, enrolled first: ${r.warmStorm.reauthenticated}/${r.devices} back in ` +
              `${r.warmStorm.allBackS.toFixed(1)} s${r.warmStorm.timedOut ? ' (TIMED OUT)' : ''}; handshake refusals ` +
              `${JSON.stringify(r.warmStorm.denied)}; CONNECTs refused: ${r.warmStorm.connectRefused}; ` +
              `other failed handshakes ${JSON.stringify(r.warmStorm.other)}${reasons(r.warmStorm.reasons)}`,
          ]
        : []),
    ],
  };
}
