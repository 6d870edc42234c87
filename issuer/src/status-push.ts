import type { Issuer } from './issuer.js';

/**
 * Read this issuer's signed status list credentials in process, for a credential core in the same process
 * (`createVerifier`'s `fetchStatusList`): the core still verifies each list. URLs of other issuers are refused.
 */
export function statusListReader(
  issuer: Pick<Issuer, 'statusListCredential' | 'tokenStatusList'>,
): (url: string) => Promise<string> {
  return async (url) => {
    const t = /\/status-lists\/(\d+)\/token$/.exec(url);
    if (t) {
      const r = await issuer.tokenStatusList(Number(t[1]));
      if (!r.ok) throw new Error(r.error.message);
      return r.value.jwt;
    }
    const m = /\/status-lists\/(\d+)\/(revocation|suspension)$/.exec(url);
    if (!m) throw new Error(`not a status list URL of this issuer: ${url}`);
    const r = await issuer.statusListCredential(Number(m[1]), m[2] as 'revocation' | 'suspension');
    if (!r.ok) throw new Error(r.error.message);
    return r.value.jwt;
  };
}

/**
 * Push this issuer's status changes to a credential core: every list in use is installed now, then each
 * issuance and each revocation, suspension or resumption refreshes the lists it touched, so the next presentation is
 * decided on the new state without any cache expiring.
 *
 * @returns a function that stops following.
 */
export async function pushStatusChanges(
  issuer: Pick<Issuer, 'events' | 'statusLists' | 'statusListUrl' | 'tokenStatusListUrl'>,
  core: { onStatusChange(urls: readonly string[]): Promise<void> },
): Promise<() => void> {
  await core.onStatusChange(
    (await issuer.statusLists()).flatMap((id) => [
      issuer.statusListUrl(id, 'revocation'),
      issuer.statusListUrl(id, 'suspension'),
      issuer.tokenStatusListUrl(id),
    ]),
  );
  const onIssued = (e: { credential: { statusList: number; credentialStatus: { statusListCredential: string }[] } }) =>
    void core.onStatusChange([
      ...e.credential.credentialStatus.map((s) => s.statusListCredential),
      issuer.tokenStatusListUrl(e.credential.statusList),
    ]);
  const onStatus = (e: { statusListCredentials: string[] }) => void core.onStatusChange(e.statusListCredentials);
  issuer.events.on('issued', onIssued);
  issuer.events.on('status', onStatus);
  return () => {
    issuer.events.off('issued', onIssued);
    issuer.events.off('status', onStatus);
  };
}
