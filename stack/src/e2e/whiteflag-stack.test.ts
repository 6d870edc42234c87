/**
 * Whiteflag's whole path through the stack as `npm start` runs it (issue 23, "must show"): an operator authorises
 * its sending key with its wallet and sends an infrastructure notice encrypted for a receiver (method 1, ECDH), a
 * device authenticated by the handshake sends a status signal encrypted with the area's pre-shared key (method 2);
 * both go on chain from their originators' own accounts through the outbox, and a Whiteflag node in another process
 * (`npm run whiteflag-node`, its own database and keys) receives them, authenticates them to the right DID, decrypts
 * them and shows them through its API. A message from an account that never authenticated, and one from an account
 * whose authentication copies the operator's, are marked as such and never shown as authentic.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ANVIL_FUNDER_KEY, Keystore, makeProvider } from '@tessera/contracts';
import { DeviceAgent, DeviceKeyStore } from '@tessera/device-agent';
import { CREDENTIAL_TYPE_NAMES, ethrDid, silentLogger, topics } from '@tessera/protocol';
import { composeWhiteflag, encodeWhiteflag, toHex, WHITEFLAG_EXAMPLES } from '@tessera/protocol/whiteflag';
import { FileDeviceSecretVault } from '@tessera/verifier';
import { type HolderKey, issuerRequest, loginWithCredentials, readHolderFile } from '@tessera/wallet';
import { ES256KSigner, hexToBytes } from 'did-jwt';
import { createVerifiablePresentationJwt } from 'did-jwt-vc';
import { type JsonRpcProvider, parseEther, Signature, Wallet } from 'ethers';
import { loadConfig } from '../config.js';
import { type RunningStack, startStack } from '../stack.js';

const AREA_KEY = { name: 'grid-area-1', secret: randomBytes(32).toString('hex') };
let dir: string;
let stack: RunningStack;
let issuerUrl: string;
let provider: JsonRpcProvider;
let funder: Wallet;
let admin: string;
let node: ChildProcess;
let nodeApi: string;
let nodeAccount: string;
let agent: DeviceAgent;
let device: { deviceId: string; did: string; secret: string };
let operator: HolderKey;
let operatorVc: string;

type Json = Record<string, any>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function credential(type: string, subject: string, claims: Record<string, unknown>) {
  const r = await issuerRequest(issuerUrl, 'POST', '/credentials', { token: admin, body: { type, subject, claims } });
  assert.equal(r.status, 201, r.text);
  return r.json.jwt as string;
}

/** A wallet's side: presentation request → VP of `credentials` → access token from the stack's verifier. */
async function token(key: HolderKey, credentials: string[], resource: string, action: string): Promise<string> {
  const post = async (path: string, body: unknown) => {
    const r = await fetch(`${stack.urls.http}/verifier${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as Json };
  };
  const req = await post('/presentation-requests', { resource, action });
  assert.equal(req.status, 201, JSON.stringify(req.body));
  const vp = await createVerifiablePresentationJwt(
    {
      vp: {
        '@context': ['https://www.w3.org/2018/credentials/v1'],
        type: ['VerifiablePresentation'],
        verifiableCredential: credentials,
      },
    } as never,
    { did: key.did, signer: ES256KSigner(hexToBytes(key.privateKey)), alg: 'ES256K' },
    { challenge: String(req.body.nonce), domain: String(req.body.audience) },
  );
  const r = await post('/presentations', { vp });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.access_token as string;
}

async function call(base: string, method: string, path: string, bearer?: string, body?: unknown) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: r.status, body: (await r.json()) as Json };
}

/** Poll the node's API until `find` picks a message out of its list. */
async function onNode(read: string, find: (m: Json) => boolean): Promise<Json> {
  for (let i = 0; i < 300; i++) {
    const r = await call(nodeApi, 'GET', '/whiteflag/messages?limit=500', read);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const m = (r.body.messages as Json[]).find(find);
    if (m && m.state !== 'encrypted') return m;
    await sleep(100);
  }
  throw new Error('the node did not show the message');
}

/** A raw transaction whose data is a Whiteflag message, from an account of the test's own. */
async function sendRaw(from: Wallet, message: ReturnType<typeof composeWhiteflag>): Promise<string> {
  const e = encodeWhiteflag(message);
  assert.ok(e.ok);
  const tx = await from.sendTransaction({ to: from.address, data: `0x${toHex(e.value)}` });
  await tx.wait();
  return tx.hash.toLowerCase();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-whiteflag-'));
  const keysFile = join(dir, 'whiteflag-keys.json');
  writeFileSync(keysFile, JSON.stringify({ preSharedKeys: { [AREA_KEY.name]: AREA_KEY.secret } }), { mode: 0o600 });
  stack = await startStack(
    loadConfig({
      TESSERA_DATA_DIR: join(dir, 'stack'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_MQTT_PORT: '0',
      TESSERA_LOG_LEVEL: 'silent',
      TESSERA_WHITEFLAG_KEYS_FILE: keysFile,
    }),
    { log: silentLogger },
  );
  issuerUrl = `${stack.urls.http}/issuer`;
  provider = makeProvider(stack.urls.chainRpc, stack.chainId);
  funder = new Wallet(ANVIL_FUNDER_KEY, provider);
  admin = await loginWithCredentials(issuerUrl, readHolderFile(stack.issuer.rootAdmin.file));

  // an operator with its own wallet key and an OperatorCredential from the stack's issuer
  const opKey = Wallet.createRandom();
  const opDid = ethrDid(stack.chainId, opKey.address);
  operatorVc = await credential('OperatorCredential', opDid, { name: 'Grid operations Marseille' });
  operator = { did: opDid, privateKey: opKey.privateKey, credentials: [operatorVc] };

  // a smart-meter gateway: registered by its manufacturer, enrolled, commissioned by its owner, authenticated by
  // the handshake on the stack's broker
  const mfr = Wallet.createRandom();
  const mfrVc = await credential('ManufacturerCredential', ethrDid(stack.chainId, mfr.address), {
    legalName: 'Meters SA',
    country: 'FR',
    manufacturerCode: 'MTR',
  });
  const manufacturer = await loginWithCredentials(issuerUrl, {
    did: ethrDid(stack.chainId, mfr.address),
    privateKey: mfr.privateKey,
    credentials: [mfrVc],
  });
  const ownerKey = Wallet.createRandom();
  const ownerDid = ethrDid(stack.chainId, ownerKey.address);
  const registered = await issuerRequest(issuerUrl, 'POST', '/devices/batches', {
    token: manufacturer,
    body: {
      devices: [
        {
          owner: ownerDid,
          characteristics: {
            model: 'SMGW-2000',
            serial: 'MTR-WF-1',
            hardwareRevision: 'r3',
            firmwareHash: randomBytes(32).toString('hex'),
            mac: randomBytes(6).toString('hex'),
          },
        },
      ],
    },
  });
  assert.equal(registered.status, 201, registered.text);
  const provisioning = registered.json.devices[0].provisioning;
  const store = DeviceKeyStore.open(join(dir, 'device'));
  const enrolled = store.enrol(provisioning);
  const ownerVc = await credential('DeviceOwnerCredential', ownerDid, { device: enrolled.did });
  const commissioned = await issuerRequest(issuerUrl, 'POST', `/devices/${enrolled.deviceId}/commission`, {
    token: await loginWithCredentials(issuerUrl, {
      did: ownerDid,
      privateKey: ownerKey.privateKey,
      credentials: [ownerVc],
    }),
    body: { identity: enrolled.did },
  });
  assert.equal(commissioned.status, 200, commissioned.text);
  device = { deviceId: enrolled.deviceId, did: enrolled.did.toLowerCase(), secret: provisioning.secret };
  const { brokerUrl: _b, ...identity } = store.load();
  agent = new DeviceAgent({ identity, brokerUrl: stack.urls.mqtt, backoff: { initialMs: 50, maxMs: 500 } });
  const session = once(agent, 'session');
  agent.start();
  await session;

  // the Whiteflag node, in another process: its own database and keys; the device's secret in its vault (it is a
  // receiver of this deployment), the area key, the stack's issuer trusted, the stack's verifier for its tokens
  const vaultKey = randomBytes(32);
  const vault = new FileDeviceSecretVault(join(dir, 'node-vault.json'), vaultKey);
  await vault.put(device.deviceId, Buffer.from(device.secret.slice(2), 'hex'), randomBytes(32));
  const trustFile = join(dir, 'trust.json');
  writeFileSync(
    trustFile,
    JSON.stringify(Object.fromEntries(CREDENTIAL_TYPE_NAMES.map((t) => [t, [stack.issuer.issuer.did]]))),
  );
  const verifierKey = Keystore.open(join(dir, 'stack', 'keys')).describe('verifier');
  assert.ok(verifierKey);
  node = spawn(process.execPath, ['--import', 'tsx', 'services/src/whiteflag/node-main.ts'], {
    cwd: new URL('../../../', import.meta.url).pathname,
    env: {
      ...process.env,
      TESSERA_CHAIN_RPC_URL: stack.urls.chainRpc,
      TESSERA_DID_REGISTRY_ADDRESS: stack.contracts.EthereumDIDRegistry,
      TESSERA_DEVICE_REGISTRY_ADDRESS: stack.contracts.DeviceRegistry,
      TESSERA_DATA_DIR: join(dir, 'node'),
      TESSERA_HTTP_PORT: '0',
      TESSERA_VERIFIER_DID: stack.identities.verifier.did,
      TESSERA_VERIFIER_PUBLIC_KEY: verifierKey.publicKey,
      TESSERA_TRUST_LIST_FILE: trustFile,
      TESSERA_WHITEFLAG_KEYS_FILE: keysFile,
      TESSERA_WHITEFLAG_DEVICE_VAULT: join(dir, 'node-vault.json'),
      TESSERA_WHITEFLAG_DEVICE_VAULT_KEY: vaultKey.toString('hex'),
      TESSERA_WHITEFLAG_STATEMENT_ORIGINS: stack.urls.http,
      TESSERA_WHITEFLAG_START_BLOCK: '0',
      TESSERA_WHITEFLAG_NODE_NAME: 'Partner control room',
      TESSERA_LOG_LEVEL: 'silent',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<string>((resolve, reject) => {
    let out = '';
    node.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const line = out.split('\n').find((l) => l.startsWith('whiteflag node ready'));
      if (line) resolve(line);
    });
    node.once('exit', (code) => reject(new Error(`the node exited with ${code}: ${out}`)));
  });
  nodeApi = /api (\S+)/.exec(ready)![1]!;
  nodeAccount = /account (0x[0-9a-f]{40})/.exec(ready)![1]!;
  // the node pays for its own authentication and ECDH key
  await (await funder.sendTransaction({ to: nodeAccount, value: parseEther('1') })).wait();
});

after(async () => {
  if (node && node.exitCode === null) {
    node.kill('SIGTERM');
    await once(node, 'exit');
  }
  await agent?.stop();
  provider?.destroy();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
});

describe('Whiteflag through the stack, received by a node in another process', () => {
  const whiteflag = () => `${stack.urls.http}/services/whiteflag`;
  let operatorNotice: string;
  let readToken: string;

  it('an operator’s infrastructure notice, encrypted for the node, is shown by the node as the operator’s', async () => {
    // the operator authorises its sending key with its wallet key (the ERC-1056 delegation `wallet delegate` signs)
    const keyToken = await token(operator, [operatorVc], '/whiteflag/originator/sending-key', 'POST');
    const offer = await call(whiteflag(), 'POST', '/whiteflag/originator/sending-key', keyToken, {});
    assert.equal(offer.status, 200, JSON.stringify(offer.body));
    const signature = Signature.from(new Wallet(operator.privateKey).signingKey.sign(offer.body.digest)).serialized;
    const confirmed = await call(whiteflag(), 'POST', '/whiteflag/originator/sending-key/confirm', keyToken, {
      signature,
    });
    assert.equal(confirmed.status, 200, JSON.stringify(confirmed.body));

    // once the stack has seen the node's ECDH key (its K(0)0A), the operator encrypts for it (method 1)
    const sendToken = await token(operator, [operatorVc], '/whiteflag/messages/I', 'POST');
    let sent: { status: number; body: Json } | undefined;
    for (let i = 0; i < 100; i++) {
      sent = await call(whiteflag(), 'POST', '/whiteflag/messages/I', sendToken, {
        requestId: 'outage-2026-12-06-feeder-12',
        body: WHITEFLAG_EXAMPLES.I.MessageBody,
        encryption: { method: '1', recipient: nodeAccount },
      });
      if (sent.body.error?.code !== 'ERR_WHITEFLAG_KEY_UNKNOWN') break;
      await sleep(100);
    }
    assert.equal(sent!.status, 201, JSON.stringify(sent!.body));
    operatorNotice = sent!.body.txHash;
    const onChain = await provider.getTransaction(operatorNotice);
    assert.match(onChain!.data, /^0x57463131/, 'WF, version 1, encryption method 1, the rest ciphertext');
    assert.equal(onChain!.from.toLowerCase(), confirmed.body.account, 'sent from the operator’s own account');

    readToken = await token(operator, [operatorVc], '/whiteflag/messages', 'GET');
    const m = await onNode(readToken, (x) => x.txHash === operatorNotice);
    assert.equal(m.authentic, true);
    assert.equal(m.originator.did, operator.did.toLowerCase());
    assert.equal(m.originator.method, '1');
    assert.equal(m.decryptedWith, `ecdh:${nodeAccount}`);
    assert.deepEqual(m.message.MessageBody, WHITEFLAG_EXAMPLES.I.MessageBody);
    assert.equal(m.notation, '[I21(0)]');

    // the stack itself holds no key for it: it shows the message as the operator's, and as undecryptable
    let own = await call(whiteflag(), 'GET', `/whiteflag/messages/${operatorNotice}`, readToken);
    for (let i = 0; i < 100 && (own.status === 404 || own.body.state === 'encrypted'); i++) {
      await sleep(100);
      own = await call(whiteflag(), 'GET', `/whiteflag/messages/${operatorNotice}`, readToken);
    }
    assert.equal(own.status, 200, JSON.stringify(own.body));
    assert.equal(own.body.state, 'undecryptable');
    assert.equal(own.body.authentic, false);
    assert.equal(own.body.originator.did, operator.did.toLowerCase());
  });

  it('a device’s status signal, encrypted with the area key, is shown by the node as the device’s', async () => {
    await agent.publish(
      topics.whiteflagSignal(device.deviceId, 'S'),
      JSON.stringify({
        credential: agent.session!.credential,
        requestId: 'status-feeder-12-substation',
        body: WHITEFLAG_EXAMPLES.S.MessageBody,
        encryption: { method: '2', key: AREA_KEY.name },
      }),
    );
    const m = await onNode(
      readToken,
      (x) => x.originator.deviceId === device.deviceId && x.message?.MessageHeader.MessageCode === 'S',
    );
    assert.equal(m.authentic, true);
    assert.equal(m.originator.did, device.did);
    assert.equal(m.originator.method, '2');
    assert.equal(m.decryptedWith, `psk:${AREA_KEY.name}`);
    assert.deepEqual(m.message.MessageBody, WHITEFLAG_EXAMPLES.S.MessageBody);
  });

  it('unauthenticated and wrongly authenticated messages are marked as such, never shown as authentic', async () => {
    const bare = new Wallet(Wallet.createRandom().privateKey, provider);
    const impostor = new Wallet(Wallet.createRandom().privateKey, provider);
    for (const w of [bare, impostor])
      await (await funder.sendTransaction({ to: w.address, value: parseEther('1') })).wait();
    // an account that never authenticated claims an outage in the operator's words
    const claimed = await sendRaw(bare, WHITEFLAG_EXAMPLES.I);
    // an account that copies the operator's authentication message (its statement names another address)
    const operatorAuth = (await call(nodeApi, 'GET', `/whiteflag/messages/${operatorNotice}`, readToken)).body
      .originator.authenticationMessage as string;
    const copied = await provider.getTransaction(operatorAuth);
    const tx = await impostor.sendTransaction({ to: impostor.address, data: copied!.data });
    await tx.wait();
    const forged = await sendRaw(impostor, composeWhiteflag('D', WHITEFLAG_EXAMPLES.D.MessageBody));

    const a = await onNode(readToken, (x) => x.txHash === claimed);
    assert.equal(a.authentic, false);
    assert.equal(a.originator.authentication, 'unauthenticated');
    assert.equal(a.originator.did, null);
    const b = await onNode(readToken, (x) => x.txHash === forged);
    assert.equal(b.authentic, false);
    assert.equal(b.originator.authentication, 'failed');
    assert.equal(b.originator.did, null);
    const auth = await onNode(readToken, (x) => x.txHash === tx.hash.toLowerCase());
    assert.equal(auth.error.code, 'ERR_WHITEFLAG_AUTH_FAILED');
    assert.match(auth.error.message, /statement is for/);

    const authentic = await call(nodeApi, 'GET', '/whiteflag/messages?auth=authenticated&limit=500', readToken);
    const hashes = (authentic.body.messages as Json[]).map((x) => x.txHash);
    assert.ok(hashes.includes(operatorNotice));
    assert.ok(!hashes.includes(claimed) && !hashes.includes(forged));
    // without a token from the stack's verifier the node shows nothing
    assert.equal((await call(nodeApi, 'GET', '/whiteflag/messages')).body.error.code, 'ERR_AUTH_REQUIRED');
  });
});
