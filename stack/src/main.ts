/**
 * `npm start`: read the configuration once, start the whole stack, print one `ready` line with the URLs.
 * Logs are structured JSON (pino) on stderr; stdout carries only the lines a person reads.
 * Ctrl-C (SIGINT) or SIGTERM stops everything, anvil included, without losing state.
 * Configuration is the environment (docs/configuration.md); the only flag is --help.
 */
import { type Command, CliFailure, cliProgram, finishProgram, isMain, runCli } from '@tessera/runtime/cli';

/** Another process holds the data directory (its pid, command and start time are in the message). */
export const EXIT_DATA_DIR_LOCKED = 3;
/** A second Ctrl-C while stopping: exit at once. */
export const EXIT_FORCED = 130;

async function start(): Promise<void> {
  // The configuration first: a mistake in it is reported before the stack's modules are loaded.
  const config = (await import('./config.js')).loadConfig();
  const [{ LOG_REDACT_PATHS, TesseraError }, { default: pino }, { startStack }] = await Promise.all([
    import('@tessera/protocol'),
    import('pino'),
    import('./stack.js'),
  ]);
  const log = pino(
    { level: config.logLevel, redact: { paths: LOG_REDACT_PATHS, censor: '[redacted]' }, base: { app: 'tessera' } },
    pino.destination(2),
  );
  let stack: Awaited<ReturnType<typeof startStack>>;
  try {
    stack = await startStack(config, { log, command: 'npm start' });
  } catch (e) {
    if (e instanceof TesseraError) {
      log.debug({ err: e }, 'startup failed');
      throw new CliFailure(e.code, e.message, e.code === 'ERR_DATA_DIR_LOCKED' ? EXIT_DATA_DIR_LOCKED : 1);
    }
    log.error({ err: e }, 'startup failed');
    throw e;
  }
  const ms = Math.round(process.uptime() * 1000); // from process start, module loading included
  console.log(
    `tessera ready in ${ms} ms  http ${stack.urls.http}  health ${stack.urls.healthz}  metrics ${stack.urls.metrics}  chain ${stack.urls.chainRpc}${stack.embeddedChain ? ' (embedded anvil)' : ''}  mqtt ${stack.urls.mqtt}`,
  );
  console.log(`  data directory ${config.dataDir}`);
  for (const [actor, id] of Object.entries(stack.identities)) console.log(`  ${actor.padEnd(9)} ${id.did}`);
  console.log(`  console  ${stack.urls.http}/  (sign in with the root admin wallet below)`);
  console.log(
    `  API docs ${stack.urls.http}/docs/  (OpenAPI 3.1 for the whole stack: ${stack.urls.http}/openapi.json)`,
  );
  console.log(`  issuer API ${stack.urls.http}/issuer`);
  console.log(`  verifier API ${stack.urls.http}/verifier`);
  for (const [name, url] of Object.entries(stack.services.urls)) console.log(`  ${name} ${url}`);
  const admin = stack.issuer.rootAdmin;
  console.log(`  root admin wallet ${admin.file}${admin.created ? ' (created now; keep it safe, mode 0600)' : ''}`);
  log.info({ ms, urls: stack.urls, contracts: stack.contracts }, 'ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) {
      console.error('forced exit');
      process.exit(EXIT_FORCED);
    }
    stopping = true;
    console.log(`${signal} received, stopping…`);
    await stack.stop();
    console.log('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}

export function startProgram(): Command {
  const program = cliProgram({
    name: 'npm start --',
    description:
      'Start the whole stack on embedded defaults (anvil chain, SQLite, in-process broker) or on the engines the environment names, and print one line containing `ready` with the URLs. Ctrl-C stops everything without losing state; the next start picks the data directory up again.',
    exitCodes: [
      { code: 0, meaning: 'stopped by Ctrl-C (SIGINT) or SIGTERM' },
      { code: EXIT_DATA_DIR_LOCKED, meaning: 'another process holds the data directory (error ERR_DATA_DIR_LOCKED)' },
      { code: EXIT_FORCED, meaning: 'a second Ctrl-C while stopping' },
    ],
    environment: [
      ['TESSERA_DATA_DIR', 'chain state, keys, SQLite database, deployments (default ./.tessera)'],
      ['TESSERA_HTTP_PORT', 'HTTP API, /healthz, /metrics (default 8080; 0 = any free port)'],
      ['TESSERA_MQTT_PORT', 'embedded MQTT broker for devices (default 1884)'],
      ['TESSERA_CHAIN_RPC_URL', 'use this EVM chain instead of the embedded anvil'],
      ['TESSERA_DATABASE_URL', 'postgres://… to use PostgreSQL instead of SQLite'],
      ['…', 'every option with its default: docs/configuration.md'],
    ],
  });
  program.action(start);
  return finishProgram(program);
}

if (isMain(import.meta.url)) await runCli(startProgram());
