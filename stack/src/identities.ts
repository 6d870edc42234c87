import { createHash } from 'node:crypto';
import { type Keystore, type Outbox, signSetAttribute } from '@tessera/contracts';
import { ethrDid } from '@tessera/protocol';
import type { JsonRpcProvider } from 'ethers';

/** The stack's own actors; each has a did:ethr on the configured chain, created on first start and kept. */
export const STACK_ACTORS = {
  issuer: { service: 'TesseraIssuer', path: '/issuer' },
  verifier: { service: 'TesseraVerifier', path: '/verifier' },
  operator: { service: 'TesseraOperator', path: '/operator' },
} as const;
export type StackActor = keyof typeof STACK_ACTORS;

export interface ActorIdentity {
  did: string;
  address: string;
  serviceEndpoint: string;
}

/** Ten years: the service attribute is re-published when the endpoint changes, not when it would expire. */
const SERVICE_VALIDITY_S = 10 * 365 * 24 * 3600;

/**
 * Create (first start) or load the actors' keys and anchor each DID on chain with a service endpoint, through the
 * outbox: the write is recorded under a key derived from the actor and its endpoint, so a restart with the same
 * endpoint writes nothing, and a crash in the middle is finished by the outbox's reconcile, never doubled.
 */
export async function ensureActorIdentities(opts: {
  keystore: Keystore;
  outbox: Outbox;
  provider: JsonRpcProvider;
  registry: string;
  chainId: number;
  publicUrl: string;
}): Promise<Record<StackActor, ActorIdentity>> {
  const out = {} as Record<StackActor, ActorIdentity>;
  const keys: string[] = [];
  for (const [actor, spec] of Object.entries(STACK_ACTORS) as [StackActor, (typeof STACK_ACTORS)[StackActor]][]) {
    const wallet = opts.keystore.getOrCreate(actor);
    const serviceEndpoint = `${opts.publicUrl}${spec.path}`;
    const endpointTag = createHash('sha256').update(serviceEndpoint).digest('hex').slice(0, 16);
    const key = `did-service:${actor}:${wallet.address.toLowerCase()}:${endpointTag}`;
    if (!(await opts.outbox.get(key))) {
      const write = await signSetAttribute({
        provider: opts.provider,
        registry: opts.registry,
        owner: wallet,
        name: `did/svc/${spec.service}`,
        value: serviceEndpoint,
        validitySeconds: SERVICE_VALIDITY_S,
      });
      await opts.outbox.enqueue(key, { kind: 'did-service', ...write });
    }
    keys.push(key);
    out[actor] = { did: ethrDid(opts.chainId, wallet.address), address: wallet.address.toLowerCase(), serviceEndpoint };
  }
  const done = Promise.all(keys.map((k) => opts.outbox.waitFor(k)));
  await opts.outbox.flush();
  for (const row of await done) {
    if (row.status !== 'mined') throw new Error(`identity anchoring ${row.id} failed: ${row.error}`);
  }
  return out;
}
