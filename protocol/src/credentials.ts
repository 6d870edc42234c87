import { z } from 'zod';
import { parseDid } from './did.js';
import { DEVICE_SESSION_TTL_S } from './device.js';
import { err, ok, type Result } from './result.js';

/**
 * The credential types Tessera issues, the schema of each type's claims, and how long each is valid.
 * The claims are the `credentialSubject` of the credential without its `id` (the subject DID is carried apart).
 * Schemas are strict: an unknown claim is refused rather than signed, so nothing unvalidated ever gets a signature.
 * Every rule a schema checks is also in its JSON Schema (the issuer's OpenAPI is generated from these): a check that
 * zod cannot express there (a checksum, a list, a rule across fields) carries its JSON Schema form in `.meta()`, with
 * an example, so that a request built from the published schema is accepted.
 */

const SECOND = 1;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** ISO 3166-1 alpha-2 codes officially assigned (249 entries). */
const ISO_3166_ALPHA2 = new Set(
  (
    'AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ ' +
    'CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR ' +
    'GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO ' +
    'JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR ' +
    'MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO ' +
    'RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV ' +
    'TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW'
  ).split(' '),
);

/** ISO 17442 Legal Entity Identifier: 18 alphanumerics and 2 check digits, valid under ISO 7064 MOD 97-10. */
export function isValidLei(lei: string): boolean {
  if (!/^[0-9A-Z]{18}[0-9]{2}$/.test(lei)) return false;
  let rem = 0;
  for (const ch of lei) {
    const digits = /[0-9]/.test(ch) ? ch : String(ch.charCodeAt(0) - 55);
    for (const d of digits) rem = (rem * 10 + Number(d)) % 97;
  }
  return rem === 1;
}

const text = (max = 200) => z.string().trim().min(1).max(max);
/** A DID as `parseDid` accepts it, without path, query or fragment (DID Core §3.1), as a JSON Schema pattern. */
export const DID_PATTERN = '^did:[a-z0-9]+:(?:[A-Za-z0-9._:-]|%[0-9A-Fa-f]{2})+$';
const did = () =>
  z
    .string()
    .max(512)
    .regex(new RegExp(DID_PATTERN), 'must be a DID (did:<method>:<id>)')
    .refine((s) => parseDid(s).ok, 'must be a DID (did:<method>:<id>)')
    .meta({ examples: ['did:ethr:0x7a69:0x2c7536e3605d9c16a7a3d7b1898e529396a65c23'] });
const country = () =>
  z
    .enum([...ISO_3166_ALPHA2] as [string, ...string[]], { error: 'must be an ISO 3166-1 alpha-2 country code' })
    .meta({ description: 'ISO 3166-1 alpha-2 country code', examples: ['FR'] });
/** An LEI with valid check digits (GLEIF's own LEI). */
const EXAMPLE_LEI = '506700GE1G29325QX363';
const lei = () =>
  z
    .string()
    .regex(/^[0-9A-Z]{18}[0-9]{2}$/, 'must be a valid ISO 17442 LEI')
    .refine(isValidLei, 'must be a valid ISO 17442 LEI')
    .meta({
      description:
        'ISO 17442 Legal Entity Identifier: 20 characters whose check digits are valid under ISO 7064 MOD 97-10',
      examples: [EXAMPLE_LEI],
    });
const bytes32Hex = () =>
  z
    .string()
    .regex(/^0x[0-9a-f]{64}$/, 'must be 0x and 64 lowercase hex digits')
    .meta({ examples: [`0x${'3f'.repeat(32)}`] });
const isoDate = () => z.iso.datetime({ offset: true }).or(z.iso.date());
/** MQTT topic filters as granted to a session (MQTT 3.1.1 §4.7); checked for shape only. */
const topicFilter = () =>
  z
    .string()
    .min(1)
    .max(256)
    .refine((t) => !t.includes('\u0000'), 'must not contain NUL');

export const DeviceIdentityClaims = z.strictObject({
  /** The device id (DeviceRegistry key and MQTT client id). */
  deviceId: bytes32Hex().optional(),
  /** Canonical hash of the device's characteristics (model, serial, hardware revision, firmware hash…). */
  fingerprint: bytes32Hex(),
  manufacturer: did(),
  owner: did().optional(),
  deviceClass: z.enum(['smart-meter-gateway', 'ev-charger', 'home-battery', 'heat-pump', 'pv-inverter', 'other']),
  model: text(100),
  serialNumber: text(100),
  hardwareRevision: text(50).optional(),
  firmwareVersion: text(50).optional(),
});

export const DeviceSessionClaims = z.strictObject({
  sessionId: text(100),
  /** The MQTT client id the session is bound to. */
  clientId: text(100),
  /** The device id (DeviceRegistry key); equal to clientId for devices that follow docs/protocol.md. */
  deviceId: bytes32Hex().optional(),
  fingerprint: bytes32Hex().optional(),
  publish: z.array(topicFilter()).max(256).optional(),
  subscribe: z.array(topicFilter()).max(256).optional(),
});

export const AdminClaims = z.strictObject({
  name: text(),
  email: z.email().optional(),
  /** The root admin is created on first start; others are issued by an admin. */
  root: z.boolean().optional(),
});

export const OperatorClaims = z.strictObject({
  name: text(),
  email: z.email().optional(),
  /** Grid or service areas this operator acts for; none = all. */
  areas: z.array(text(64)).max(100).optional(),
});

export const ManufacturerClaims = z.strictObject({
  legalName: text(),
  country: country(),
  /** Short code printed in device serials, for example `ACME`. */
  manufacturerCode: z
    .string()
    .regex(/^[A-Z0-9]{2,16}$/, 'must be 2 to 16 uppercase letters or digits')
    .meta({ examples: ['ACME'] }),
  registrationId: text(64).optional(),
});

export const DeviceOwnerClaims = z.strictObject({
  device: did(),
  /** When ownership began (ISO 8601). */
  since: isoDate().optional(),
});

export const EnergyProsumerClaims = z
  .strictObject({
    /** Metering point id (for example a German MaLo/MeLo or a UK MPAN), as printed on the meter. */
    meterId: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._:-]{2,63}$/, 'must be 3 to 64 letters, digits, . _ : -')
      .meta({ examples: ['DE000123'] }),
    role: z.enum(['producer', 'consumer', 'prosumer']),
    /** Peak generation capacity of the installation in kW. */
    nameplateKw: z
      .number()
      .finite()
      .min(0)
      .max(100_000)
      .describe('peak generation capacity in kW; required (> 0) unless role is consumer')
      .optional(),
    /** Usable storage capacity in kWh. */
    storageKwh: z.number().finite().min(0).max(1_000_000).describe('usable storage capacity in kWh').optional(),
    /** Market or grid area the meter belongs to. */
    marketArea: text(64).optional(),
  })
  .superRefine((c, ctx) => {
    if (c.role !== 'consumer' && !(c.nameplateKw !== undefined && c.nameplateKw > 0)) {
      ctx.addIssue({ code: 'custom', path: ['nameplateKw'], message: `a ${c.role} must declare nameplateKw > 0` });
    }
  })
  .meta({
    if: { properties: { role: { const: 'consumer' } } },
    else: { required: ['nameplateKw'], properties: { nameplateKw: { exclusiveMinimum: 0 } } },
    examples: [{ meterId: 'DE000123', role: 'prosumer', nameplateKw: 9.8 }],
  });

export const AccreditedInvestorClaims = z.strictObject({
  jurisdiction: country(),
  investorType: z.enum(['individual', 'entity']),
  accreditationLevel: z.enum(['accredited', 'qualified', 'professional', 'institutional']),
  kycLevel: z.enum(['basic', 'standard', 'enhanced']),
  /** Optional cap on a single subscription, in minor units of `currency`. */
  investmentLimit: z
    .strictObject({
      amount: z
        .number()
        .int()
        .positive()
        .describe('whole minor units of `currency` (cents for EUR): 5000000 is 50,000.00 EUR'),
      currency: z
        .string()
        .regex(/^[A-Z]{3}$/)
        .meta({ description: 'ISO 4217 code, for example EUR', examples: ['EUR'] }),
    })
    .describe('a cap on one subscription: the subscription price (units × unit price, minor units) must not exceed it')
    .optional(),
});

/** An organisation's identity as regulators register it: a legal name, an LEI or a registration number, a country. */
const organisation = {
  legalName: text(),
  lei: lei().optional(),
  /** National register number (for example `RCS Marseille 123 456 789`) when the organisation has no LEI. */
  registrationId: text(64).optional(),
  jurisdiction: country(),
};
const leiOrRegistration = (
  c: { lei?: string | undefined; registrationId?: string | undefined },
  ctx: z.RefinementCtx,
) => {
  if (c.lei === undefined && c.registrationId === undefined) {
    ctx.addIssue({ code: 'custom', path: ['lei'], message: 'either lei or registrationId is required' });
  }
};
/** `leiOrRegistration` in JSON Schema. */
const LEI_OR_REGISTRATION = { anyOf: [{ required: ['lei'] }, { required: ['registrationId'] }] };

export const DataPartnerClaims = z
  .strictObject({
    organisationName: text(),
    lei: lei().optional(),
    registrationId: text(64).optional(),
    country: country().optional(),
    /** The data space the partner is admitted to. */
    dataspace: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{1,63}$/, 'must be 2 to 64 lowercase letters, digits, . _ -')
      .meta({ examples: ['energy-ds'] }),
    roles: z
      .array(z.enum(['provider', 'consumer', 'intermediary']))
      .min(1)
      .max(3)
      .optional(),
  })
  .superRefine(leiOrRegistration)
  .meta({
    ...LEI_OR_REGISTRATION,
    examples: [
      { organisationName: 'Grid Data Ltd', registrationId: 'RCS Marseille 123 456 789', dataspace: 'energy-ds' },
    ],
  });

const OFFERING_KINDS = ['green-bond', 'bond', 'equity', 'fund', 'other'] as const;

/** An issuer organisation: may create token offerings (of the listed kinds; none listed = any kind). */
export const OfferingIssuerClaims = z
  .strictObject({
    ...organisation,
    offeringKinds: z.array(z.enum(OFFERING_KINDS)).min(1).max(OFFERING_KINDS.length).optional(),
  })
  .superRefine(leiOrRegistration)
  .meta({
    ...LEI_OR_REGISTRATION,
    examples: [
      { legalName: 'Solaire Provence SAS', lei: EXAMPLE_LEI, jurisdiction: 'FR', offeringKinds: ['green-bond'] },
    ],
  });

/**
 * A certifier organisation: may certify offerings (for a green bond, against a scheme such as the Climate Bonds
 * Standard) and may vouch for investors' accreditation. Booleans, not a list, so that a policy can require one.
 */
export const CertifierClaims = z
  .strictObject({
    ...organisation,
    certifiesOfferings: z.boolean(),
    accreditsInvestors: z.boolean(),
    /** Certification schemes it is approved for; none listed = any. */
    schemes: z.array(text(200)).min(1).max(50).optional(),
  })
  .superRefine((c, ctx) => {
    leiOrRegistration(c, ctx);
    if (!c.certifiesOfferings && !c.accreditsInvestors) {
      ctx.addIssue({ code: 'custom', path: ['certifiesOfferings'], message: 'a certifier must certify or accredit' });
    }
  })
  .meta({
    allOf: [
      LEI_OR_REGISTRATION,
      {
        anyOf: [
          { properties: { certifiesOfferings: { const: true } } },
          { properties: { accreditsInvestors: { const: true } } },
        ],
      },
    ],
    examples: [
      {
        legalName: 'Climate Bonds Verifier SA',
        registrationId: 'CHE-123.456.789',
        jurisdiction: 'CH',
        certifiesOfferings: true,
        accreditsInvestors: false,
      },
    ],
  });

export interface CredentialTypeSpec<S extends z.ZodType = z.ZodType> {
  claims: S;
  /** Validity when the issuer is not told otherwise, in seconds. */
  defaultValiditySeconds: number;
  /** Longest validity an issuer may grant, in seconds. */
  maxValiditySeconds: number;
  /** Role credentials grant permissions to people and organisations; the others describe devices. */
  kind: 'device' | 'role';
  /**
   * Claims an SD-JWT VC carries in the clear, never as a disclosure: claims that narrow what the holder may do (a
   * limit, a list of what is allowed), so a holder cannot widen its rights by keeping them back.
   */
  inClear?: readonly string[];
}

/** Every credential type Tessera issues, keyed by its VC `type` (the second entry after `VerifiableCredential`). */
export const CREDENTIAL_TYPES = {
  DeviceIdentityCredential: {
    claims: DeviceIdentityClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 10 * 365 * DAY,
    kind: 'device',
  },
  // Short-lived and bound to the device key: minutes, not days (the handshake's session lifetime).
  DeviceSessionCredential: {
    claims: DeviceSessionClaims,
    defaultValiditySeconds: DEVICE_SESSION_TTL_S,
    maxValiditySeconds: 1 * HOUR,
    kind: 'device',
  },
  AdminCredential: {
    claims: AdminClaims,
    defaultValiditySeconds: 90 * DAY,
    maxValiditySeconds: 365 * DAY,
    kind: 'role',
  },
  OperatorCredential: {
    claims: OperatorClaims,
    defaultValiditySeconds: 90 * DAY,
    maxValiditySeconds: 365 * DAY,
    kind: 'role',
  },
  ManufacturerCredential: {
    claims: ManufacturerClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 5 * 365 * DAY,
    kind: 'role',
  },
  DeviceOwnerCredential: {
    claims: DeviceOwnerClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 10 * 365 * DAY,
    kind: 'role',
  },
  EnergyProsumerCredential: {
    claims: EnergyProsumerClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 5 * 365 * DAY,
    kind: 'role',
  },
  // Accreditation is typically re-confirmed yearly.
  AccreditedInvestorCredential: {
    claims: AccreditedInvestorClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 365 * DAY,
    kind: 'role',
    inClear: ['investmentLimit'],
  },
  DataPartnerCredential: {
    claims: DataPartnerClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 3 * 365 * DAY,
    kind: 'role',
  },
  OfferingIssuerCredential: {
    claims: OfferingIssuerClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 3 * 365 * DAY,
    kind: 'role',
    inClear: ['offeringKinds'],
  },
  CertifierCredential: {
    claims: CertifierClaims,
    defaultValiditySeconds: 365 * DAY,
    maxValiditySeconds: 3 * 365 * DAY,
    kind: 'role',
    inClear: ['schemes'],
  },
} as const satisfies Record<string, CredentialTypeSpec>;

export type CredentialType = keyof typeof CREDENTIAL_TYPES;
export type ClaimsOf<T extends CredentialType> = z.output<(typeof CREDENTIAL_TYPES)[T]['claims']>;

export const CREDENTIAL_TYPE_NAMES = Object.keys(CREDENTIAL_TYPES) as CredentialType[];

export function isCredentialType(value: unknown): value is CredentialType {
  return typeof value === 'string' && Object.hasOwn(CREDENTIAL_TYPES, value);
}

/** One problem found in claims: where and what. */
export interface ClaimIssue {
  path: string;
  message: string;
}

/**
 * Validate the claims of a credential of `type` against its schema.
 *
 * @returns the parsed claims, or ERR_VC_TYPE_UNKNOWN, or ERR_VC_CLAIMS_INVALID with every problem in `details`.
 * @example validateClaims('EnergyProsumerCredential', { meterId: 'DE0001', role: 'consumer' })
 */
export function validateClaims<T extends CredentialType>(type: T, claims: unknown): Result<ClaimsOf<T>>;
export function validateClaims(type: string, claims: unknown): Result<Record<string, unknown>>;
export function validateClaims(type: string, claims: unknown): Result<Record<string, unknown>> {
  if (!isCredentialType(type)) {
    return err(
      'ERR_VC_TYPE_UNKNOWN',
      `'${String(type).slice(0, 80)}' is not a credential type Tessera issues (known: ${CREDENTIAL_TYPE_NAMES.join(', ')})`,
    );
  }
  const parsed = (CREDENTIAL_TYPES[type].claims as z.ZodType).safeParse(claims);
  if (!parsed.success) {
    const issues: ClaimIssue[] = parsed.error.issues.map((i) => ({
      path: i.path.map(String).join('.') || '(claims)',
      message: i.message,
    }));
    return err(
      'ERR_VC_CLAIMS_INVALID',
      `claims of ${type} fail its schema: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return ok(parsed.data as Record<string, unknown>);
}

/** The claims of `type` an SD-JWT VC carries in the clear (`CredentialTypeSpec.inClear`); none for other types. */
export function claimsInClear(type: string): readonly string[] {
  return isCredentialType(type) ? ((CREDENTIAL_TYPES[type] as CredentialTypeSpec).inClear ?? []) : [];
}

/**
 * Validate the claims a verified credential shows, which may be fewer than it holds: an SD-JWT VC shows only its
 * disclosed claims (and those in the clear), a JWT VC all of them. Each shown claim must meet its schema, nothing
 * unknown may appear, and every claim of `required` (what the caller needs to decide) must be shown. Rules that tie
 * several claims together (for example an LEI or a registration number) are the issuer's, checked at issuance.
 *
 * @returns the shown claims, or ERR_VC_TYPE_UNKNOWN, or ERR_VC_CLAIMS_INVALID naming each claim missing or invalid.
 * @example validateShownClaims('AccreditedInvestorCredential', claims, ['jurisdiction', 'kycLevel'])
 */
export function validateShownClaims<T extends CredentialType, K extends keyof ClaimsOf<T> & string>(
  type: T,
  claims: unknown,
  required: readonly K[],
): Result<Partial<ClaimsOf<T>> & Pick<ClaimsOf<T>, K>>;
export function validateShownClaims(
  type: string,
  claims: unknown,
  required: readonly string[],
): Result<Record<string, unknown>>;
export function validateShownClaims(
  type: string,
  claims: unknown,
  required: readonly string[],
): Result<Record<string, unknown>> {
  if (!isCredentialType(type)) {
    return err(
      'ERR_VC_TYPE_UNKNOWN',
      `'${String(type).slice(0, 80)}' is not a credential type Tessera issues (known: ${CREDENTIAL_TYPE_NAMES.join(', ')})`,
    );
  }
  const shape = (CREDENTIAL_TYPES[type].claims as unknown as z.ZodObject).shape;
  const parsed = z.strictObject(shape).partial().safeParse(claims);
  const issues: ClaimIssue[] = parsed.success
    ? []
    : parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(claims)', message: i.message }));
  const shown = parsed.success ? (parsed.data as Record<string, unknown>) : {};
  if (parsed.success) {
    for (const k of required) {
      if (shown[k] === undefined) {
        issues.push({ path: k, message: 'not shown (an SD-JWT VC shows only the claims it discloses)' });
      }
    }
  }
  if (issues.length > 0) {
    return err(
      'ERR_VC_CLAIMS_INVALID',
      `claims of ${type} shown are not enough: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      issues,
    );
  }
  return ok(shown);
}
