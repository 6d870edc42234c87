import { createHash, randomBytes, randomUUID } from 'node:crypto';
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
import {
  type DbDeviceSecretVault,
  DeviceEntity,
  DeviceIntentEntity,
  type DeviceIntentRow,
  type DeviceRow,
  DeviceSecretEntity,
} from './store.js';

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

/**
 * A registration or commissioning whose chain write is sent but not final yet (the chain is down or slow): it will be
 * finished, never dropped. Repeat the request with the same request id (`Idempotency-Key`) to get its result.
 */
export interface PendingDeviceOperation {
  pending: true;
  requestId: string;
  message: string;
}

/**
 * Test hook, for the fault suite only: `TESSERA_TEST_CRASH_AFTER_CHAIN_WRITE=device.registerBatch` (or
 * `device.commission`) kills the process with SIGKILL right after that chain write is mined and before the database
 * records it, the worst moment for a crash. Never set in production.
 */
const CRASH_AFTER_CHAIN_WRITE = process.env.TESSERA_TEST_CRASH_AFTER_CHAIN_WRITE;

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
  /** True while the chain is known to be down: a new registration or commissioning is refused, nothing recorded. */
  chainDown?: () => boolean;
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
    const s = await send(key, kind, data);
    if (s.state === 'mined') return ok({ txHash: s.txHash });
    return err(
      'ERR_CHAIN_TX_FAILED',
      `the ${kind} transaction ${s.state === 'failed' ? 'failed' : 'is not final yet'}: ${s.error}`,
    );
  }

  /**
   * Send one registry call through the outbox and wait: mined, failed (reverted, or never recorded: it will not
   * happen), or pending (recorded and maybe sent, the outbox finishes it later).
   */
  async function send(
    key: string,
    kind: string,
    data: string,
  ): Promise<
    { state: 'mined'; txHash: string } | { state: 'failed'; error: string } | { state: 'pending'; error: string }
  > {
    let row: Awaited<ReturnType<Outbox['submit']>>;
    try {
      row = await o.outbox.submit(key, { kind, to: o.deviceRegistry, data });
    } catch (e) {
      const recorded = await o.outbox.get(key).catch(() => undefined);
      // not in the outbox: nothing was or will be sent; in it (or unknown): the outbox may still send it
      if (recorded === null) return { state: 'failed', error: (e as Error).message };
      if (recorded?.status === 'mined' && recorded.txHash) row = recorded;
      else return { state: 'pending', error: (e as Error).message };
    }
    if (row.status === 'failed') return { state: 'failed', error: row.error ?? 'reverted' };
    if (row.status !== 'mined' || !row.txHash) return { state: 'pending', error: row.status };
    if (CRASH_AFTER_CHAIN_WRITE === kind) process.kill(process.pid, 'SIGKILL');
    return { state: 'mined', txHash: row.txHash };
  }

  const chainUnavailable = () =>
    err('ERR_CHAIN_UNAVAILABLE', 'the chain does not answer: nothing was recorded or sent; retry once it is back');
  const intents = () => o.dataSource.getRepository(DeviceIntentEntity);
  const intentId = (caller: string, requestId: string) =>
    createHash('sha256').update(`${caller}\n${requestId}`).digest('hex');
  const pendingAnswer = (requestId: string): PendingDeviceOperation => ({
    pending: true,
    requestId,
    message: 'the chain write is recorded and will be finished; repeat the request with the same Idempotency-Key',
  });

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

  async function register(
    input: unknown,
    caller: DeviceCaller,
    requestId: string = randomUUID(),
  ): Promise<Result<RegisteredBatch | PendingDeviceOperation>> {
    const id = intentId(caller.did, requestId);
    const prior = await intents().findOneBy({ id });
    if (prior) {
      if (prior.kind !== 'register') return err('ERR_CONFLICT', 'this request id was used for another operation');
      return resumeRegister(prior, requestId);
    }
    if (o.chainDown?.()) return chainUnavailable();
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
    const intent: DeviceIntentRow = {
      id,
      kind: 'register',
      caller: caller.did,
      target: tree.root,
      outboxKey: `device-batch:${tree.root}`,
      payload: JSON.stringify({
        data: registry.interface.encodeFunctionData('registerBatch', [tree.root, prepared.length]),
        ids,
      }),
      status: 'pending',
      error: null,
      createdAt: at,
      updatedAt: at,
    };
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
      // the intent, with the same commit as the rows: a crash from here on is finished, never half-done
      await m.getRepository(DeviceIntentEntity).insert(intent);
      return ok(true);
    });
    if (!stored.ok) return stored;
    for (const p of prepared) p.secret.fill(0);
    return resumeRegister(intent, requestId);
  }

  /** The bundles of a registered batch, rebuilt from its rows and sealed secrets (the same answer on a retry). */
  async function bundlesOf(root: string, batchId: number): Promise<DeviceBundle[]> {
    const rows = await o.dataSource.getRepository(DeviceEntity).findBy({ batchRoot: root });
    const intent = await intents().findOneBy({ target: root, kind: 'register' });
    const ids = ((intent ? JSON.parse(intent.payload) : {}) as { ids?: string[] }).ids ?? [];
    const order = new Map<string, number>(ids.map((id, i) => [id, i]));
    rows.sort((a, b) => (order.get(a.deviceId) ?? 0) - (order.get(b.deviceId) ?? 0));
    const out: DeviceBundle[] = [];
    for (const r of rows) {
      const sealed = await o.vault.get(r.deviceId);
      if (!sealed) continue;
      out.push({
        deviceId: r.deviceId,
        batchId,
        salt: sealed.salt.toString('hex'),
        proof: JSON.parse(r.proof) as string[],
        provisioning: {
          deviceId: r.deviceId,
          secret: `0x${sealed.secret.toString('hex')}`,
          chainId: o.chainId,
          characteristics: JSON.parse(r.characteristics) as Record<string, string>,
          ...(o.brokerUrl ? { brokerUrl: o.brokerUrl } : {}),
        },
      });
      sealed.secret.fill(0);
    }
    return out;
  }

  /** Drive a registration intent to its end: the chain write (sent once), then the batch id on every row. */
  async function resumeRegister(
    intent: DeviceIntentRow,
    requestId: string,
  ): Promise<Result<RegisteredBatch | PendingDeviceOperation>> {
    if (intent.status === 'failed') {
      return err('ERR_CHAIN_TX_FAILED', `the batch was not registered and will not be: ${intent.error ?? 'failed'}`);
    }
    const payload = JSON.parse(intent.payload) as { data: string; txHash?: string; batchId?: number };
    if (intent.status === 'done' && payload.batchId !== undefined && payload.txHash) {
      return ok({
        batchId: payload.batchId,
        root: intent.target,
        txHash: payload.txHash,
        devices: await bundlesOf(intent.target, payload.batchId),
      });
    }
    const sent = await send(intent.outboxKey, 'device.registerBatch', payload.data);
    if (sent.state === 'pending') return ok(pendingAnswer(requestId));
    if (sent.state === 'failed') {
      await failIntent(intent, sent.error);
      return err('ERR_CHAIN_TX_FAILED', `the batch was not registered and will not be: ${sent.error}`);
    }
    const done = await finishRegister(intent, sent.txHash);
    if (!done.ok) return done;
    return ok({
      batchId: done.value,
      root: intent.target,
      txHash: sent.txHash,
      devices: await bundlesOf(intent.target, done.value),
    });
  }

  async function finishRegister(intent: DeviceIntentRow, txHash: string): Promise<Result<number>> {
    const receipt = await o.provider.getTransactionReceipt(txHash);
    const event = receipt?.logs
      .map((l) => (l.address.toLowerCase() === o.deviceRegistry.toLowerCase() ? registry.interface.parseLog(l) : null))
      .find((e) => e?.name === 'BatchRegistered');
    if (!event) return err('ERR_CHAIN_TX_FAILED', 'the batch transaction emitted no BatchRegistered event');
    const batchId = Number(event.args.batchId);
    const payload = { ...JSON.parse(intent.payload), txHash, batchId };
    await o.issuer.transaction(async (m, audit) => {
      await m.getRepository(DeviceEntity).update({ batchRoot: intent.target }, { batchId, updatedAt: nowIso() });
      await m
        .getRepository(DeviceIntentEntity)
        .update({ id: intent.id }, { status: 'done', payload: JSON.stringify(payload), updatedAt: nowIso() });
      await audit('device.batch-mined', { root: intent.target, batchId, txHash }, { actor: intent.caller });
    });
    intent.status = 'done';
    intent.payload = JSON.stringify(payload);
    return ok(batchId);
  }

  /** A chain write that failed for good: a registration's rows are removed (so it can be tried again). */
  async function failIntent(intent: DeviceIntentRow, error: string) {
    await o.issuer.transaction(async (m) => {
      if (intent.kind === 'register') {
        const ids = (await m.getRepository(DeviceEntity).findBy({ batchRoot: intent.target })).map((r) => r.deviceId);
        for (let i = 0; i < ids.length; i += 500) {
          await m.getRepository(DeviceSecretEntity).delete({ deviceId: In(ids.slice(i, i + 500)) });
          await m.getRepository(DeviceEntity).delete({ deviceId: In(ids.slice(i, i + 500)) });
        }
      }
      await m
        .getRepository(DeviceIntentEntity)
        .update({ id: intent.id }, { status: 'failed', error: error.slice(0, 2000), updatedAt: nowIso() });
    });
    intent.status = 'failed';
    intent.error = error;
  }

  /**
   * Finish what a crash left between the chain and the database: every pending intent whose chain write is mined is
   * recorded, one that failed is undone, one never handed to the outbox is handed to it now (the rows are there).
   */
  async function reconcile(): Promise<{ finished: number; failed: number; pending: number }> {
    const out = { finished: 0, failed: 0, pending: 0 };
    for (const intent of await intents().findBy({ status: 'pending' })) {
      const payload = JSON.parse(intent.payload) as { data: string };
      const kind = intent.kind === 'register' ? 'device.registerBatch' : 'device.commission';
      const row = await o.outbox.enqueue(intent.outboxKey, { kind, to: o.deviceRegistry, data: payload.data });
      if (row.status === 'mined' && row.txHash) {
        const r =
          intent.kind === 'register'
            ? await finishRegister(intent, row.txHash)
            : await finishCommission(intent, row.txHash);
        if (r.ok) out.finished++;
        else out.pending++;
      } else if (row.status === 'failed') {
        await failIntent(intent, row.error ?? 'reverted');
        out.failed++;
      } else out.pending++;
    }
    return out;
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

  /**
   * The devices the caller may see, newest first: every device for an operator or an admin, otherwise those it
   * manufactured or that were sold to it. `offset` pages through them; `next` is the offset of the following page.
   */
  async function list(
    caller: DeviceCaller,
    page: { limit: number; offset: number },
  ): Promise<Result<{ items: DeviceView[]; next?: number }>> {
    const all = isOperator(caller) || caller.roles.includes('AdminCredential');
    const rows = await o.dataSource.getRepository(DeviceEntity).find({
      ...(all ? {} : { where: [{ manufacturer: caller.did }, { owner: caller.did }] }),
      order: { createdAt: 'DESC', deviceId: 'ASC' },
      skip: page.offset,
      take: page.limit + 1,
    });
    const shown = rows.slice(0, page.limit);
    const items = await Promise.all(shown.map(async (row) => view(row, await status(row.deviceId))));
    return ok({ items, ...(rows.length > page.limit ? { next: page.offset + page.limit } : {}) });
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

  async function commission(
    deviceId: string,
    input: unknown,
    caller: DeviceCaller,
    requestId: string = randomUUID(),
  ): Promise<Result<DeviceView | PendingDeviceOperation>> {
    const id = intentId(caller.did, requestId);
    const prior = await intents().findOneBy({ id });
    if (prior) {
      if (prior.kind !== 'commission') return err('ERR_CONFLICT', 'this request id was used for another operation');
      return resumeCommission(prior, requestId);
    }
    if (o.chainDown?.()) return chainUnavailable();
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
    const at = nowIso();
    const intent: DeviceIntentRow = {
      id,
      kind: 'commission',
      caller: caller.did,
      target: row.deviceId,
      outboxKey: `device-commission:${row.deviceId}:${id.slice(0, 16)}`,
      payload: JSON.stringify({
        identity,
        data:
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
      }),
      status: 'pending',
      error: null,
      createdAt: at,
      updatedAt: at,
    };
    await intents().insert(intent);
    return resumeCommission(intent, requestId);
  }

  /** Drive a commissioning intent to its end: the chain write (sent once), then the owner and identity recorded. */
  async function resumeCommission(
    intent: DeviceIntentRow,
    requestId: string,
  ): Promise<Result<DeviceView | PendingDeviceOperation>> {
    if (intent.status === 'failed') {
      return err('ERR_CHAIN_TX_FAILED', `the device was not commissioned and will not be: ${intent.error ?? 'failed'}`);
    }
    if (intent.status !== 'done') {
      const { data } = JSON.parse(intent.payload) as { data: string };
      const sent = await send(intent.outboxKey, 'device.commission', data);
      if (sent.state === 'pending') return ok(pendingAnswer(requestId));
      if (sent.state === 'failed') {
        await failIntent(intent, sent.error);
        return err('ERR_CHAIN_TX_FAILED', `the device was not commissioned and will not be: ${sent.error}`);
      }
      await finishCommission(intent, sent.txHash);
    }
    const row = await find(intent.target);
    if (!row) return err('ERR_DEVICE_UNKNOWN', 'no device with this id was registered here');
    // Its identity credential (whose status slot its session credentials name); retried by the next handshake.
    await identities.ensure(row, intent.caller);
    return ok(view(row, await status(row.deviceId)));
  }

  async function finishCommission(intent: DeviceIntentRow, txHash: string): Promise<Result<true>> {
    const { identity } = JSON.parse(intent.payload) as { identity: string };
    await o.issuer.transaction(async (m, audit) => {
      await m
        .getRepository(DeviceEntity)
        .update({ deviceId: intent.target }, { owner: intent.caller, identity, updatedAt: nowIso() });
      await m.getRepository(DeviceIntentEntity).update({ id: intent.id }, { status: 'done', updatedAt: nowIso() });
      await audit('device.commission', { deviceId: intent.target, identity, txHash }, { actor: intent.caller });
    });
    intent.status = 'done';
    return ok(true);
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
    reconcile,
    sessionStatus,
    register,
    get,
    list,
    commission,
    suspend: (id: string, caller: DeviceCaller) => transition(id, 'suspend', caller),
    resume: (id: string, caller: DeviceCaller) => transition(id, 'resume', caller),
    revoke: (id: string, caller: DeviceCaller) => transition(id, 'revoke', caller),
    decommission: (id: string, caller: DeviceCaller) => transition(id, 'decommission', caller),
  };
}

export type DeviceLifecycle = ReturnType<typeof createDeviceLifecycle>;
