import { randomBytes } from 'node:crypto';
import {
  buildDeviceBatch,
  type DeviceChainStatus,
  DeviceRegistry__factory,
  type Outbox,
  readDeviceStatus,
} from '@tessera/contracts';
import {
  type BitstringStatusListEntry,
  canTransition,
  DEVICE_ID_PATTERN,
  type DeviceCharacteristics,
  DeviceCharacteristicsSchema,
  type DeviceState,
  deviceFingerprint,
  deviceIdOf,
  err,
  ethrDid,
  generateDeviceSecret,
  MAX_DEVICE_BATCH,
  ok,
  parseDid,
  type Result,
  secretCommitment,
} from '@tessera/protocol';
import { type JsonRpcProvider, ZeroHash } from 'ethers';
import { type DataSource, In } from 'typeorm';
import { z } from 'zod';
import type { Issuer } from '../issuer.js';
import { deviceIdentities } from './identity.js';
import { type DbDeviceSecretVault, DeviceEntity, type DeviceRow, DeviceSecretEntity } from './store.js';

/**
 * The device lifecycle as the issuer runs it. Who authorises what is checked here, against the caller's
 * role credentials (the HTTP layer authenticates them); the chain is written through the outbox by the stack's
 * relayer account, which holds the DeviceRegistry MANUFACTURER and OPERATOR roles and is the on-chain owner of every
 * device it registers (a custodial owner). The real owner is the DID the issuer records for the device: the holder
 * of a DeviceOwnerCredential for the device's DID (its `device` claim), who commissions it; the relayer then
 * acts on the owner's behalf. The chain state is never copied: every check reads it.
 */

/** Who calls, as the HTTP layer established it from an access token. */
export interface DeviceCaller {
  did: string;
  /** Role credential types behind the token (AdminCredential, OperatorCredential, ManufacturerCredential, …). */
  roles: readonly string[];
  /** `device` claims of the caller's active DeviceOwnerCredentials. */
  ownedDeviceDids: readonly string[];
}

/** What a manufacturer receives once per device: the device-agent provisioning file plus its batch proof. */
export interface DeviceBundle {
  deviceId: string;
  batchId: number;
  /** Hex of the commitment salt. */
  salt: string;
  /** The leaf's Merkle proof in the batch (bytes32 hex). */
  proof: string[];
  /** device-agent/src/store.ts ProvisioningSchema: `npm run device -- enrol --provisioning FILE`. */
  provisioning: {
    deviceId: string;
    secret: string;
    chainId: number;
    characteristics: Record<string, string>;
    brokerUrl?: string;
  };
}

export interface RegisteredBatch {
  batchId: number;
  root: string;
  txHash: string;
  devices: DeviceBundle[];
}

/** A device as anyone allowed to see it sees it: never its secret, salt or proof. */
export interface DeviceView {
  deviceId: string;
  state: DeviceState;
  manufacturer: string;
  owner: string | null;
  /** The device's DID once commissioned. */
  did: string | null;
  identity: string | null;
  batchId: number | null;
  fingerprint: string;
  commitment: string;
  characteristics: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

export type OperatorAction = 'suspend' | 'resume' | 'revoke';

export interface DeviceLifecycleOptions {
  issuer: Issuer;
  /** The issuer's database (opened with `issuerDatabaseParts`). */
  dataSource: DataSource;
  vault: DbDeviceSecretVault;
  outbox: Outbox;
  provider: JsonRpcProvider;
  chainId: number;
  deviceRegistry: string;
  /** The MQTT URL devices use, written into each provisioning file. */
  brokerUrl?: string;
}

export const DeviceInput = z.strictObject({
  deviceId: z.string().max(200).optional(),
  characteristics: z.record(z.string().max(200), z.string().max(200)),
  /** The DID of the owner the device is sold to; only that DID may commission it. */
  owner: z
    .string()
    .max(512)
    .refine((s) => parseDid(s).ok, 'must be a DID')
    .optional(),
});
const RegisterBody = z.strictObject({ devices: z.array(z.unknown()).min(1) });
export const CommissionBody = z.strictObject({ identity: z.string().max(512) });

const TARGET: Record<OperatorAction | 'decommission', DeviceState> = {
  suspend: 'Suspended',
  resume: 'Active',
  revoke: 'Revoked',
  decommission: 'Decommissioned',
};

const issues = (e: z.ZodError, prefix = '') =>
  e.issues.map((i) => ({ path: prefix + i.path.join('.'), message: i.message }));
const nowIso = () => new Date().toISOString();
const opKey = (action: string, deviceId: string) => `device-${action}:${deviceId}:${randomBytes(6).toString('hex')}`;

/** A device id as given in a URL or a body: 0x and 64 hex digits (any case). */
export function parseDeviceId(input: string): Result<string> {
  const id = input.toLowerCase();
  return DEVICE_ID_PATTERN.test(id) ? ok(id) : err('ERR_DEVICE_ID_INVALID', 'a device id is 0x and 64 hex digits');
}

export function createDeviceLifecycle(o: DeviceLifecycleOptions) {
  const registry = DeviceRegistry__factory.connect(o.deviceRegistry, o.provider);
  const identities = deviceIdentities({ issuer: o.issuer, chainId: o.chainId });

  /** Send one registry call through the outbox and wait until mined. */
  async function write(key: string, kind: string, data: string): Promise<Result<{ txHash: string }>> {
    let row: Awaited<ReturnType<Outbox['submit']>>;
    try {
      row = await o.outbox.submit(key, { kind, to: o.deviceRegistry, data });
    } catch (e) {
      return err('ERR_CHAIN_TX_FAILED', `the ${kind} transaction could not be sent: ${(e as Error).message}`);
    }
    if (row.status !== 'mined' || !row.txHash) {
      return err('ERR_CHAIN_TX_FAILED', `the ${kind} transaction failed: ${row.error ?? row.status}`);
    }
    return ok({ txHash: row.txHash });
  }

  const find = (deviceId: string) => o.dataSource.getRepository(DeviceEntity).findOneBy({ deviceId });

  /**
   * Give the relayer the DeviceRegistry roles it acts with (MANUFACTURER, OPERATOR). Works where the relayer is the
   * registry's admin (the stack deployed it); elsewhere the registry's admin grants them and this only checks.
   */
  async function ensureRegistryRoles(): Promise<Result<true>> {
    for (const role of [await registry.MANUFACTURER(), await registry.OPERATOR()]) {
      if (await registry.hasRole(role, o.outbox.address)) continue;
      const sent = await write(
        opKey('grant-role', role),
        'device.grantRole',
        registry.interface.encodeFunctionData('grantRole', [role, o.outbox.address]),
      );
      if (!sent.ok) return sent;
    }
    return ok(true);
  }

  async function register(input: unknown, caller: DeviceCaller): Promise<Result<RegisteredBatch>> {
    const body = RegisterBody.safeParse(input);
    if (!body.success) return err('ERR_VALIDATION', 'the body is { devices: [ … ] }', issues(body.error));
    if (body.data.devices.length > MAX_DEVICE_BATCH) {
      return err('ERR_DEVICE_BATCH_TOO_LARGE', `a batch holds at most ${MAX_DEVICE_BATCH} devices`);
    }
    const prepared: {
      deviceId: string;
      owner?: string;
      characteristics: Record<string, string>;
      fingerprint: string;
      secret: Buffer;
      salt: Buffer;
      commitment: string;
    }[] = [];
    for (const [i, raw] of body.data.devices.entries()) {
      const d = DeviceInput.safeParse(raw);
      if (!d.success) return err('ERR_VALIDATION', `devices.${i} fails its schema`, issues(d.error, `devices.${i}.`));
      const c = DeviceCharacteristicsSchema.safeParse(d.data.characteristics);
      const fp = deviceFingerprint(d.data.characteristics as DeviceCharacteristics);
      if (!c.success || !fp.ok) {
        return err(
          'ERR_VALIDATION',
          `devices.${i}.characteristics fail their schema`,
          c.success ? undefined : issues(c.error, `devices.${i}.characteristics.`),
        );
      }
      let deviceId = deviceIdOf(caller.did, c.data.serial);
      if (d.data.deviceId !== undefined) {
        const id = parseDeviceId(d.data.deviceId);
        if (!id.ok) return err(id.error.code, `devices.${i}.deviceId: ${id.error.message}`);
        deviceId = id.value;
      }
      const secret = generateDeviceSecret();
      const salt = randomBytes(32);
      prepared.push({
        deviceId,
        ...(d.data.owner ? { owner: d.data.owner } : {}),
        characteristics: c.data as Record<string, string>,
        fingerprint: fp.value,
        secret,
        salt,
        commitment: secretCommitment(salt, secret),
      });
    }
    const ids = prepared.map((p) => p.deviceId);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (twice.length > 0) return err('ERR_DEVICE_EXISTS', 'the batch names a device twice', { deviceIds: twice });

    // The relayer is every leaf's initial owner, so it can materialise and commission on the owner's behalf.
    const tree = buildDeviceBatch(
      prepared.map((p) => ({
        deviceId: p.deviceId,
        fingerprint: p.fingerprint,
        commitment: p.commitment,
        initialOwner: o.outbox.address,
      })),
    );
    const at = nowIso();
    const stored = await o.issuer.transaction(async (m, audit) => {
      const existing: string[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await m.getRepository(DeviceEntity).find({
          select: { deviceId: true },
          where: { deviceId: In(ids.slice(i, i + 500)) },
        });
        existing.push(...rows.map((r) => r.deviceId));
      }
      if (existing.length > 0)
        return err('ERR_DEVICE_EXISTS', 'devices are already registered', { deviceIds: existing });
      const rows: DeviceRow[] = prepared.map((p, i) => ({
        deviceId: p.deviceId,
        manufacturer: caller.did,
        owner: p.owner ?? null,
        batchId: null,
        batchRoot: tree.root,
        fingerprint: p.fingerprint,
        commitment: p.commitment,
        proof: JSON.stringify(tree.proofs[i]),
        characteristics: JSON.stringify(p.characteristics),
        identity: null,
        createdAt: at,
        updatedAt: at,
      }));
      for (let i = 0; i < rows.length; i += 50) {
        await m.getRepository(DeviceEntity).insert(rows.slice(i, i + 50));
        await m
          .getRepository(DeviceSecretEntity)
          .insert(prepared.slice(i, i + 50).map((p) => o.vault.row(p.deviceId, p.secret, p.salt)));
      }
      await audit('device.register', { root: tree.root, count: rows.length }, { actor: caller.did });
      return ok(true);
    });
    if (!stored.ok) return stored;

    const sent = await write(
      `device-batch:${tree.root}`,
      'device.registerBatch',
      registry.interface.encodeFunctionData('registerBatch', [tree.root, prepared.length]),
    );
    if (!sent.ok) {
      // Nothing reached the chain: forget the rows so that the manufacturer can try again.
      await o.issuer.transaction(async (m) => {
        for (let i = 0; i < ids.length; i += 500) {
          await m.getRepository(DeviceSecretEntity).delete({ deviceId: In(ids.slice(i, i + 500)) });
          await m.getRepository(DeviceEntity).delete({ deviceId: In(ids.slice(i, i + 500)) });
        }
      });
      return sent;
    }
    const receipt = await o.provider.getTransactionReceipt(sent.value.txHash);
    const event = receipt?.logs
      .map((l) => (l.address.toLowerCase() === o.deviceRegistry.toLowerCase() ? registry.interface.parseLog(l) : null))
      .find((e) => e?.name === 'BatchRegistered');
    if (!event) return err('ERR_CHAIN_TX_FAILED', 'the batch transaction emitted no BatchRegistered event');
    const batchId = Number(event.args.batchId);
    await o.issuer.transaction(async (m, audit) => {
      await m.getRepository(DeviceEntity).update({ batchRoot: tree.root }, { batchId, updatedAt: nowIso() });
      await audit('device.batch-mined', { root: tree.root, batchId, txHash: sent.value.txHash }, { actor: caller.did });
    });

    const bundles = prepared.map(
      (p, i): DeviceBundle => ({
        deviceId: p.deviceId,
        batchId,
        salt: p.salt.toString('hex'),
        proof: tree.proofs[i]!,
        provisioning: {
          deviceId: p.deviceId,
          secret: `0x${p.secret.toString('hex')}`,
          chainId: o.chainId,
          characteristics: p.characteristics,
          ...(o.brokerUrl ? { brokerUrl: o.brokerUrl } : {}),
        },
      }),
    );
    for (const p of prepared) p.secret.fill(0);
    return ok({ batchId, root: tree.root, txHash: sent.value.txHash, devices: bundles });
  }

  async function status(deviceId: string): Promise<DeviceChainStatus> {
    return readDeviceStatus(registry, deviceId);
  }

  function view(row: DeviceRow, s: DeviceChainStatus): DeviceView {
    return {
      deviceId: row.deviceId,
      state: s.state,
      manufacturer: row.manufacturer,
      owner: row.owner,
      did: row.identity ? ethrDid(o.chainId, row.identity) : null,
      identity: row.identity,
      batchId: row.batchId,
      fingerprint: s.state === 'Unknown' ? row.fingerprint : s.fingerprint,
      commitment: row.commitment,
      characteristics: JSON.parse(row.characteristics) as Record<string, string>,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }

  const isOperator = (c: DeviceCaller) => c.roles.includes('OperatorCredential');
  /** The recorded owner who also holds a DeviceOwnerCredential for the device's DID. */
  const isOwner = (c: DeviceCaller, row: DeviceRow) =>
    row.owner === c.did && row.identity !== null && c.ownedDeviceDids.includes(ethrDid(o.chainId, row.identity));

  async function load(deviceId: string): Promise<Result<{ row: DeviceRow; chain: DeviceChainStatus }>> {
    const id = parseDeviceId(deviceId);
    if (!id.ok) return id;
    const row = await find(id.value);
    if (!row) return err('ERR_DEVICE_UNKNOWN', 'no device with this id was registered here');
    return ok({ row, chain: await status(id.value) });
  }

  async function get(deviceId: string, caller: DeviceCaller): Promise<Result<DeviceView>> {
    const d = await load(deviceId);
    if (!d.ok) return d;
    const allowed =
      isOperator(caller) ||
      caller.roles.includes('AdminCredential') ||
      d.value.row.manufacturer === caller.did ||
      d.value.row.owner === caller.did;
    if (!allowed) return err('ERR_FORBIDDEN', 'only its manufacturer, its owner, an operator or an admin see a device');
    return ok(view(d.value.row, d.value.chain));
  }

  /** A device still only in its batch tree gets its record first (DeviceRegistry.materialize; anyone may call). */
  async function materialize(row: DeviceRow): Promise<Result<unknown>> {
    if (row.batchId === null) return err('ERR_DEVICE_STATE', 'the device’s batch is not on chain yet');
    return write(
      opKey('materialize', row.deviceId),
      'device.materialize',
      registry.interface.encodeFunctionData('materialize', [
        row.batchId,
        row.deviceId,
        row.fingerprint,
        row.commitment,
        o.outbox.address,
        JSON.parse(row.proof) as string[],
      ]),
    );
  }

  async function commission(deviceId: string, input: unknown, caller: DeviceCaller): Promise<Result<DeviceView>> {
    const body = CommissionBody.safeParse(input);
    if (!body.success)
      return err('ERR_VALIDATION', 'the body is { identity: <address or did:ethr> }', issues(body.error));
    let identity = body.data.identity.toLowerCase();
    if (identity.startsWith('did:')) {
      const m = /^did:ethr:(?:(0x[0-9a-f]+):)?(0x[0-9a-f]{40})$/.exec(identity);
      if (!m || (m[1] !== undefined && BigInt(m[1]) !== BigInt(o.chainId))) {
        return err('ERR_VALIDATION', `identity must be a did:ethr on chain ${o.chainId} or an address`);
      }
      identity = m[2]!;
    }
    if (!/^0x[0-9a-f]{40}$/.test(identity) || BigInt(identity) === 0n) {
      return err('ERR_VALIDATION', 'identity must be a did:ethr or a non-zero address');
    }
    const d = await load(deviceId);
    if (!d.ok) return d;
    const { row, chain } = d.value;
    const did = ethrDid(o.chainId, identity);
    if (!caller.ownedDeviceDids.includes(did)) {
      return err('ERR_DEVICE_NOT_OWNER', `you hold no DeviceOwnerCredential for ${did}`);
    }
    if (row.owner !== null && row.owner !== caller.did) {
      return err('ERR_DEVICE_NOT_OWNER', 'the device is assigned to another owner');
    }
    if (chain.state !== 'Unknown' && chain.state !== 'Registered') {
      return err('ERR_DEVICE_STATE', `a device is commissioned once; it is ${chain.state}`);
    }
    if (row.batchId === null) return err('ERR_DEVICE_STATE', 'the device’s batch is not on chain yet');
    const other = await registry.deviceOfIdentity(identity);
    if (other !== ZeroHash && other !== row.deviceId) {
      return err('ERR_CONFLICT', 'that DID key is already bound to another device');
    }
    const sent = await write(
      opKey('commission', row.deviceId),
      'device.commission',
      chain.state === 'Unknown'
        ? registry.interface.encodeFunctionData('commissionFromBatch', [
            row.batchId,
            row.deviceId,
            row.fingerprint,
            row.commitment,
            JSON.parse(row.proof) as string[],
            identity,
          ])
        : registry.interface.encodeFunctionData('commission', [row.deviceId, identity]),
    );
    if (!sent.ok) return sent;
    const updated: DeviceRow = { ...row, owner: caller.did, identity, updatedAt: nowIso() };
    await o.issuer.transaction(async (m, audit) => {
      await m
        .getRepository(DeviceEntity)
        .update({ deviceId: row.deviceId }, { owner: caller.did, identity, updatedAt: updated.updatedAt });
      await audit(
        'device.commission',
        { deviceId: row.deviceId, identity, txHash: sent.value.txHash },
        { actor: caller.did },
      );
    });
    // Its identity credential (whose status slot its session credentials name); retried by the next handshake.
    await identities.ensure(updated, caller.did);
    return ok(view(updated, await status(row.deviceId)));
  }

  async function transition(
    deviceId: string,
    action: OperatorAction | 'decommission',
    caller: DeviceCaller,
  ): Promise<Result<DeviceView>> {
    const d = await load(deviceId);
    if (!d.ok) return d;
    const { row } = d.value;
    let { chain } = d.value;
    const allowed = action === 'decommission' ? isOperator(caller) || isOwner(caller, row) : isOperator(caller);
    if (!allowed) {
      return err(
        action === 'decommission' ? 'ERR_DEVICE_NOT_OWNER' : 'ERR_FORBIDDEN',
        action === 'decommission'
          ? 'only its owner or an operator decommissions a device'
          : `only an operator may ${action}`,
      );
    }
    const to = TARGET[action];
    // A device that never left its batch is given its record first, so that it can be revoked or decommissioned.
    if (chain.state === 'Unknown' && (to === 'Revoked' || to === 'Decommissioned')) {
      const m = await materialize(row);
      if (!m.ok) return m;
      chain = await status(row.deviceId);
    }
    if (!canTransition(chain.state, to)) {
      return err('ERR_DEVICE_STATE', `a ${chain.state} device cannot become ${to}`, { state: chain.state });
    }
    const sent = await write(
      opKey(action, row.deviceId),
      `device.${action}`,
      registry.interface.encodeFunctionData(action as 'suspend', [row.deviceId]),
    );
    if (!sent.ok) return sent;
    await o.issuer.recordAction(
      `device.${action}`,
      { deviceId: row.deviceId, from: chain.state, to, txHash: sent.value.txHash },
      { actor: caller.did },
    );
    // The identity credential follows (and with it every session credential of the device, at /verify).
    if (row.identity) await identities.follow(row, to, caller.did);
    return ok(view(row, await status(row.deviceId)));
  }

  /** The status entries of a device's session credentials (its identity credential's slot). */
  async function sessionStatus(deviceId: string): Promise<Result<BitstringStatusListEntry[]>> {
    const id = parseDeviceId(deviceId);
    if (!id.ok) return id;
    const row = await find(id.value);
    if (!row) return err('ERR_DEVICE_UNKNOWN', 'no device with this id was registered here');
    return identities.sessionStatus(row);
  }

  return {
    vault: o.vault,
    ensureRegistryRoles,
    sessionStatus,
    register,
    get,
    commission,
    suspend: (id: string, caller: DeviceCaller) => transition(id, 'suspend', caller),
    resume: (id: string, caller: DeviceCaller) => transition(id, 'resume', caller),
    revoke: (id: string, caller: DeviceCaller) => transition(id, 'revoke', caller),
    decommission: (id: string, caller: DeviceCaller) => transition(id, 'decommission', caller),
  };
}

export type DeviceLifecycle = ReturnType<typeof createDeviceLifecycle>;
