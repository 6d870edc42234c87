/**
 * `npm start`: read the configuration once, start the whole stack, print one `ready` line with the URLs.
 * Logs are structured JSON (pino) on stderr; stdout carries only the lines a person reads.
 * Ctrl-C (SIGINT) or SIGTERM stops everything, anvil included, without losing state.
 */
import { LOG_REDACT_PATHS, TesseraError } from '@tessera/protocol';
import pino from 'pino';
import { loadConfig } from './config.js';
import { startStack } from './stack.js';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (e) {
  const err = e as TesseraError;
  console.error(`error ${err.code ?? 'ERR_CONFIG_INVALID'}: ${err.message}`);
  process.exit(1);
}

const log = pino(
  { level: config.logLevel, redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' }, base: { app: 'tessera' } },
  pino.destination(2),
);

let stopping = false;
try {
  const stack = await startStack(config, { log });
  const ms = Math.round(process.uptime() * 1000); // from process start, module loading included
  console.log(
    `tessera ready in ${ms} ms  http ${stack.urls.http}  health ${stack.urls.healthz}  metrics ${stack.urls.metrics}  chain ${stack.urls.chainRpc}${stack.embeddedChain ? ' (embedded anvil)' : ''}  mqtt ${stack.urls.mqtt}`,
  );
  console.log(`  data directory ${config.dataDir}`);
  for (const [actor, id] of Object.entries(stack.identities)) console.log(`  ${actor.padEnd(9)} ${id.did}`);
  console.log(
    `  issuer API ${stack.urls.http}/issuer  (OpenAPI ${stack.urls.http}/issuer/openapi.json, docs ${stack.urls.http}/issuer/docs)`,
  );
  console.log(`  verifier API ${stack.urls.http}/verifier`);
  for (const [name, url] of Object.entries(stack.services.urls)) console.log(`  ${name} ${url}`);
  const admin = stack.issuer.rootAdmin;
  console.log(`  root admin wallet ${admin.file}${admin.created ? ' (created now; keep it safe, mode 0600)' : ''}`);
  log.info({ ms, urls: stack.urls, contracts: stack.contracts }, 'ready');

  const shutdown = async (signal: string) => {
    if (stopping) {
      console.error('forced exit');
      process.exit(130);
    }
    stopping = true;
    console.log(`${signal} received, stopping…`);
    await stack.stop();
    console.log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
} catch (e) {
  if (e instanceof TesseraError) {
    console.error(`error ${e.code}: ${e.message}`);
    log.debug({ err: e }, 'startup failed');
  } else {
    console.error(`error ERR_INTERNAL: ${(e as Error)?.message ?? e}`);
    log.error({ err: e }, 'startup failed');
  }
  process.exit(1);
}
