/**
 * `npm run cluster -- [N]`: N replicas (default 3) behind HAProxy on this machine's PostgreSQL and Redis, a Mosquitto
 * 2 with dynamic security and an anvil of their own (stack/src/cluster.ts). Prints the URLs, stops everything on
 * Ctrl-C (replicas, load balancer, broker, chain; the cluster's database is dropped).
 */
import { haproxyBinary, startCluster } from './cluster.js';

const USAGE = `usage: npm run cluster -- [N]   (N replicas, 1 to 8, default 3)

Starts N replicas of the stack behind HAProxy on this machine's PostgreSQL (TESSERA_PG_ADMIN_URL, default
postgres://postgres@127.0.0.1:5432/postgres; a fresh database, dropped at the end) and Redis (TESSERA_REDIS_URL,
default redis://127.0.0.1:6379), a Mosquitto 2 with dynamic security and an anvil chain started for the cluster.
TESSERA_CLUSTER_PORT sets the load balancer's port (default 8080), the replicas take the next N ports.
Ctrl-C stops everything.`;

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log(USAGE);
  process.exit(0);
}
const n = args[0] === undefined ? 3 : Number(args[0]);
if (!Number.isInteger(n) || n < 1 || n > 8 || args.length > 1) {
  console.error(`error ERR_USAGE: ${args.join(' ')} is not a number of replicas from 1 to 8\n\n${USAGE}`);
  process.exit(2);
}
if (!haproxyBinary()) {
  console.error('error ERR_CONFIG_INVALID: HAProxy is not installed (apt-get install haproxy)');
  process.exit(1);
}
const lbPort = Number(process.env.TESSERA_CLUSTER_PORT ?? 8080);
if (!Number.isInteger(lbPort) || lbPort < 1 || lbPort + n > 65535) {
  console.error(
    `error ERR_CONFIG_INVALID: TESSERA_CLUSTER_PORT must be a port number: ${process.env.TESSERA_CLUSTER_PORT}`,
  );
  process.exit(2);
}

const started = Date.now();
console.log(`starting ${n} replica${n === 1 ? '' : 's'} behind HAProxy…`);
let stopping = 0;
let cluster: Awaited<ReturnType<typeof startCluster>> | undefined;
const shutdown = async (signal: string) => {
  // npm passes the terminal's Ctrl-C on as well: a second signal within a second is the same Ctrl-C
  if (stopping && Date.now() - stopping < 1000) return;
  if (stopping) {
    console.error('forced exit');
    process.exit(130);
  }
  stopping = Date.now();
  console.log(`${signal} received, stopping the cluster…`);
  await cluster?.stop();
  console.log('stopped');
  process.exit(0);
};
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

try {
  cluster = await startCluster({
    replicas: n,
    loadBalancer: { port: lbPort },
    httpPorts: Array.from({ length: n }, (_, i) => lbPort + 1 + i),
    onLine: (i, stream, line) => {
      // the replicas' warnings and errors (JSON on stderr) are passed on, prefixed with the replica
      // (the broker adapter's own start-up probe of max_packet_size is logged by design and left out)
      // (while stopping: the terminal's Ctrl-C stopped the chain and the broker too, and the replicas say so)
      if (stream === 'err' && line.trim() && !line.includes('-probe-') && !stopping)
        process.stderr.write(`[r${i + 1}] ${line}\n`);
    },
  });
} catch (e) {
  console.error(`error ${(e as { code?: string }).code ?? 'ERR_CLUSTER'}: ${(e as Error).message}`);
  process.exit(1);
}
if (stopping) await new Promise(() => {});
const c = cluster;
console.log(`tessera cluster ready in ${Date.now() - started} ms: ${n} replica${n === 1 ? '' : 's'} behind HAProxy`);
console.log(`  load balancer  ${c.url}   (console ${c.url}/, API docs ${c.url}/docs/, health ${c.url}/healthz)`);
for (const r of c.replicas)
  console.log(`  replica ${r.name.padEnd(6)} ${r.http}   pid ${r.child?.pid}   data ${r.dataDir}`);
console.log(`  chain          ${c.chain.rpcUrl}  (anvil, chain id ${c.chain.chainId})`);
console.log(`  postgresql     ${c.databaseUrl}`);
console.log(`  redis          ${c.redisUrl}`);
console.log(`  mqtt           ${c.mqtt.url}  (Mosquitto, dynamic security)`);
console.log(`  root admin wallet ${c.rootAdminWallet}`);
console.log('Ctrl-C stops everything.');
