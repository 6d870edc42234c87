import type { CredentialType } from '@tessera/protocol';
import type { AccessGrant, Verifier } from '@tessera/verifier';

/**
 * Role credentials that open the issuer's API. Which route needs which is policy data (the `issuer.*` policies of the
 * verifier's policy file), decided by the credential core for every request; this list only names the roles a
 * principal reports.
 */
export const ADMIN_ROLES = [
  'AdminCredential',
  'OperatorCredential',
  'ManufacturerCredential',
  'DeviceOwnerCredential',
] as const satisfies readonly CredentialType[];
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** The issuer's resources in the policy namespace: `/issuer/credentials`, `/issuer/devices/:id/commission`, … */
export const ISSUER_RESOURCE_PREFIX = '/issuer';
/** What an admin signs in to: every issuer route, each then decided by its own policy. */
export const ISSUER_SIGN_IN_SCOPE = '/issuer/**';
export const ISSUER_SIGN_IN_ACTION = '*';

/** The issuer is a relying party of the credential core: it signs admins in and guards its routes through it. */
export type IssuerAuth = Pick<Verifier, 'request' | 'exchange' | 'signOut' | 'guard'>;

export interface Principal {
  did: string;
  roles: AdminRole[];
  /** `device` claims of the DeviceOwnerCredentials the caller signed in with (lower case). */
  ownedDeviceDids: string[];
  /** Seconds since the epoch. */
  expiresAt: number;
}

/** The caller as the issuer's routes see it, from the access token the guard accepted. */
export function principalOf(grant: AccessGrant): Principal {
  const roles = new Set<AdminRole>();
  const ownedDeviceDids: string[] = [];
  for (const c of grant.credentials) {
    for (const t of c.types) if ((ADMIN_ROLES as readonly string[]).includes(t)) roles.add(t as AdminRole);
    const device = c.claims['device'];
    if (c.types.includes('DeviceOwnerCredential') && typeof device === 'string')
      ownedDeviceDids.push(device.toLowerCase());
  }
  return { did: grant.holder, roles: [...roles], ownedDeviceDids, expiresAt: grant.expiresAt };
}
