/**
 * Revocation to disconnect on Mosquitto 2 with dynamic security (an operator's suspend drops the live
 * session): connected, granted devices (each on its session login, as after a handshake) on a dedicated broker; the time from the verifier's `revoke` call to the
 * device seeing its connection closed. Baseline on the same broker and the same kind of device, same run: what an
 * operator script would do without the adapter, one `mosquitto_ctrl dynsec disableClient` per device (a new admin
 * connection per revoke). Also a burst: every remaining device revoked at once.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { deviceIdOf, deviceTopicPermissions } from '@tessera/protocol';
import { type BenchReport, BenchUnavailable, percentile, ratio } from '@tessera/runtime';
import mqtt, { type MqttClient } from 'mqtt';
import type { BenchContext } from '@tessera/runtime';
import { mosquittoAvailable, startDedicatedMosquittoAdapter } from '../src/broker/mosquitto-instance.js';

const SEQUENTIAL = 100;
const BASELINE = 50;
const BURST = 100;

interface Device {
  deviceId: string;
  /** The session login its granted connection uses. */
  login: string;
  password: string;
  client: MqttClient;
}

const closedAt = (c: MqttClient) =>
  new Promise<number>((resolve) => {
    if (!c.connected) resolve(performance.now());
    c.once('close', () => resolve(performance.now()));
  });

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), max: s[s.length - 1] ?? 0 };
};
const ms = (x: number) => Number(x.toFixed(2));

export async function run(ctx: BenchContext): Promise<BenchReport> {
  if (!mosquittoAvailable())
    throw new BenchUnavailable(
      'Mosquitto 2 with its dynamic-security plugin is not installed (apt-get install mosquitto): the bench revokes devices on it',
    );
  const adapter = await startDedicatedMosquittoAdapter();
  const devices: Device[] = [];
  try {
    await adapter.start();
    const total = SEQUENTIAL + BASELINE + BURST;
    for (let i = 0; i < total; i++) {
      const deviceId = deviceIdOf('bench', `${i}-${randomBytes(4).toString('hex')}`);
      const password = randomBytes(32).toString('base64url');
      await adapter.enrol({ deviceId, password });
      const connected = adapter.nextConnection(deviceId);
      const own = await mqtt.connectAsync(
        adapter.url,
        { clientId: deviceId, username: deviceId, password, protocolVersion: 4, reconnectPeriod: 0 },
        false,
      );
      // Granted as after a handshake: the grant is on the device's session login, and the device reconnects with it.
      const sessionPassword = randomBytes(32).toString('base64url');
      const granted = await adapter.grant({
        deviceId,
        did: 'did:ethr:0x7a69:0x0000000000000000000000000000000000000001',
        permissions: deviceTopicPermissions(deviceId),
        expiresAt: Date.now() + 3_600_000,
        connection: await connected,
        sessionPassword,
      });
      if (typeof granted !== 'object') throw new Error(`expected a session login, got ${JSON.stringify(granted)}`);
      const client = await mqtt.connectAsync(
        adapter.url,
        {
          clientId: deviceId,
          username: granted.login,
          password: sessionPassword,
          protocolVersion: 4,
          reconnectPeriod: 0,
        },
        false,
      );
      await own.endAsync(true).catch(() => {});
      devices.push({ deviceId, login: granted.login, password, client });
      ctx.progress('enrol, connect, grant', i + 1, total);
    }
    const sequential = devices.slice(0, SEQUENTIAL);
    const baseline = devices.slice(SEQUENTIAL, SEQUENTIAL + BASELINE);
    const burst = devices.slice(SEQUENTIAL + BASELINE);

    const ours: number[] = [];
    for (const [i, d] of sequential.entries()) {
      const closed = closedAt(d.client);
      const t0 = performance.now();
      await adapter.revoke(d.deviceId, { permanent: false, reason: 'bench' });
      ours.push((await closed) - t0);
      ctx.progress('adapter.revoke', i + 1, sequential.length);
    }

    const { host, port, admin } = adapter.instance;
    const cli: number[] = [];
    for (const [i, d] of baseline.entries()) {
      const closed = closedAt(d.client);
      const t0 = performance.now();
      await promisify(execFile)('mosquitto_ctrl', [
        '-h',
        host,
        '-p',
        String(port),
        '-u',
        admin.username,
        '-P',
        admin.password,
        'dynsec',
        'disableClient',
        d.login, // the login that holds the live connection
      ]);
      cli.push((await closed) - t0);
      ctx.progress('mosquitto_ctrl disableClient', i + 1, baseline.length);
    }

    const t0 = performance.now();
    const closings = burst.map((d) => closedAt(d.client));
    await Promise.all(burst.map((d) => adapter.revoke(d.deviceId, { permanent: false, reason: 'bench burst' })));
    const burstLatencies = (await Promise.all(closings)).map((t) => t - t0);

    const o = stats(ours);
    const b = stats(cli);
    const u = stats(burstLatencies);
    return {
      bench: 'mosquitto-revoke',
      figures: {
        revoke_to_disconnect_p50_ms: ms(o.p50),
        revoke_to_disconnect_p99_ms: ms(o.p99),
        burst_revoke_to_disconnect_p99_ms: ms(u.p99),
        burst_all_disconnected_ms: ms(u.max),
      },
      baselines: {
        revoke_to_disconnect_p50_ms: ms(b.p50),
        revoke_to_disconnect_p99_ms: ms(b.p99),
      },
      ratios: {
        revoke_to_disconnect_p50_ms: ratio(o.p50, b.p50, false),
        revoke_to_disconnect_p99_ms: ratio(o.p99, b.p99, false),
      },
      machine: ctx.machine,
      notes: [
        `Mosquitto 2 with dynamic security on 127.0.0.1, ${total} enrolled, granted and connected devices (MQTT 3.1.1, each on its session login); latency = revoke call to the device's socket closing`,
        `ours: MosquittoBrokerAdapter.revoke (disableClient of the device's two logins on the verifier's open admin connection, the session login's in a control message of its own), ${SEQUENTIAL} one after another; burst: ${BURST} revoked at once`,
        `baseline: mosquitto_ctrl dynsec disableClient of the login holding the connection, per device (new admin connection each time), ${BASELINE} one after another`,
      ],
    };
  } finally {
    for (const d of devices) await d.client.endAsync(true).catch(() => {});
    await adapter.stop();
  }
}
