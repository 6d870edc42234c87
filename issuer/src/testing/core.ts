import { CREDENTIAL_TYPE_NAMES, ethrDid } from '@tessera/protocol';
import { createVerifier, DEFAULT_POLICY_FILE, loadPolicyFile, parseTrustList, type Verifier } from '@tessera/verifier';
import type { Resolvable } from 'did-resolver';
import { Wallet } from 'ethers';
import type { Issuer } from '../issuer.js';
import { pushStatusChanges, statusListReader } from '../status-push.js';

/**
 * The credential core as the stack builds it for this issuer (trust: the issuer for every type; the shipped policies;
 * the issuer's status lists pushed in), with a fresh verifier key, for the issuer's own tests.
 */
export async function issuerTestCore(
  issuer: Issuer,
  o: { chainId: number; resolver?: Resolvable; now?: () => number },
): Promise<{ core: Verifier; stop(): Promise<void> }> {
  const key = Wallet.createRandom();
  const trust = parseTrustList(Object.fromEntries(CREDENTIAL_TYPE_NAMES.map((t) => [t, [issuer.did]])));
  const policies = loadPolicyFile(DEFAULT_POLICY_FILE);
  if (!trust.ok || !policies.ok) throw new Error('the shipped policies or trust list do not parse');
  const resolver: Resolvable =
    o.resolver ?? ({ resolve: (didUrl: string) => issuer.agent.resolveDid({ didUrl }) } as Resolvable);
  const core = createVerifier(
    {
      did: ethrDid(o.chainId, key.address),
      privateKey: key.privateKey,
      policies: policies.value,
      trust: trust.value,
    },
    { resolver, fetchStatusList: statusListReader(issuer), ...(o.now ? { now: o.now } : {}) },
  );
  const unfollow = await pushStatusChanges(issuer, core);
  return {
    core,
    async stop() {
      unfollow();
      await core.stop();
    },
  };
}
