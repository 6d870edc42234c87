import { type CredentialType, isCredentialType } from './credentials.js';

/**
 * Constants of the standard wallet protocols as Tessera speaks them: OpenID4VCI 1.0, OpenID4VP 1.0, SD-JWT VC and the
 * Token Status List. One place, so issuer, verifier and wallet spell them alike.
 */

/** The credential formats Tessera issues and accepts (OpenID4VCI 1.0 Appendix A). */
export const CREDENTIAL_FORMATS = ['jwt_vc_json', 'dc+sd-jwt'] as const;
export type CredentialFormat = (typeof CREDENTIAL_FORMATS)[number];

/** OpenID4VCI 1.0 §4.1.1 / RFC 6749 §4.1: the two grants. */
export const PRE_AUTHORIZED_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:pre-authorized_code';
export const AUTHORIZATION_CODE_GRANT = 'authorization_code';
/** SD-JWT VC §3.2.1: the `typ` of an SD-JWT VC's issuer-signed JWT. */
export const SD_JWT_VC_TYP = 'dc+sd-jwt';
/** RFC 9901 §4.3: the `typ` of a key binding JWT. */
export const KB_JWT_TYP = 'kb+jwt';
/** Token Status List §5.1: the `typ` of a Status List Token. */
export const STATUS_LIST_TOKEN_TYP = 'statuslist+jwt';
/** OpenID4VP 1.0 §5.9.3: the client id prefix of a verifier identified by its DID. */
export const DID_CLIENT_ID_PREFIX = 'decentralized_identifier:';
/** RFC 9101 §10.8 / OpenID4VP 1.0 §5: the `typ` of a signed request object. */
export const OID4VP_REQUEST_TYP = 'oauth-authz-req+jwt';

/** How long a `c_nonce` from the nonce endpoint stays usable (ms). */
export const OID4VCI_NONCE_TTL_MS = 5 * 60 * 1000;
/** How long an OpenID4VCI access token lives (s). */
export const OID4VCI_ACCESS_TOKEN_TTL_S = 300;
/** Most credentials one credential request may ask for (OpenID4VCI 1.0 §12.2.4 `batch_credential_issuance`). */
export const OID4VCI_BATCH_SIZE = 10;
/** Wrong transaction codes after which a pre-authorized code is locked (it is never spent by a wrong guess). */
export const OID4VCI_TX_CODE_MAX_ATTEMPTS = 5;

/** `EnergyProsumerCredential` + `dc+sd-jwt` → `EnergyProsumerCredential_sd_jwt` (a credential configuration id). */
export function configurationId(type: CredentialType, format: CredentialFormat): string {
  return format === 'jwt_vc_json' ? `${type}_jwt` : `${type}_sd_jwt`;
}

export function parseConfigurationId(id: unknown): { type: CredentialType; format: CredentialFormat } | undefined {
  if (typeof id !== 'string') return undefined;
  const m = /^([A-Za-z]{1,64})_(jwt|sd_jwt)$/.exec(id);
  if (!m || !isCredentialType(m[1])) return undefined;
  return { type: m[1] as CredentialType, format: m[2] === 'jwt' ? 'jwt_vc_json' : 'dc+sd-jwt' };
}

const VCT_PREFIX = 'urn:tessera:vct:';
/** The SD-JWT VC type (`vct`) of a Tessera credential type. */
export const vctOf = (type: CredentialType): string => `${VCT_PREFIX}${type}`;
/** The credential type a `vct` names, when it is one of Tessera's. */
export function typeOfVct(vct: unknown): CredentialType | undefined {
  if (typeof vct !== 'string' || !vct.startsWith(VCT_PREFIX)) return undefined;
  const t = vct.slice(VCT_PREFIX.length);
  return isCredentialType(t) ? t : undefined;
}
