import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { deviceFingerprint, deviceIdOf, secretCommitment } from '@tessera/protocol';
import { type ContractTransactionResponse, type JsonRpcProvider, parseEther, Wallet, ZeroHash } from 'ethers';
import { ANVIL_FUNDER_KEY, type AnvilChain, startAnvil } from './anvil.js';
import { makeProvider } from './chain.js';
import {
  buildDeviceBatch,
  type DeviceLeafInput,
  DeviceRegistryState as S,
  deviceLeaf,
  readDeviceStatus,
} from './device-registry.js';
import { measureRegistrationGas } from './device-registry-gas.js';
import { type DeviceRegistry, DeviceRegistry__factory } from './generated/index.js';

let chain: AnvilChain;
let provider: JsonRpcProvider;
let admin: Wallet;
let manufacturer: Wallet;
let owner: Wallet;
let operator: Wallet;
let stranger: Wallet;
let buyer: Wallet;
let registry: DeviceRegistry;

const as = (w: Wallet) => registry.connect(w);
/** Expect a revert with the named custom error (decoded by ethers from the contract ABI). */
const reverts = (p: Promise<unknown>, name: string) =>
  assert.rejects(p, (e: unknown) => {
    // ethers leaves custom errors from estimateGas undecoded: decode the revert data with the contract ABI
    const data = (e as { data?: string }).data;
    const got =
      (e as { revert?: { name?: string } }).revert?.name ??
      (data ? registry.interface.parseError(data)?.name : undefined);
    assert.equal(got, name, `expected revert ${name}, got ${got ?? String(e).slice(0, 200)}`);
    return true;
  });
const mined = async (tx: Promise<ContractTransactionResponse>) => {
  const r = await (await tx).wait();
  assert.equal(r?.status, 1);
  return r!;
};
const eventsOf = (receipt: { logs: readonly { topics: readonly string[]; data: string }[] }) =>
  receipt.logs
    .map((l) => registry.interface.parseLog({ topics: [...l.topics], data: l.data }))
    .filter((e) => e !== null);

let serial = 0;
function makeDevice(initialOwner: string): DeviceLeafInput {
  serial++;
  const fp = deviceFingerprint({
    model: 'SMGW-1000',
    serial: `SN-${serial}`,
    hardwareRevision: 'r2',
    firmwareHash: randomBytes(32).toString('hex'),
    mac: randomBytes(6).toString('hex'),
  });
  assert.ok(fp.ok);
  return {
    deviceId: deviceIdOf(manufacturer.address, `SN-${serial}`),
    fingerprint: fp.value,
    commitment: secretCommitment(randomBytes(32), randomBytes(32)),
    initialOwner,
  };
}

/** Register a batch as the manufacturer; returns its id, devices and tree. */
async function registerBatch(n: number, initialOwner = owner.address) {
  const devices = Array.from({ length: n }, () => makeDevice(initialOwner));
  const tree = buildDeviceBatch(devices);
  await mined(as(manufacturer).registerBatch(tree.root, n));
  return { batchId: await registry.batchCount(), devices, tree };
}

/** A device materialised (Registered) and, unless told otherwise, commissioned (Active) by its owner. */
async function activeDevice(commission = true) {
  const { batchId, devices, tree } = await registerBatch(3);
  const d = devices[1]!;
  await mined(
    as(stranger).materialize(batchId, d.deviceId, d.fingerprint, d.commitment, d.initialOwner, tree.proofs[1]!),
  );
  const identity = Wallet.createRandom().address;
  if (commission) await mined(as(owner).commission(d.deviceId, identity));
  return { ...d, identity, batchId };
}

before(async () => {
  chain = await startAnvil({});
  provider = makeProvider(chain.rpcUrl, chain.chainId);
  admin = new Wallet(ANVIL_FUNDER_KEY, provider);
  [manufacturer, owner, operator, stranger, buyer] = Array.from(
    { length: 5 },
    () => new Wallet(Wallet.createRandom().privateKey, provider),
  ) as [Wallet, Wallet, Wallet, Wallet, Wallet];
  for (const w of [manufacturer, owner, operator, stranger, buyer]) {
    await (await admin.sendTransaction({ to: w.address, value: parseEther('10') })).wait();
  }
  registry = await new DeviceRegistry__factory(admin).deploy();
  await registry.waitForDeployment();
  await mined(registry.grantRole(await registry.MANUFACTURER(), manufacturer.address));
  await mined(registry.grantRole(await registry.OPERATOR(), operator.address));
});

after(async () => {
  provider?.destroy();
  await chain?.stop();
});

describe('DeviceRegistry roles', () => {
  it('only the admin grants roles', async () => {
    await reverts(as(stranger).grantRole(await registry.OPERATOR(), stranger.address), 'NotAdmin');
    assert.equal(await registry.hasRole(await registry.OPERATOR(), stranger.address), false);
  });

  it('refuses batch registration by an account without the MANUFACTURER role', async () => {
    const tree = buildDeviceBatch([makeDevice(owner.address)]);
    await reverts(as(stranger).registerBatch(tree.root, 1), 'MissingRole');
    await reverts(as(operator).registerBatch(tree.root, 1), 'MissingRole');
  });

  it('refuses commissioning by anyone but the owner', async () => {
    const d = await activeDevice(false);
    await reverts(as(stranger).commission(d.deviceId, d.identity), 'NotOwner');
    await reverts(as(manufacturer).commission(d.deviceId, d.identity), 'NotOwner');
    assert.equal((await registry.deviceStatus(d.deviceId)).state, BigInt(S.Registered));
  });

  it('refuses suspend, resume and revoke by anyone without the OPERATOR role, owner included', async () => {
    const d = await activeDevice();
    for (const w of [stranger, owner, manufacturer]) {
      await reverts(as(w).suspend(d.deviceId), 'MissingRole');
      await reverts(as(w).revoke(d.deviceId), 'MissingRole');
    }
    await mined(as(operator).suspend(d.deviceId));
    await reverts(as(owner).resume(d.deviceId), 'MissingRole');
  });

  it('a manufacturer whose role was revoked can no longer register', async () => {
    const m2 = new Wallet(Wallet.createRandom().privateKey, provider);
    await (await admin.sendTransaction({ to: m2.address, value: parseEther('1') })).wait();
    const role = await registry.MANUFACTURER();
    await mined(registry.grantRole(role, m2.address));
    const tree = buildDeviceBatch([makeDevice(owner.address)]);
    await mined(as(m2).registerBatch(tree.root, 1));
    await mined(registry.revokeRole(role, m2.address));
    await reverts(as(m2).registerBatch(tree.root, 1), 'MissingRole');
  });
});

describe('DeviceRegistry batches and Merkle proofs', () => {
  it('materialises a device from a batch with its proof, with the values of its leaf', async () => {
    const { batchId, devices, tree } = await registerBatch(7);
    const i = 6; // an odd last leaf: its proof skips the level where it has no sibling
    const d = devices[i]!;
    assert.equal(await registry.leafOf(d.deviceId, d.fingerprint, d.commitment, d.initialOwner), deviceLeaf(d));
    const r = await mined(
      as(stranger).materialize(batchId, d.deviceId, d.fingerprint, d.commitment, d.initialOwner, tree.proofs[i]!),
    );
    const rec = await registry.getDevice(d.deviceId);
    assert.equal(rec.state, BigInt(S.Registered));
    assert.equal(rec.owner, owner.address);
    assert.equal(rec.manufacturer, manufacturer.address);
    assert.equal(rec.fingerprint, d.fingerprint);
    assert.equal(rec.commitment, d.commitment);
    assert.equal(rec.batchId, batchId);
    assert.deepEqual(
      eventsOf(r).map((e) => e.name),
      ['DeviceRegistered', 'DeviceStateChanged'],
    );
  });

  it('refuses proofs that do not match: wrong fingerprint, commitment, owner, sibling proof or batch', async () => {
    const { batchId, devices, tree } = await registerBatch(4);
    const d = devices[0]!;
    const other = `0x${'ab'.repeat(32)}`;
    const proof = tree.proofs[0]!;
    const m = (x: Partial<DeviceLeafInput>, p = proof, b = batchId) =>
      as(stranger).materialize(
        b,
        x.deviceId ?? d.deviceId,
        x.fingerprint ?? d.fingerprint,
        x.commitment ?? d.commitment,
        x.initialOwner ?? d.initialOwner,
        p,
      );
    await reverts(m({ fingerprint: other }), 'InvalidProof');
    await reverts(m({ commitment: other }), 'InvalidProof');
    await reverts(m({ initialOwner: stranger.address }), 'InvalidProof');
    await reverts(m({ deviceId: devices[1]!.deviceId }), 'InvalidProof');
    await reverts(m({}, tree.proofs[1]!), 'InvalidProof');
    await reverts(m({}, []), 'InvalidProof');
    const second = await registerBatch(4);
    await reverts(m({}, proof, second.batchId), 'InvalidProof');
    await reverts(m({}, proof, 9999n), 'UnknownBatch');
    // an inner node presented as a leaf (second-preimage) is refused because leaves are hashed twice
    assert.equal((await registry.deviceStatus(d.deviceId)).state, BigInt(S.Unknown));
    await mined(m({}));
    await reverts(m({}), 'AlreadyRegistered');
  });

  it('a revoked batch materialises nothing more', async () => {
    const { batchId, devices, tree } = await registerBatch(2);
    await reverts(as(stranger).revokeBatch(batchId), 'MissingRole');
    const r = await mined(as(operator).revokeBatch(batchId));
    assert.equal(eventsOf(r)[0]?.name, 'BatchRevoked');
    const d = devices[0]!;
    await reverts(
      as(owner).materialize(batchId, d.deviceId, d.fingerprint, d.commitment, d.initialOwner, tree.proofs[0]!),
      'BatchIsRevoked',
    );
  });

  it('the owner named in the leaf materialises and commissions in one transaction; others cannot', async () => {
    const { batchId, devices, tree } = await registerBatch(5);
    const d = devices[3]!;
    const identity = Wallet.createRandom().address;
    await reverts(
      as(stranger).commissionFromBatch(batchId, d.deviceId, d.fingerprint, d.commitment, tree.proofs[3]!, identity),
      'InvalidProof',
    );
    const r = await mined(
      as(owner).commissionFromBatch(batchId, d.deviceId, d.fingerprint, d.commitment, tree.proofs[3]!, identity),
    );
    assert.deepEqual(
      eventsOf(r).map((e) => e.name),
      ['DeviceRegistered', 'DeviceStateChanged', 'DeviceStateChanged', 'DeviceCommissioned'],
    );
    const s = await registry.deviceStatus(d.deviceId);
    assert.equal(s.state, BigInt(S.Active));
    assert.equal(s.identity, identity);
    assert.equal(await registry.deviceOfIdentity(identity), d.deviceId);
    assert.equal(await registry.isActive(d.deviceId), true);
  });
});

describe('DeviceRegistry lifecycle', () => {
  it('goes Registered → Active ⇄ Suspended → Revoked, emitting DeviceStateChanged each time', async () => {
    const d = await activeDevice();
    const seen: [bigint, bigint][] = [];
    for (const [w, f] of [
      [operator, 'suspend'],
      [operator, 'resume'],
      [operator, 'suspend'],
      [operator, 'revoke'],
    ] as const) {
      const r = await mined(as(w)[f](d.deviceId));
      const e = eventsOf(r).find((x) => x.name === 'DeviceStateChanged')!;
      assert.equal(e.args.deviceId, d.deviceId);
      assert.equal(e.args.by, w.address);
      seen.push([e.args.from, e.args.to]);
    }
    assert.deepEqual(seen, [
      [2n, 3n],
      [3n, 2n],
      [2n, 3n],
      [3n, 4n],
    ]);
    assert.equal(await registry.isActive(d.deviceId), false);
  });

  it('refuses transitions the lifecycle does not allow', async () => {
    const registered = await activeDevice(false);
    await reverts(as(operator).suspend(registered.deviceId), 'InvalidTransition');
    await reverts(as(operator).resume(registered.deviceId), 'InvalidTransition');

    const active = await activeDevice();
    await reverts(as(operator).resume(active.deviceId), 'InvalidTransition');
    await reverts(as(owner).commission(active.deviceId, active.identity), 'InvalidTransition');

    const revoked = await activeDevice();
    await mined(as(operator).revoke(revoked.deviceId));
    for (const f of ['suspend', 'resume', 'revoke'] as const) {
      await reverts(as(operator)[f](revoked.deviceId), 'InvalidTransition');
    }
    await reverts(as(owner).decommission(revoked.deviceId), 'InvalidTransition');
    await reverts(as(owner).updateFirmware(revoked.deviceId, `0x${'11'.repeat(32)}`), 'InvalidTransition');
    await reverts(as(owner).transferDeviceOwnership(revoked.deviceId, buyer.address), 'InvalidTransition');

    const gone = await activeDevice();
    await reverts(as(stranger).decommission(gone.deviceId), 'NotAllowed');
    await mined(as(owner).decommission(gone.deviceId));
    assert.equal((await registry.deviceStatus(gone.deviceId)).state, BigInt(S.Decommissioned));
    await reverts(as(operator).revoke(gone.deviceId), 'InvalidTransition');
    await reverts(as(operator).suspend(`0x${'00'.repeat(31)}01`), 'UnknownDevice');
  });

  it('will not bind one DID identity to two devices', async () => {
    const a = await activeDevice();
    const b = await activeDevice(false);
    await reverts(as(owner).commission(b.deviceId, a.identity), 'IdentityInUse');
  });
});

describe('DeviceRegistry ownership and firmware', () => {
  it('transfers ownership: the new owner acts, the old one no longer can', async () => {
    const d = await activeDevice(false);
    await reverts(as(stranger).transferDeviceOwnership(d.deviceId, stranger.address), 'NotOwner');
    const r = await mined(as(owner).transferDeviceOwnership(d.deviceId, buyer.address));
    const e = eventsOf(r)[0]!;
    assert.equal(e.name, 'DeviceOwnershipTransferred');
    assert.deepEqual([e.args.previousOwner, e.args.newOwner], [owner.address, buyer.address]);
    assert.equal((await registry.getDevice(d.deviceId)).owner, buyer.address);
    await reverts(as(owner).commission(d.deviceId, d.identity), 'NotOwner');
    await mined(as(buyer).commission(d.deviceId, d.identity));
    assert.equal(await registry.isActive(d.deviceId), true);
  });

  it('a firmware update by the owner or manufacturer changes the fingerprint and emits FirmwareUpdated', async () => {
    const d = await activeDevice();
    const next = deviceFingerprint({
      model: 'SMGW-1000',
      serial: 'SN-fw',
      hardwareRevision: 'r2',
      firmwareHash: 'cd'.repeat(32),
      mac: '00:11:22:33:44:55',
    });
    assert.ok(next.ok);
    await reverts(as(stranger).updateFirmware(d.deviceId, next.value), 'NotAllowed');
    await reverts(as(operator).updateFirmware(d.deviceId, next.value), 'NotAllowed');
    const r = await mined(as(owner).updateFirmware(d.deviceId, next.value));
    const e = eventsOf(r)[0]!;
    assert.equal(e.name, 'FirmwareUpdated');
    assert.deepEqual([e.args.previousFingerprint, e.args.fingerprint], [d.fingerprint, next.value]);
    const s = await registry.deviceStatus(d.deviceId);
    assert.equal(s.fingerprint, next.value);
    assert.notEqual(s.fingerprint, d.fingerprint);
    assert.equal(s.state, BigInt(S.Active), 'a firmware update does not change the lifecycle state');
    const third = `0x${'33'.repeat(32)}`;
    await mined(as(manufacturer).updateFirmware(d.deviceId, third));
    assert.equal((await registry.deviceStatus(d.deviceId)).fingerprint, third);
  });

  it('answers the handshake verifier in one view call, and Unknown for a device never materialised', async () => {
    const d = await activeDevice();
    const s = await registry.deviceStatus(d.deviceId);
    assert.deepEqual(
      [s.state, s.identity, s.fingerprint, s.commitment],
      [BigInt(S.Active), d.identity, d.fingerprint, d.commitment],
    );
    const { devices } = await registerBatch(2);
    const pending = await registry.deviceStatus(devices[0]!.deviceId);
    assert.equal(pending.state, BigInt(S.Unknown), 'registered in a batch but not materialised: not usable yet');
    assert.deepEqual(await readDeviceStatus(registry, d.deviceId), {
      state: 'Active',
      identity: d.identity.toLowerCase(),
      fingerprint: d.fingerprint,
      commitment: d.commitment,
    });
    assert.deepEqual(await readDeviceStatus(registry, devices[0]!.deviceId), {
      state: 'Unknown',
      fingerprint: ZeroHash,
      commitment: ZeroHash,
    });
    await mined(as(operator).suspend(d.deviceId));
    assert.equal((await readDeviceStatus(registry, d.deviceId)).state, 'Suspended');
  });
});

describe('DeviceRegistry registration gas', () => {
  it('costs one transaction per batch: gas per device falls with batch size and stays far below a transaction', async () => {
    const rows = await measureRegistrationGas(admin, [1, 100, 1000], registry.connect(admin));
    for (const r of rows) {
      console.log(
        `batch of ${r.devices}: registerBatch ${r.batchGas} gas = ${r.gasPerDevice.toFixed(1)} gas/device; ` +
          `materialise later ${r.materializeGas} gas (proof length ${r.proofLength})`,
      );
    }
    const [one, , thousand] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    // only calldata bytes (the random root, the count) differ between the three transactions
    const spread = Number(thousand.batchGas - one.batchGas);
    assert.ok(Math.abs(spread) < 500, `the batch transaction does not grow with the batch (spread ${spread})`);
    assert.ok(thousand.gasPerDevice < 21_000 / 100, 'under 1% of a bare transaction per device');
    assert.equal(thousand.proofLength, 10);
    assert.ok(thousand.materializeGas < 250_000n);
  });
});
