import {
  type BitstringStatusListEntry,
  type DeviceState,
  err,
  ethrDid,
  ok,
  type Result,
  statusListEntry,
} from '@tessera/protocol';
import type { IssuedCredential, Issuer } from '../issuer.js';
import type { DeviceRow } from './store.js';

const TYPE = 'DeviceIdentityCredential';

/**
 * A commissioned device's DeviceIdentityCredential: issued by the issuer to the device's DID when it is
 * commissioned, and its status follows the device's state on chain (suspended: the suspension bit; revoked or
 * decommissioned: revoked). Its status slot is also the one every DeviceSessionCredential of the device names, so a
 * relying party checking a session credential at `/verify` refuses it once the operator has acted.
 *
 * Every operation is idempotent, so a crash between the chain write and these steps is finished by the next call
 * (the next handshake asks for the status entries; the next transition follows the state).
 */
export function deviceIdentities(o: { issuer: Issuer; chainId: number }) {
  /** deviceId → [status list id, index] of its identity credential (the session credentials' slot). */
  const slots = new Map<string, [number, number]>();

  async function find(did: string): Promise<IssuedCredential | undefined> {
    const page = await o.issuer.list({ type: TYPE, subject: did, limit: 50 });
    if (!page.ok) return undefined;
    // The newest one that is not revoked, else the newest (a revoked device keeps its revoked credential).
    const items = [...page.value.items].sort((a, b) => (a.issuedAt < b.issuedAt ? 1 : -1));
    return items.find((c) => c.status !== 'revoked') ?? items[0];
  }

  /** The device's identity credential, issued now if it has none. */
  async function ensure(row: DeviceRow, actor = 'issuer'): Promise<Result<IssuedCredential>> {
    if (!row.identity) return err('ERR_DEVICE_STATE', 'the device is not commissioned');
    const did = ethrDid(o.chainId, row.identity);
    const found = await find(did);
    if (found) return ok(found);
    const characteristics = JSON.parse(row.characteristics) as Record<string, string>;
    return o.issuer.issue(
      {
        type: TYPE,
        subject: did,
        claims: {
          deviceId: row.deviceId,
          fingerprint: row.fingerprint,
          manufacturer: row.manufacturer,
          ...(row.owner ? { owner: row.owner } : {}),
          deviceClass: 'other',
          model: characteristics.model ?? 'unknown',
          serialNumber: characteristics.serial ?? 'unknown',
          ...(characteristics.hardwareRevision ? { hardwareRevision: characteristics.hardwareRevision } : {}),
        },
      },
      { actor },
    );
  }

  /** Make the identity credential's status match the device's state (no-op when it already does). */
  async function follow(row: DeviceRow, state: DeviceState, actor = 'issuer'): Promise<Result<true>> {
    const vc = await ensure(row, actor);
    if (!vc.ok) return vc;
    const want =
      state === 'Suspended' ? 'suspended' : state === 'Revoked' || state === 'Decommissioned' ? 'revoked' : 'active';
    const have = vc.value.status;
    if (have === want || have === 'revoked') return ok(true);
    const ctx = { actor, reason: `device ${row.deviceId} is ${state}` };
    const r =
      want === 'revoked'
        ? await o.issuer.revoke(vc.value.id, ctx)
        : want === 'suspended'
          ? await o.issuer.suspend(vc.value.id, ctx)
          : await o.issuer.resume(vc.value.id, ctx);
    return r.ok ? ok(true) : r;
  }

  /** The status entries a session credential of this device carries (its identity credential's). */
  async function sessionStatus(row: DeviceRow): Promise<Result<BitstringStatusListEntry[]>> {
    let slot = slots.get(row.deviceId);
    if (!slot) {
      const vc = await ensure(row);
      if (!vc.ok) return vc;
      const revocation = vc.value.credentialStatus.find((s) => s.statusPurpose === 'revocation');
      if (!revocation) return err('ERR_INTERNAL', 'the identity credential has no revocation entry');
      const listId = Number(/\/status-lists\/(\d+)\//.exec(revocation.statusListCredential)?.[1]);
      slot = [listId, Number(revocation.statusListIndex)];
      slots.set(row.deviceId, slot);
    }
    const [listId, index] = slot;
    return ok([
      statusListEntry(o.issuer.statusListUrl(listId, 'revocation'), index, 'revocation'),
      statusListEntry(o.issuer.statusListUrl(listId, 'suspension'), index, 'suspension'),
    ]);
  }

  return { ensure, follow, sessionStatus };
}

export type DeviceIdentities = ReturnType<typeof deviceIdentities>;
