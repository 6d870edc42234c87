import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ANVIL_FUNDER_KEY,
  type AnvilChain,
  type DeviceRegistry,
  DeviceRegistry__factory,
  ensureDeployed,
  makeProvider,
  readDeviceStatus,
  startAnvil,
} from '@tessera/contracts';
import { deriveBrokerPassword, type Logger, seal, silentLogger, unseal } from '@tessera/protocol';
import {
  type AedesBrokerAdapter,
  createDidResolver,
  type DeviceHandshakeService,
  type DeviceSecretVault,
  type HandshakeLimits,
  MemoryHandshakeLimiter,
  MemoryNonceStore,
} from '@tessera/verifier';
import { type JsonRpcProvider, NonceManager, Wallet } from 'ethers';
import { attachHandshake, startBroker } from './devices-part.js';

/**
 * A vault that keeps each secret sealed (AES-256-GCM, protocol `seal`) in memory. The in-process stack uses it
 * because FileDeviceSecretVault rewrites its whole file on every put, which is quadratic for a 10,000-device fleet.
 */
export class SealedMemoryVault implements DeviceSecretVault {
  private readonly key = randomBytes(32);
  private readonly devices = new Map<string, { salt: Buffer; sealed: string }>();
  async get(deviceId: string) {
    const e = this.devices.get(deviceId.toLowerCase());
    return e && { secret: unseal(this.key, e.sealed, `sim-vault:${deviceId.toLowerCase()}`), salt: e.salt };
  }
  async put(deviceId: string, secret: Uint8Array, salt: Uint8Array) {
    const id = deviceId.toLowerCase();
    this.devices.set(id, { salt: Buffer.from(salt), sealed: seal(this.key, secret, `sim-vault:${id}`) });
  }
  async delete(deviceId: string) {
    this.devices.delete(deviceId.toLowerCase());
  }
  async list() {
    return [...this.devices.keys()];
  }
}

/**
 * The limits of the in-process stack. Every simulated device connects from 127.0.0.1, so the per-source budget and
 * the per-source lockout (made for one gateway or NAT) would lock the honest part of the fleet out once the attackers
 * have failed a few hundred times; the per-device limits and lockout stay as they are.
 */
export const SIM_LIMITS: Partial<HandshakeLimits> = {
  source: { attempts: 100_000_000, windowMs: 60_000, lockoutThreshold: 100_000_000 },
};

/** The parts a simulation runs against when it starts them itself: anvil, aedes, the handshake service. */
export interface InProcessStack {
  chain: AnvilChain;
  provider: JsonRpcProvider;
  chainId: number;
  admin: Wallet;
  /** DeviceRegistry connected with a nonce-managed admin signer (manufacturer, owner and operator). */
  registry: DeviceRegistry;
  vault: DeviceSecretVault;
  broker: AedesBrokerAdapter;
  service: DeviceHandshakeService;
  brokerUrl: string;
  /**
   * Stop broker and handshake service, then start both again on the same port (connect storm), composed as the stack
   * composes them: the broker listens first, the service then enrols every Active device of the vault. With
   * `enrolBeforeListen`, the Active devices are enrolled with the new broker before it listens (what-if for the
   * verifier: no genuine device is refused at CONNECT while the service catches up).
   */
  restartBroker(options?: { enrolBeforeListen?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

export interface InProcessStackOptions {
  limits?: Partial<HandshakeLimits>;
  /** Called when the verifier has applied a lifecycle change to the broker. */
  onApplied?(deviceId: string, to: string): void;
  /** The broker's and the handshake service's log (default: silent). */
  log?: Logger;
}

/**
 * The device side of the stack on its own, for fleet simulations and the sessions bench: anvil with the contracts, the
 * embedded broker and the handshake service composed by the stack's own devices part (`startBroker`,
 * `attachHandshake`), device secrets in a sealed in-memory vault, and a DeviceRegistry admin that registers,
 * commissions and revokes directly on chain (`ChainProvisioner`), without the issuer.
 */
export async function startInProcessStack(o: InProcessStackOptions = {}): Promise<InProcessStack> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-sim-'));
  const chain = await startAnvil({});
  const cleanup: (() => Promise<unknown> | unknown)[] = [
    () => chain.stop(),
    () => rmSync(dir, { recursive: true, force: true }),
  ];
  try {
    const provider = makeProvider(chain.rpcUrl, chain.chainId);
    const admin = new Wallet(ANVIL_FUNDER_KEY, provider);
    const addresses = await ensureDeployed({
      provider,
      deployer: admin,
      chainId: chain.chainId,
      file: join(dir, 'deployments.json'),
      allowDeploy: true,
    });
    const registry = DeviceRegistry__factory.connect(addresses.DeviceRegistry, new NonceManager(admin));
    await (await registry.grantRole(await registry.MANUFACTURER(), admin.address)).wait();
    await (await registry.grantRole(await registry.OPERATOR(), admin.address)).wait();
    const dids = await createDidResolver({
      chainId: chain.chainId,
      provider,
      registry: addresses.EthereumDIDRegistry,
      wsUrl: chain.wsUrl,
    });
    cleanup.unshift(() => dids.stop());
    const { resolver } = dids;
    const vault = new SealedMemoryVault();
    const issuerKey = Wallet.createRandom();
    const issuer = {
      did: `did:ethr:0x${chain.chainId.toString(16)}:${issuerKey.address.toLowerCase()}`,
      privateKey: issuerKey.privateKey,
    };
    const limiter = new MemoryHandshakeLimiter({ limits: o.limits ?? SIM_LIMITS });
    const challenges = new MemoryNonceStore();
    const reader = DeviceRegistry__factory.connect(addresses.DeviceRegistry, provider);
    /** Enrol every device of the vault that is Active on chain (fresh reads, 32 at a time). */
    const enrolActive = async (broker: AedesBrokerAdapter) => {
      const ids = await vault.list();
      for (let i = 0; i < ids.length; i += 32) {
        await Promise.all(
          ids.slice(i, i + 32).map(async (id) => {
            if ((await readDeviceStatus(reader, id)).state !== 'Active') return;
            const v = await vault.get(id);
            if (!v) return;
            await broker.enrol({ deviceId: id, password: deriveBrokerPassword(v.secret) });
            v.secret.fill(0);
          }),
        );
      }
    };
    const compose = async (port: number, enrolBeforeListen = false) => {
      // as the stack does: devices reconnecting while the verifier re-enrols them wait instead of being refused
      const part = await startBroker({
        host: '127.0.0.1',
        port,
        log: o.log ?? silentLogger,
        holdUnknownMs: 60_000,
        ...(enrolBeforeListen ? { beforeListen: enrolActive } : {}),
      });
      const service = await attachHandshake(part, {
        provider,
        chainId: chain.chainId,
        deviceRegistry: addresses.DeviceRegistry,
        wsUrl: chain.wsUrl,
        vault,
        resolver,
        challenges,
        limiter,
        signer: issuer,
        ...(o.onApplied ? { onApplied: (c) => o.onApplied?.(c.deviceId, c.to) } : {}),
        log: o.log ?? silentLogger,
      });
      // no external broker was given: the embedded aedes one
      return { broker: part.broker as AedesBrokerAdapter, service };
    };
    let parts = await compose(0);
    const port = Number(new URL(parts.broker.url).port);
    const stack: InProcessStack = {
      chain,
      provider,
      chainId: chain.chainId,
      admin,
      registry,
      vault,
      get broker() {
        return parts.broker;
      },
      get service() {
        return parts.service;
      },
      brokerUrl: parts.broker.url,
      async restartBroker(options = {}) {
        await parts.service.stop();
        await parts.broker.stop();
        parts = await compose(port, options.enrolBeforeListen);
      },
      async stop() {
        await parts.service.stop().catch(() => undefined);
        await parts.broker.stop().catch(() => undefined);
        for (const c of cleanup) await c();
      },
    };
    return stack;
  } catch (e) {
    for (const c of cleanup) await Promise.resolve(c()).catch(() => undefined);
    throw e;
  }
}
