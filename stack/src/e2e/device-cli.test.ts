/**
 * The device agent CLI against the whole stack, run as a person runs it (`npm run device -- …`, the built tool): an
 * operator suspends the device and the agent says so and waits; resumed, it gets a session again; revoked, it stops with
 * exit code 3 and will not start again; decommissioned, exit code 4. Also: the admin CLI registers and manages the
 * devices, and a second `npm start` on the stack's data directory is refused with exit code 3, naming this process.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ethrDid, silentLogger } from '@tessera/protocol';
import { issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { Wallet } from 'ethers';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

const LAUNCHER = fileURLToPath(new URL('../../../scripts/cli.mjs', import.meta.url));

let dir: string;
let stack: RunningStack;
let issuerUrl: string;
let admin: string;
let adminWallet: string;
const children: ChildProcess[] = [];

/** `npm run <tool> -- args` (the launcher npm runs), asynchronously: the stack answering it runs in this process. */
function tool(
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [LAUNCHER, name, ...args], { env: { ...process.env, ...env } }, (e, out, err) =>
      resolve({ code: e ? Number(e.code ?? 1) : 0, out, err }),
    );
  });
}

/** A running `npm run device -- run`, with its output so far and its end. */
function runAgent(state: string) {
  const child = spawn(process.execPath, [LAUNCHER, 'device', 'run', '--state', state, '--retry-max', '1'], {
    env: { ...process.env, TESSERA_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const output = { out: '', err: '' };
  child.stdout!.on('data', (d: Buffer) => {
    output.out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output.err += d.toString();
  });
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? -1)));
  /** Wait until the output satisfies `test` (the agent's own pace decides when, not a timer). */
  const until = async (what: string, test: () => boolean, timeoutMs = 60_000) => {
    const t0 = Date.now();
    while (!test()) {
      if (child.exitCode !== null) assert.fail(`the agent exited (${child.exitCode}) before: ${what}\n${output.err}`);
      if (Date.now() - t0 > timeoutMs) assert.fail(`no ${what} within ${timeoutMs} ms\n${output.err}\n${output.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const sessions = () => output.out.split('\n').filter((l) => l.includes('"event":"session"')).length;
  return { child, output, exited, until, sessions };
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-device-cli-'));
  stack = await startStack(
    loadConfig({ TESSERA_DATA_DIR: join(dir, 'stack'), TESSERA_HTTP_PORT: '0', TESSERA_MQTT_PORT: '0' }),
    { log: silentLogger, command: 'device-cli test' },
  );
  issuerUrl = `${stack.urls.http}/issuer`;
  adminWallet = stack.issuer.rootAdmin.file;
  admin = await loginWithCredentials(issuerUrl, readHolderFile(adminWallet));
});
after(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await stack?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A fresh holder with one role credential, logged in. */
async function roleToken(type: string, claims: Record<string, unknown>): Promise<string> {
  const key = Wallet.createRandom();
  const did = ethrDid(stack.chainId, key.address);
  const r = await issuerRequest(issuerUrl, 'POST', '/credentials', {
    token: admin,
    body: { type, subject: did, claims },
  });
  assert.equal(r.status, 201, r.text);
  return loginWithCredentials(issuerUrl, { did, privateKey: key.privateKey, credentials: [r.json.jwt] });
}

/** Register (admin CLI), enrol (device CLI) and commission one device; its state directory. */
async function commissionedDevice(serial: string): Promise<{ state: string; deviceId: string }> {
  const manufacturer = await roleToken('ManufacturerCredential', {
    legalName: 'Acme Meters GmbH',
    country: 'DE',
    manufacturerCode: 'ACME',
  });
  const file = join(dir, `${serial}.devices.json`);
  writeFileSync(
    file,
    JSON.stringify({
      devices: [
        {
          characteristics: {
            model: 'SMGW-1000',
            serial,
            hardwareRevision: 'r2',
            firmwareHash: randomBytes(32).toString('hex'),
            mac: '02:00:00:00:00:01',
          },
        },
      ],
    }),
  );
  const prov = join(dir, `${serial}-prov`);
  const reg = await tool('admin', [
    'devices',
    'register',
    '--url',
    issuerUrl,
    '--token',
    manufacturer,
    '--file',
    file,
    '--out',
    prov,
  ]);
  assert.equal(reg.code, 0, reg.err);
  const deviceId = (JSON.parse(reg.out) as { devices: string[] }).devices[0]!;
  const state = join(dir, `${serial}-state`);
  const enrol = await tool('device', ['enrol', '--state', state, '--provisioning', join(prov, `${deviceId}.json`)]);
  assert.equal(enrol.code, 0, enrol.err);
  const { did } = JSON.parse(enrol.out) as { did: string };
  const owner = await roleToken('DeviceOwnerCredential', { device: did });
  const commission = await tool('admin', [
    'devices',
    'commission',
    '--url',
    issuerUrl,
    '--token',
    owner,
    '--device',
    deviceId,
    '--identity',
    did,
  ]);
  assert.equal(commission.code, 0, commission.err);
  assert.equal((JSON.parse(commission.out) as { state: string }).state, 'Active');
  return { state, deviceId };
}

describe('the device agent CLI through the stack', () => {
  let operator: string;
  before(async () => {
    operator = await roleToken('OperatorCredential', { name: 'Grid ops' });
  });
  const lifecycle = async (action: string, deviceId: string) => {
    const r = await tool('admin', ['devices', action, '--url', issuerUrl, '--token', operator, '--device', deviceId]);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as { state: string };
  };

  it('suspended, the agent says so and waits; resumed, it is back; revoked, it stops with exit code 3 for good', async () => {
    const { state, deviceId } = await commissionedDevice('CLI-LIFE-1');
    const agent = runAgent(state);
    await agent.until('first session', () => agent.sessions() >= 1);

    assert.equal((await lifecycle('suspend', deviceId)).state, 'Suspended');
    await agent.until('the suspension notice', () =>
      agent.output.err.includes('device suspended: waiting for an operator'),
    );
    await agent.until('a refused reconnect while suspended', () =>
      agent.output.err.includes('still suspended; next attempt'),
    );
    assert.equal(agent.child.exitCode, null, 'a suspended agent keeps running');

    assert.equal((await lifecycle('resume', deviceId)).state, 'Active');
    await agent.until('a session after the resume', () => agent.sessions() >= 2);

    assert.equal((await lifecycle('revoke', deviceId)).state, 'Revoked');
    assert.equal(await agent.exited, 3);
    assert.match(agent.output.err, /^error ERR_DEVICE_REVOKED: the device is revoked; the agent stops for good$/m);

    const again = await tool('device', ['run', '--state', state]);
    assert.equal(again.code, 3, 'a revoked device does not start again');
    assert.match(again.err, /^error ERR_DEVICE_REVOKED: this device was revoked \(the verifier said so at /m);
    const show = await tool('device', ['show', '--state', state]);
    assert.equal((JSON.parse(show.out) as { final: { code: string } }).final.code, 'ERR_DEVICE_REVOKED');
  });

  it('decommissioned, the agent stops with exit code 4', async () => {
    const { state, deviceId } = await commissionedDevice('CLI-LIFE-2');
    const agent = runAgent(state);
    await agent.until('first session', () => agent.sessions() >= 1);
    assert.equal((await lifecycle('decommission', deviceId)).state, 'Decommissioned');
    assert.equal(await agent.exited, 4);
    assert.match(agent.output.err, /^error ERR_DEVICE_DECOMMISSIONED: the device is decommissioned/m);
  });

  it('a second npm start on the same data directory is refused with exit code 3, naming the holder', async () => {
    const r = await tool('start', [], {
      TESSERA_DATA_DIR: join(dir, 'stack'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_MQTT_PORT: '0',
    });
    assert.equal(r.code, 3, r.err);
    assert.match(
      r.err,
      new RegExp(
        `^error ERR_DATA_DIR_LOCKED: data directory .* is in use by pid ${process.pid} \\(device-cli test: `,
        'm',
      ),
    );
    const h = (await (await fetch(stack.urls.healthz)).json()) as { ok: boolean };
    assert.equal(h.ok, true, 'the running stack is not disturbed');
  });
});
