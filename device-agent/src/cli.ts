#!/usr/bin/env node
/**
 * The device agent CLI (`npm run device -- <command>`): enrol a gateway from its provisioning file, show its public
 * facts, run it (connect, authenticate, refresh, reconnect). A revoked or decommissioned device stops with its own exit
 * code; a suspended one waits for a resume and says so. `npm run device -- --help` lists the commands.
 */
import type { Logger } from '@tessera/protocol';
import {
  CliFailure,
  type Command,
  cliProgram,
  finishProgram,
  integerArg,
  isMain,
  runCli,
  urlArg,
} from '@tessera/runtime/cli';

/** `run` ended because the verifier said the device is revoked (final on chain). */
export const EXIT_REVOKED = 3;
/** `run` ended because the verifier said the device is decommissioned (final on chain). */
export const EXIT_DECOMMISSIONED = 4;

const RUN_EXIT_CODES = [
  { code: 0, meaning: 'stopped by SIGINT or SIGTERM' },
  { code: EXIT_REVOKED, meaning: 'the device is revoked: it will never be admitted again (error ERR_DEVICE_REVOKED)' },
  {
    code: EXIT_DECOMMISSIONED,
    meaning: 'the device is decommissioned: it will never be admitted again (error ERR_DEVICE_DECOMMISSIONED)',
  },
];

const finalExit = (code: 'ERR_DEVICE_REVOKED' | 'ERR_DEVICE_DECOMMISSIONED') =>
  code === 'ERR_DEVICE_REVOKED' ? EXIT_REVOKED : EXIT_DECOMMISSIONED;

/** The environment the agent reads, validated once. */
async function environment() {
  const { z } = await import('zod');
  const EnvSchema = z.object({
    TESSERA_DEVICE_MASTER_KEY: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, '64 hex characters')
      .optional(),
    TESSERA_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  });
  const env = EnvSchema.safeParse(process.env);
  if (!env.success)
    throw new CliFailure(
      'ERR_CONFIG_INVALID',
      env.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  return env.data;
}

async function openStore(state: string, o: { enrolled: boolean } = { enrolled: true }) {
  const env = await environment();
  const { existsSync } = await import('node:fs');
  if (o.enrolled && !existsSync(state))
    throw new CliFailure('ERR_NOT_FOUND', `no device is enrolled in ${state}; run \`npm run device -- enrol\` first`);
  const { DeviceKeyStore } = await import('./store.js');
  const store = DeviceKeyStore.open(state, env.TESSERA_DEVICE_MASTER_KEY);
  if (o.enrolled && !store.enrolled)
    throw new CliFailure('ERR_NOT_FOUND', `no device is enrolled in ${state}; run \`npm run device -- enrol\` first`);
  return { env, store };
}

export function deviceProgram(): Command {
  const program = cliProgram({
    name: 'npm run device --',
    description:
      "A gateway's device agent: its secret and DID key sealed in a state directory (0700/0600), the MQTT handshake with the stack's broker, session refresh and reconnects.",
    exitCodes: RUN_EXIT_CODES.filter((c) => c.code !== 0).map((c) => ({ ...c, meaning: `run: ${c.meaning}` })),
    environment: [
      ['TESSERA_DEVICE_MASTER_KEY', '64 hex characters: the sealing key, instead of <state>/master.key'],
      ['TESSERA_LOG_LEVEL', 'debug, info (default), warn or error: the JSON log on stdout while running'],
    ],
    examples: [
      'npm run -s device -- enrol --state .device --provisioning prov/0x….json',
      'npm run -s device -- run --state .device',
    ],
  });

  program
    .command('enrol')
    .description(
      'seal the secret and a new DID key from a provisioning file into the state directory; print the device id, DID and address (the owner commissions that DID)',
    )
    .requiredOption('--state <dir>', 'state directory (created 0700)')
    .requiredOption('--provisioning <file>', 'the provisioning file from `npm run admin -- devices register`')
    .action(async (o: { state: string; provisioning: string }) => {
      const { readFileSync } = await import('node:fs');
      const { store } = await openStore(o.state, { enrolled: false });
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(o.provisioning, 'utf8'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code) throw e;
        throw new CliFailure('ERR_JSON_MALFORMED', `${o.provisioning} is not JSON`);
      }
      console.log(JSON.stringify(store.enrol(doc)));
      console.error('enrolled; delete the provisioning file now (it holds the secret in clear)');
    });

  program
    .command('show')
    .description('print the public facts as JSON (never the secret or the key)')
    .requiredOption('--state <dir>', 'state directory')
    .action(async (o: { state: string }) => {
      const { store } = await openStore(o.state);
      const id = store.load();
      const final = store.finalState();
      console.log(
        JSON.stringify({
          deviceId: id.deviceId,
          did: id.did,
          fingerprint: id.fingerprint,
          brokerUrl: id.brokerUrl,
          ...(final ? { final } : {}),
        }),
      );
      id.secret.fill(0);
    });

  program
    .command('run')
    .description(
      'connect, authenticate, refresh and reconnect until stopped; a suspended device waits for a resume, a revoked or decommissioned one stops',
    )
    .requiredOption('--state <dir>', 'state directory')
    .option('--broker <url>', 'MQTT broker (default: brokerUrl from the provisioning file)', urlArg)
    .option('--retry-max <seconds>', 'longest wait between two connection attempts', integerArg(1, 3600), 60)
    .action(async (o: { state: string; broker?: string; retryMax: number }) => {
      const { env, store } = await openStore(o.state);
      const final = store.finalState();
      if (final) {
        const what = final.code === 'ERR_DEVICE_REVOKED' ? 'revoked' : 'decommissioned';
        throw new CliFailure(
          final.code,
          `this device was ${what} (the verifier said so at ${final.at}); it cannot be admitted again. Enrol a new provisioning file to start over.`,
          finalExit(final.code),
        );
      }
      const { brokerUrl, ...identity } = store.load();
      const url = o.broker ?? brokerUrl;
      if (!url)
        throw new CliFailure('ERR_USAGE', 'no broker URL: pass --broker or put brokerUrl in the provisioning file');
      const [{ default: pino }, { LOG_REDACT_PATHS }, { DeviceAgent, DEFAULT_BACKOFF }] = await Promise.all([
        import('pino'),
        import('@tessera/protocol'),
        import('./agent.js'),
      ]);
      const log = pino({ level: env.TESSERA_LOG_LEVEL, redact: [...LOG_REDACT_PATHS] }) as unknown as Logger;
      const backoff = { initialMs: Math.min(DEFAULT_BACKOFF.initialMs, o.retryMax * 1000), maxMs: o.retryMax * 1000 };
      const agent = new DeviceAgent({ identity, brokerUrl: url, log, backoff });
      agent.on('rogue', () => log.error({ event: 'rogue_server', brokerUrl: url }, 'the server failed its proof'));
      agent.on('suspended', () =>
        console.error('device suspended: waiting for an operator to resume it (the agent keeps trying)'),
      );
      agent.on('unavailable', (u: { nextAttemptMs: number }) =>
        console.error(
          `the verifier cannot decide now (its chain does not answer); next attempt in ${Math.round(u.nextAttemptMs / 1000)} s`,
        ),
      );
      agent.on('refused', (r: { message: string; nextAttemptMs: number; suspended: boolean }) =>
        console.error(
          `${r.suspended ? 'still suspended' : `the broker refused the connection (${r.message})`}; next attempt in ${Math.round(r.nextAttemptMs / 1000)} s`,
        ),
      );
      const done = new Promise<number>((resolve) => {
        agent.once('final', ({ code }: { code: 'ERR_DEVICE_REVOKED' | 'ERR_DEVICE_DECOMMISSIONED' }) => {
          store.recordFinal(code);
          const what = code === 'ERR_DEVICE_REVOKED' ? 'revoked' : 'decommissioned';
          process.stderr.write(`error ${code}: the device is ${what}; the agent stops for good\n`);
          resolve(finalExit(code));
        });
        const stop = () => void agent.stop().then(() => resolve(0));
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      agent.start();
      process.exitCode = await done;
      process.exit();
    });

  program
    .command('reading')
    .description(
      "send one meter reading as the gateway (a meter simulator): connect, authenticate, publish {meterId, periodId, consumedWh, producedWh} on the device's telemetry/meter topic, disconnect",
    )
    .requiredOption('--state <dir>', 'state directory')
    .requiredOption('--meter <id>', 'the meter the gateway is bound to')
    .requiredOption(
      '--period <id>',
      "the trading period the reading is for (the energy account's currentPeriod)",
      integerArg(0),
    )
    .option('--consumed <Wh>', 'energy taken from the grid connection in the period (Wh)', integerArg(0), 0)
    .option('--produced <Wh>', 'energy fed in during the period (Wh)', integerArg(0), 0)
    .option('--broker <url>', 'MQTT broker (default: brokerUrl from the provisioning file)', urlArg)
    .option('--timeout <seconds>', 'give up when no session comes within this time', integerArg(1, 600), 30)
    .action(
      async (o: {
        state: string;
        meter: string;
        period: number;
        consumed: number;
        produced: number;
        broker?: string;
        timeout: number;
      }) => {
        const { env, store } = await openStore(o.state);
        const { brokerUrl, ...identity } = store.load();
        const url = o.broker ?? brokerUrl;
        if (!url)
          throw new CliFailure('ERR_USAGE', 'no broker URL: pass --broker or put brokerUrl in the provisioning file');
        const [{ default: pino }, { LOG_REDACT_PATHS, topics }, { DeviceAgent }] = await Promise.all([
          import('pino'),
          import('@tessera/protocol'),
          import('./agent.js'),
        ]);
        const log = pino({
          level: env.TESSERA_LOG_LEVEL === 'info' ? 'warn' : env.TESSERA_LOG_LEVEL,
          redact: [...LOG_REDACT_PATHS],
        }) as unknown as Logger;
        const agent = new DeviceAgent({ identity, brokerUrl: url, log, backoff: { initialMs: 500, maxMs: 2_000 } });
        const outcome = await new Promise<{ code?: string; message?: string }>((resolve) => {
          const timer = setTimeout(
            () => resolve({ code: 'ERR_UNAVAILABLE', message: `no session within ${o.timeout} s from ${url}` }),
            o.timeout * 1000,
          );
          agent.once('session', () => {
            clearTimeout(timer);
            resolve({});
          });
          agent.once('final', ({ code }: { code: string }) => {
            clearTimeout(timer);
            resolve({ code, message: 'the device will never be admitted again' });
          });
          agent.start();
        });
        try {
          if (outcome.code) throw new CliFailure(outcome.code as 'ERR_UNAVAILABLE', outcome.message ?? '');
          const topic = topics.telemetry(identity.deviceId, 'meter');
          const reading = { meterId: o.meter, periodId: o.period, consumedWh: o.consumed, producedWh: o.produced };
          await agent.publish(topic, JSON.stringify(reading));
          console.log(JSON.stringify({ topic, ...reading }));
          console.error(
            `sent: meter ${o.meter}, period ${o.period}, ${o.consumed} Wh consumed, ${o.produced} Wh produced`,
          );
        } finally {
          await agent.stop();
          identity.secret.fill(0);
        }
      },
    );

  return finishProgram(program, { 'npm run device -- run': RUN_EXIT_CODES.filter((c) => c.code !== 0) });
}

if (isMain(import.meta.url)) await runCli(deviceProgram());
