import { randomBytes } from 'node:crypto';
import { type HolderKey, issuerRequest, loginWithCredentials } from '@tessera/wallet';
import { ethrDid } from '@tessera/protocol';
import { computeAddress } from 'ethers';
import type { GeneratedDevice } from './devices.js';
import type { FleetProvisioner, ProgressFn, SimDevice } from './provision.js';

/** Credentials per login (the verifier's MAX_CREDENTIALS_PER_PRESENTATION). */
const CREDENTIALS_PER_LOGIN = 16;

export interface HttpIssuerProvisionerOptions {
  /** The issuer API base, e.g. http://127.0.0.1:8080/issuer. */
  issuerUrl: string;
  /** A holder with an AdminCredential (the stack's root admin wallet file). */
  admin: HolderKey;
  /** Devices per registration batch (≤ MAX_DEVICE_BATCH). */
  batchSize?: number;
}

const secretOf = (text: string) =>
  /^0x[0-9a-fA-F]+$/.test(text) ? Buffer.from(text.slice(2), 'hex') : Buffer.from(text, 'base64url');

/**
 * Provision through a running stack's issuer API, as a manufacturer, an owner and an operator would
 * (stack/src/devices.test.ts): the admin issues the simulator a ManufacturerCredential and an
 * OperatorCredential; the manufacturer registers the fleet in batches (`POST /devices/batches`, each secret returned
 * once); each device generates its DID key; the owner receives a DeviceOwnerCredential per device DID and commissions
 * (`POST /devices/:id/commission`); the operator revokes (`POST /devices/:id/revoke`). The issuer API has no firmware
 * update route, so `updateFirmware` is not offered.
 */
export class HttpIssuerProvisioner implements FleetProvisioner {
  readonly kind = 'issuer-http';
  private adminToken: string | undefined;
  private operatorToken: string | undefined;

  constructor(private readonly o: HttpIssuerProvisionerOptions) {}

  private async request(method: string, path: string, token: string | undefined, body?: unknown) {
    const r = await issuerRequest(this.o.issuerUrl, method, path, {
      ...(token ? { token } : {}),
      ...(body === undefined ? {} : { body }),
    });
    if (r.status >= 300)
      throw new Error(`${method} ${path}: ${r.json?.error?.code ?? r.status} ${r.json?.error?.message ?? r.text}`);
    return r.json;
  }

  private async holder(chainId: number, type: string, claims: Record<string, unknown>): Promise<HolderKey> {
    this.adminToken ??= await loginWithCredentials(this.o.issuerUrl, this.o.admin);
    const privateKey = `0x${randomBytes(32).toString('hex')}`;
    const did = ethrDid(chainId, computeAddress(privateKey));
    const r = await this.request('POST', '/credentials', this.adminToken, { type, subject: did, claims });
    return { did, privateKey, credentials: [r.jwt as string] };
  }

  private chainIdOfAdmin(): number {
    const m = /^did:ethr:(0x[0-9a-f]+):/i.exec(this.o.admin.did);
    return m ? Number(BigInt(m[1]!)) : 31337;
  }

  async provision(devices: readonly GeneratedDevice[], progress?: ProgressFn): Promise<SimDevice[]> {
    const chainId = this.chainIdOfAdmin();
    const manufacturer = await loginWithCredentials(
      this.o.issuerUrl,
      await this.holder(chainId, 'ManufacturerCredential', {
        legalName: 'Tessera Fleet Simulator GmbH',
        country: 'DE',
        manufacturerCode: 'TSIM',
      }),
    );
    this.operatorToken = await loginWithCredentials(
      this.o.issuerUrl,
      await this.holder(chainId, 'OperatorCredential', { name: 'firmware-sim operator' }),
    );
    const ownerKey = `0x${randomBytes(32).toString('hex')}`;
    const owner = { did: ethrDid(chainId, computeAddress(ownerKey)), privateKey: ownerKey };
    const out: SimDevice[] = [];
    const batchSize = this.o.batchSize ?? 500;
    for (let start = 0; start < devices.length; start += batchSize) {
      const chunk = devices.slice(start, start + batchSize);
      const reg = await this.request('POST', '/devices/batches', manufacturer, {
        devices: chunk.map((g) => ({ characteristics: g.characteristics })),
      });
      const bundles = reg.devices as { deviceId: string; provisioning: { secret: string; chainId: number } }[];
      const fresh = chunk.map((g, i) => {
        const privateKey = `0x${randomBytes(32).toString('hex')}`;
        const b = bundles[i]!;
        return {
          generated: g,
          identity: {
            deviceId: b.deviceId,
            did: ethrDid(b.provisioning.chainId, computeAddress(privateKey)),
            secret: secretOf(b.provisioning.secret),
            privateKey,
            fingerprint: g.fingerprint,
          },
        } satisfies SimDevice;
      });
      // The owner: one DeviceOwnerCredential per device DID, presented 16 at a time.
      for (let k = 0; k < fresh.length; k += CREDENTIALS_PER_LOGIN) {
        const group = fresh.slice(k, k + CREDENTIALS_PER_LOGIN);
        const credentials: string[] = [];
        for (const d of group) {
          const r = await this.request('POST', '/credentials', this.adminToken, {
            type: 'DeviceOwnerCredential',
            subject: owner.did,
            claims: { device: d.identity.did },
          });
          credentials.push(r.jwt as string);
        }
        const token = await loginWithCredentials(this.o.issuerUrl, { ...owner, credentials });
        for (const d of group) {
          await this.request('POST', `/devices/${d.identity.deviceId}/commission`, token, { identity: d.identity.did });
        }
        progress?.('commissioning (issuer API)', start + k + group.length, devices.length);
      }
      out.push(...fresh);
    }
    return out;
  }

  async revoke(deviceId: string): Promise<void> {
    this.operatorToken ??= await loginWithCredentials(
      this.o.issuerUrl,
      await this.holder(this.chainIdOfAdmin(), 'OperatorCredential', { name: 'firmware-sim operator' }),
    );
    await this.request('POST', `/devices/${deviceId}/revoke`, this.operatorToken);
  }
}
