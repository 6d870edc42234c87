/**
 * The tables of the Whiteflag standard (WhiteflagProtocol/whiteflag-standard, WhiteflagSpecification.md, version
 * 1-draft.7-dev): message types, header codes, subject codes per sign/signal type, object types and the fields of each
 * message type with their uncompressed syntax and compressed encoding. Facts only; the codec and the validators read
 * them from here so that no table exists twice.
 */

/** The standard version this implementation speaks (§4.2.1.3: the `Version` field must be `1`). */
export const WHITEFLAG_VERSION = '1';
/** §4.2.1.2: every message starts with these two characters. */
export const WHITEFLAG_PREFIX = 'WF';
/** The compressed form of the prefix, version and encryption indicator occupy the first 4 bytes (32 bits, §5.2.4.1). */
export const WHITEFLAG_UNENCRYPTED_BYTES = 4;
/**
 * Largest encoded message we accept or produce (bytes). The standard sizes signs and signals to fit 80 bytes and lets
 * variable fields grow "if allowed by the underlying blockchain" (§4.3.2.3); on an EVM chain anything fits, so this cap
 * is ours: it bounds decoding work and the gas an originator can be made to spend.
 */
export const WHITEFLAG_MAX_MESSAGE_BYTES = 1024;
/** A `ReferencedMessage` is a 256-bit hash in hex (§4.2.1.8). */
export const WHITEFLAG_NO_REFERENCE = '0'.repeat(64);

/** §2.4.2.1 and §2.4.2.2: the message types. */
export const MESSAGE_TYPES = {
  A: 'Authentication',
  K: 'Crypto',
  T: 'Test',
  P: 'ProtectiveSign',
  E: 'EmergencySignal',
  D: 'DangerSign',
  S: 'StatusSignal',
  I: 'InfrastructureSign',
  M: 'MissionSignal',
  Q: 'RequestSignal',
  R: 'Resource',
  F: 'FreeText',
} as const;
export type MessageCode = keyof typeof MESSAGE_TYPES;
export const MESSAGE_CODES = Object.keys(MESSAGE_TYPES) as MessageCode[];
export const isMessageCode = (v: unknown): v is MessageCode => typeof v === 'string' && Object.hasOwn(MESSAGE_TYPES, v);

/** Signs (P, D, I) and signals (E, S, M, Q) share one body layout (§4.3.1.1). */
export const SIGN_SIGNAL_CODES = ['P', 'E', 'D', 'S', 'I', 'M', 'Q'] as const;
export type SignSignalCode = (typeof SIGN_SIGNAL_CODES)[number];
export const isSignSignalCode = (v: unknown): v is SignSignalCode =>
  typeof v === 'string' && (SIGN_SIGNAL_CODES as readonly string[]).includes(v);

/** §4.2.1.7: how a message relates to the one it references. */
export const REFERENCE_INDICATORS = {
  '0': 'Original',
  '1': 'Recall',
  '2': 'Update',
  '3': 'Add',
  '4': 'Discontinue',
  '5': 'Relate',
  '6': 'Confirm',
  '7': 'Acknowledge',
  '8': 'Comply',
  '9': 'Reject',
} as const;
export type ReferenceIndicator = keyof typeof REFERENCE_INDICATORS;
export const isReferenceIndicator = (v: unknown): v is ReferenceIndicator =>
  typeof v === 'string' && Object.hasOwn(REFERENCE_INDICATORS, v);

/**
 * §4.2.1.4: `0` none, `1` AES-256-CTR with an ECDH-negotiated key, `2` AES-256-CTR with a pre-shared key; `3`-`9` must
 * not be used; any other alphanumeric character is private use.
 */
export const ENCRYPTION_INDICATORS = { '0': 'none', '1': 'aes-256-ctr-ecdh', '2': 'aes-256-ctr-psk' } as const;
export type EncryptionMethod = '1' | '2';

/** §4.3.4.2: `1` internet resource (a URL to a signed statement), `2` shared token; `A`-`F` private use. */
export const VERIFICATION_METHODS = { '1': 'InternetResource', '2': 'SharedToken' } as const;
/** §4.3.2.2: `1` internet resource; `A`-`F` private use. */
export const RESOURCE_METHODS = { '1': 'InternetResource' } as const;

/**
 * §4.3.5.2 (with the `0B` type of the draft.7 release branch): `A0`-`FF` are private use, every other code not listed
 * must not be used.
 */
export const CRYPTO_DATA_TYPES = {
  '01': 'HDExtPubKey',
  '0A': 'ECDHPubKey',
  '0B': 'ECDHPubKey (authentication token negotiation)',
  '11': 'InitVector (encryption method 1)',
  '21': 'InitVector (encryption method 2)',
} as const;
/** §4.3.5.3: an ECDH public key is a compressed brainpoolP256r1 point (33 bytes); an initialisation vector 128 bits. */
export const CRYPTO_DATA_LENGTHS: Readonly<Record<string, number>> = { '0A': 33, '0B': 33, '11': 16, '21': 16 };
/** The `CryptoDataType` that carries the initialisation vector of each encryption method (§5.2.4.1). */
export const INIT_VECTOR_TYPE: Readonly<Record<EncryptionMethod, '11' | '21'>> = { '1': '11', '2': '21' };

/** §4.3.1.5: object types; `F0`-`FF` are private use, everything else not listed is reserved. */
export const OBJECT_TYPES: Readonly<Record<string, string>> = {
  '00': 'Not provided',
  '10': 'Unspecified group of people',
  '11': 'Person',
  '12': 'Small group of people',
  '13': 'Medium group of people',
  '14': 'Large group of people',
  '15': 'Enormous group of people',
  '20': 'Unspecified Area',
  '21': 'Circular Area',
  '22': 'Rectangle Area',
  '23': 'Triangle Area',
  '30': 'Unspecified Structure',
  '31': 'Circular Structure',
  '32': 'Rectangle Structure',
  '33': 'Triangle Structure',
  '40': 'Unspecified Land Vehicle',
  '50': 'Unspecified Water Vehicle',
  '60': 'Unspecified Air Vehicle',
  '70': 'Unspecified Space Vehicle',
  '80': 'Unspecified goods',
};

/**
 * §4.3.1.2: the subject codes of each sign/signal type. Codes marked "(reserved)" in the standard are absent; codes
 * `F0`-`FF` are private use for D, S, I, M and Q (`PRIVATE_USE_SUBJECTS`).
 */
export const SUBJECT_CODES: Readonly<Record<SignSignalCode, Readonly<Record<string, string>>>> = {
  P: {
    '00': 'Unspecified Protective Sign',
    '01': 'White flag - Unspecified intent',
    '02': 'White flag - Request for negotiation',
    '03': 'White flag - Surrender',
    '10': 'Unspecified Red Cross/Crescent/Crystal',
    '11': 'Red Cross',
    '12': 'Red Crescent',
    '13': 'Red Crystal',
    '20': 'United Nations',
    '30': 'Unspecified Protected Zone',
    '31': 'Hospital and Safety Zone',
    '32': 'Prisoner of War Camp',
    '33': 'Internment Camp',
    '40': 'Civil Defence',
    '50': 'Unspecified Cultural Property',
    '51': 'Monuments and Cultural Institutions',
    '52': 'Cultural Property',
    '53': 'Cultural Property under Special Protection',
    '60': 'Works and Installations containing Dangerous Forces',
  },
  E: {
    '00': 'Unspecified Emergency',
    '01': 'General Distress signal',
    '02': 'General Urgency signal',
    '10': 'Urgent Unspecified Assistance Required',
    '11': 'Urgent Medical Assistance Required',
    '12': 'Urgent Fire & Rescue Assistance Required',
    '13': 'Urgent Law Enforcement Assistance Required',
    '14': 'Urgent Disaster Response Required',
  },
  D: {
    '00': 'Unspecified Danger Area',
    '10': 'War/Conflict/Terrorism - Unspecified Attack',
    '11': 'War/Conflict/Terrorism - Direct Ground Attack',
    '12': 'War/Conflict/Terrorism - Mortar/Artillery Attack',
    '13': 'War/Conflict/Terrorism - Ground Bomb Attack',
    '14': 'War/Conflict/Terrorism - Air Attack',
    '15': 'War/Conflict/Terrorism - Complex Attack',
    '1A': 'War/Conflict/Terrorism - Chemical Attack',
    '1B': 'War/Conflict/Terrorism - Biological Attack',
    '1C': 'War/Conflict/Terrorism - Nuclear Attack',
    '20': 'Unspecified Hazardous Conflict Area',
    '21': 'Hazardous Conflict Area - Mine Field',
    '22': 'Hazardous Conflict Area - UXOs',
    '23': 'Hazardous Conflict Area - Chemical Contamination',
    '24': 'Hazardous Conflict Area - Biological Contamination',
    '25': 'Hazardous Conflict Area - Radiological Contamination',
    '26': 'Hazardous Conflict Area - Nuclear Contamination',
    '27': 'Hazardous Conflict Area - Surface-to-Air Threat',
    '30': 'Unspecified Transport Accident',
    '31': 'Transport Accident - Air',
    '32': 'Transport Accident - Rail',
    '33': 'Transport Accident - Road',
    '34': 'Transport Accident - Boat',
    '40': 'Unspecified Industrial Accident',
    '41': 'Industrial Accident - Accident release (other than attack)',
    '42': 'Industrial Accident - Explosion (other than attack)',
    '43': 'Industrial Accident - Chemical explosion (other than attack)',
    '44': 'Industrial Accident - Nuclear explosion/Radiation (other than attack)',
    '45': 'Industrial Accident - Mine explosion',
    '46': 'Industrial Accident - Pollution',
    '47': 'Industrial Accident - Acid rain',
    '48': 'Industrial Accident - Atmosphere pollution',
    '50': 'Complex/Man-made Hazard - Complex Emergency',
    '51': 'Complex/Man-made Hazard - Uncontrolled Banditry',
    '52': 'Complex/Man-made Hazard - Uncontrolled Uprising',
    '53': 'Complex/Man-made Hazard - Displaced Population',
    '54': 'Complex/Man-made Hazard - Famine and Food Insecurity',
    A0: 'Unspecified Geophysical Disaster Area',
    A1: 'Geophysical Disaster Area - Earthquake',
    A2: 'Geophysical Disaster Area - Earthquake w/ Tsunami',
    A3: 'Geophysical Disaster Area - Volcano',
    A4: 'Geophysical Disaster Area - Dry Mass Movement - Rockfall',
    A5: 'Geophysical Disaster Area - Dry Mass Movement - Landslide',
    A6: 'Geophysical Disaster Area - Dry Mass Movement - Avalanche',
    A7: 'Geophysical Disaster Area - Dry Mass Movement - Subsidence',
    B0: 'Unspecified Meteorological Disaster Area',
    B1: 'Meteorological Disaster Area - Unspecified Storm',
    B2: 'Meteorological Disaster Area - Storm - Tropical Cyclone',
    B3: 'Meteorological Disaster Area - Storm - Extra Tropical Cyclone',
    B4: 'Meteorological Disaster Area - Local Storm',
    C0: 'Unspecified Hydrological Disaster Area',
    C1: 'Hydrological Disaster Area - General Flood',
    C2: 'Hydrological Disaster Area - Flash Flood',
    C3: 'Hydrological Disaster Area - Storm Surge',
    C4: 'Hydrological Disaster Area - Wet Mass Movement - Rockfall',
    C5: 'Hydrological Disaster Area - Wet Mass Movement - Landslide',
    C6: 'Hydrological Disaster Area - Wet Mass Movement - Avalanche',
    C7: 'Hydrological Disaster Area - Wet Mass Movement - Subsidence',
    D0: 'Unspecified Climatological Disaster Area',
    D1: 'Climatological Disaster Area - Extreme Temp - Heat Wave',
    D2: 'Climatological Disaster Area - Extreme Temp - Cold Wave',
    D3: 'Climatological Disaster Area - Extreme Winter Condition',
    D4: 'Climatological Disaster Area - Drought',
    D5: 'Climatological Disaster Area - Wildfire - Forest Fire',
    D6: 'Climatological Disaster Area - Wildfire - Land Fire',
    E0: 'Unspecified Biological Disaster Area',
    E1: 'Biological Disaster Area - Unspecified Epidemic',
    E2: 'Biological Disaster Area - Viral Infectious Disease Epidemic',
    E3: 'Biological Disaster Area - Bacterial Infectious Disease Epidemic',
    E4: 'Biological Disaster Area - Parasitic Infectious Disease Epidemic',
    E5: 'Biological Disaster Area - Fungal Infectious Disease Epidemic',
    E6: 'Biological Disaster Area - Prion Infectious Disease Epidemic',
    E7: 'Biological Disaster Area - Insect Infestation',
    E8: 'Biological Disaster Area - Animal Stampede',
  },
  S: {
    '00': 'Unspecified positive status',
    '10': 'Proof of Life without further details',
    '11': 'Proof of Life and Situation Normal',
    '12': 'Proof of Life and Contact Requested',
    '13': 'Proof of Life but Assistance Required',
    '20': 'Object status unknown',
    '21': 'Object functional without further details',
    '22': 'Object functional and in good order',
    '23': 'Object functional but damaged',
    '24': 'Object not functional without further details',
    '25': 'Object not functional and damaged',
    '26': 'Object damaged without further details',
    '28': 'Object destroyed',
  },
  I: {
    '00': 'Unspecified infrastructure',
    '10': 'Transportation - Unspecified transportation infrastructure',
    '11': 'Transportation - Road or Highway',
    '12': 'Transportation - Mass Transit System',
    '13': 'Transportation - Railway',
    '14': 'Transportation - Canal or Navigable Waterway',
    '15': 'Transportation - Seaport',
    '16': 'Transportation - Lighthouse',
    '17': 'Transportation - Airport',
    '20': 'Energy - Unspecified energy infrastructure',
    '21': 'Energy - Electrical transmission/distribution',
    '22': 'Energy - Natural gas pipeline',
    '23': 'Energy - Petroleum pipeline',
    '24': 'Energy - Oil-fired power plant',
    '25': 'Energy - Gas-fired power plant',
    '26': 'Energy - Coal-fired power plant',
    '27': 'Energy - Nuclear power plant',
    '28': 'Energy - Hydro-electric power plant',
    '29': 'Energy - Geothermal energy installation',
    '2A': 'Energy - Solar energy installation',
    '2B': 'Energy - Wind energy installation',
    '2C': 'Energy - Ocean power installation',
    '2D': 'Energy - Biomass installation',
    '30': 'Water management - Unspecified water facility',
    '31': 'Water management - Drinking water distribution pipeline',
    '32': 'Water management - Drinking water storage reservoir',
    '33': 'Water management - Drinking water treatment facility',
    '34': 'Water management - Waste water collection/disposal facility',
    '35': 'Water management - Drainage system',
    '36': 'Water management - Major irrigation system',
    '37': 'Water management - Major flood control system',
    '38': 'Water management - Coastal water management facility',
    '40': 'Communication - Unspecified communication infrastructure',
    '41': 'Communication - Postal service',
    '42': 'Communication - Telephone land line',
    '43': 'Communication - Telephone exchange system',
    '44': 'Communication - Mobile phone network system',
    '45': 'Communication - Television transmission station',
    '46': 'Communication - Radio transmission station',
    '47': 'Communication - Internet backbone',
    '48': 'Communication - Internet core router',
    '49': 'Communication - Undersea cable',
    '50': 'Public service - Unspecified public service',
    '51': 'Public service - Hospital',
    '52': 'Public service - School',
    '53': 'Public service - Police station',
    '54': 'Public service - Fire station',
    '60': 'Solid waste management - Unspecified solid waste management facility',
    '61': 'Solid waste management - Municipal garbage and recyclables collection',
    '62': 'Solid waste management - Solid waste landfill',
    '63': 'Solid waste management - Solid waste incinerator',
    '64': 'Solid waste management - Materials recovery facility',
    '65': 'Solid waste management - Hazardous waste disposal facility',
  },
  M: {
    '00': 'Unspecified Mission',
    '10': 'Unspecified Humanitarian Mission',
    '20': 'Unspecified Mission under Humanitarian Law',
    '21': 'Humanitarian Law - Monitoring',
    '22': 'Humanitarian Law - Visiting Prisoners of War and Detained Persons',
    '23': 'Humanitarian Law - Aid for Military Personnel - Health Care for wounded, sick or shipwrecked personnel',
    '24': 'Humanitarian Law - Aid for Civilian Population - General Aid',
    '25': 'Humanitarian Law - Aid for Civilian Population - Food Distribution',
    '26': 'Humanitarian Law - Aid for Civilian Population - Health Care',
    '27': 'Humanitarian Law - Aid for Civilian Population - Shelter',
    '28': 'Humanitarian Law - Aid for Civilian Population - Restoring Family Links',
    '29': 'Humanitarian Law - Aid for Civilian Population - Infrastructure Restoration',
    '2A': 'Humanitarian Law - Support to Local Government - Advisory',
    '2B': 'Humanitarian Law - Support Mission - Administrative',
    '2C': 'Humanitarian Law - Support Mission - Logistics',
    '30': 'Unspecified Disaster / Emergency Response Operation',
    '40': 'Unspecified Special Political Mission',
    '41': 'Special Political Mission - Envoy',
    '42': 'Special Political Mission - Sanction panel',
    '43': 'Special Political Mission - Monitoring group',
    '44': 'Special Political Mission - Field-based mission',
    '50': 'Unspecified Diplomatic Mission',
    '60': 'Unspecified Law Enforcement Operation',
    '70': 'Unspecified Peace Operation',
    '71': 'Peace Operation - Conflict prevention',
    '72': 'Peace Operation - Peacemaking',
    '73': 'Peace Operation - Peacekeeping',
    '74': 'Peace Operation - Peacebuilding',
    '75': 'Peace Operation - Peace enforcement',
    '80': 'Unspecified Military Operation',
  },
  Q: {
    '10': 'Request for Cease Fire',
    '20': 'Request for Area Access',
  },
};

/** The sign/signal types whose subject codes `F0`-`FF` are private use (§4.3.1.2). */
export const PRIVATE_USE_SUBJECTS: readonly SignSignalCode[] = ['D', 'S', 'I', 'M', 'Q'];

/** Object categories of the compatibility table (§4.3.1.5), by the first hex digit of the object type. */
export type ObjectCategory = 'persons' | 'areas' | 'structures' | 'vehicles' | 'goods';
export function objectCategory(objectType: string): ObjectCategory | undefined {
  const n = Number.parseInt(objectType, 16);
  if (n >= 0x10 && n <= 0x1f) return 'persons';
  if (n >= 0x20 && n <= 0x2f) return 'areas';
  if (n >= 0x30 && n <= 0x3f) return 'structures';
  if (n >= 0x40 && n <= 0x7f) return 'vehicles';
  if (n >= 0x80 && n <= 0x8f) return 'goods';
  return undefined;
}

/**
 * §4.3.1.5: which object categories each range of subjects may refer to (the table "Subject Code & Object Code").
 * Subjects outside every range (for example `P00`, or private-use codes) are not restricted by it.
 */
export const SUBJECT_OBJECT_RULES: ReadonlyArray<{
  code: SignSignalCode;
  from: number;
  to: number;
  allowed: readonly ObjectCategory[];
}> = [
  { code: 'P', from: 0x01, to: 0x0f, allowed: ['persons', 'areas', 'structures', 'vehicles'] },
  { code: 'P', from: 0x10, to: 0x1f, allowed: ['persons', 'areas', 'structures', 'vehicles', 'goods'] },
  { code: 'P', from: 0x20, to: 0x2f, allowed: ['persons', 'areas', 'structures', 'vehicles', 'goods'] },
  { code: 'P', from: 0x30, to: 0x3f, allowed: ['areas', 'structures'] },
  { code: 'P', from: 0x40, to: 0x4f, allowed: ['persons', 'areas', 'structures', 'vehicles', 'goods'] },
  { code: 'P', from: 0x50, to: 0x5f, allowed: ['areas', 'structures', 'vehicles', 'goods'] },
  { code: 'P', from: 0x60, to: 0x6f, allowed: ['areas', 'structures', 'goods'] },
  { code: 'E', from: 0x00, to: 0xff, allowed: ['persons', 'structures', 'vehicles'] },
  { code: 'D', from: 0x00, to: 0x1f, allowed: ['areas', 'structures', 'vehicles', 'goods'] },
  { code: 'D', from: 0x20, to: 0x2f, allowed: ['areas'] },
  { code: 'D', from: 0x30, to: 0x4f, allowed: ['areas', 'structures', 'vehicles'] },
  { code: 'D', from: 0x50, to: 0x5f, allowed: ['areas'] },
  { code: 'D', from: 0xa0, to: 0xff, allowed: ['areas'] },
  { code: 'S', from: 0x00, to: 0x0f, allowed: ['persons', 'areas', 'structures', 'vehicles', 'goods'] },
  { code: 'S', from: 0x10, to: 0x1f, allowed: ['persons'] },
  { code: 'S', from: 0x20, to: 0x2f, allowed: ['structures', 'vehicles', 'goods'] },
  { code: 'I', from: 0x00, to: 0xef, allowed: ['areas', 'structures'] },
  { code: 'M', from: 0x00, to: 0xef, allowed: ['persons', 'areas', 'structures', 'vehicles', 'goods'] },
  { code: 'Q', from: 0x10, to: 0x2f, allowed: ['areas'] },
];

/**
 * §4.3.1.6: signs and signals that may leave their location out (set to `+99.99999` / `+999.99999`). The standard
 * requires a location for P and D and allows leaving it out for E and S; it says nothing for I, M and Q. We read an
 * infrastructure sign and a request (whose object must be an area, §4.3.1.9) as needing one, and a mission as not.
 */
export const LOCATION_OPTIONAL: readonly SignSignalCode[] = ['E', 'S', 'M'];
export const NO_LATITUDE = '+99.99999';
export const NO_LONGITUDE = '+999.99999';
/** §4.3.1.9: at most eight request objects in a `Q` message. */
export const MAX_REQUEST_OBJECTS = 8;

// ---------------------------------------------------------------------------------------------------------------
// Fields

/**
 * How a field is compressed (§4.1.3): `utf8` 8 bits per character (7-bit code points only), `bin` 1 bit, `dec` and
 * `hex` 4 bits per digit, `datetime`/`duration` the digits only at 4 bits each, `lat`/`long` a sign bit and the digits.
 */
export type FieldEncoding = 'utf8' | 'bin' | 'dec' | 'hex' | 'datetime' | 'duration' | 'lat' | 'long';

export interface FieldSpec {
  name: string;
  encoding: FieldEncoding;
  /** Characters of the uncompressed field; undefined for the variable-length last field of A, K, R and F bodies. */
  length?: number;
  /** The uncompressed syntax (§4.2, §4.3); checked before encoding and after decoding. */
  pattern: RegExp;
}

const f = (name: string, encoding: FieldEncoding, pattern: RegExp, length?: number): FieldSpec =>
  length === undefined ? { name, encoding, pattern } : { name, encoding, pattern, length };

/** §4.2.1.1: the generic header, in order. */
export const HEADER_FIELDS: readonly FieldSpec[] = [
  f('Prefix', 'utf8', /^WF$/, 2),
  f('Version', 'utf8', /^[A-Za-z0-9]$/, 1),
  f('EncryptionIndicator', 'utf8', /^[A-Za-z0-9]$/, 1),
  f('DuressIndicator', 'bin', /^[01]$/, 1),
  f('MessageCode', 'utf8', /^[A-Za-z0-9]$/, 1),
  f('ReferenceIndicator', 'hex', /^[0-9A-Fa-f]$/, 1),
  f('ReferencedMessage', 'hex', /^[0-9A-Fa-f]{64}$/, 64),
];

/** §4.3.1.1: the body of every sign and signal, in order. */
export const SIGN_SIGNAL_FIELDS: readonly FieldSpec[] = [
  f('SubjectCode', 'hex', /^[0-9A-Fa-f]{2}$/, 2),
  f('DateTime', 'datetime', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/, 20),
  f('Duration', 'duration', /^P\d{2}D\d{2}H\d{2}M$/, 10),
  f('ObjectType', 'hex', /^[0-9A-Fa-f]{2}$/, 2),
  f('ObjectLatitude', 'lat', /^[+-]\d{2}\.\d{5}$/, 9),
  f('ObjectLongitude', 'long', /^[+-]\d{3}\.\d{5}$/, 10),
  f('ObjectSizeDim1', 'dec', /^\d{4}$/, 4),
  f('ObjectSizeDim2', 'dec', /^\d{4}$/, 4),
  f('ObjectOrientation', 'dec', /^\d{3}$/, 3),
];

/** §4.3.1.1: the repeated request fields of a `Q` body (Annex B names them `requestObjects`). */
export const REQUEST_OBJECT_FIELDS: readonly FieldSpec[] = [
  f('ObjectType', 'hex', /^[0-9A-Fa-f]{2}$/, 2),
  f('ObjectTypeQuant', 'dec', /^\d{2}$/, 2),
];

/** 7-bit characters only (§4.1.2: code points U+0000 to U+007F). */
const ASCII = /^\p{ASCII}*$/u;

/** The bodies of the other message types (§4.3.2 to §4.3.6); the last field of each is variable in length. */
export const OTHER_BODY_FIELDS: Readonly<Record<'A' | 'K' | 'R' | 'F', readonly FieldSpec[]>> = {
  A: [f('VerificationMethod', 'hex', /^[0-9A-Fa-f]$/, 1), f('VerificationData', 'utf8', ASCII)],
  K: [f('CryptoDataType', 'hex', /^[0-9A-Fa-f]{2}$/, 2), f('CryptoData', 'hex', /^[0-9A-Fa-f]*$/)],
  R: [f('ResourceMethod', 'hex', /^[0-9A-Fa-f]$/, 1), f('ResourceData', 'utf8', ASCII)],
  F: [f('Text', 'utf8', ASCII)],
};

/** §4.3.6: the field that names the type a test message tests. */
export const PSEUDO_MESSAGE_CODE_FIELD: FieldSpec = f('PseudoMessageCode', 'utf8', /^[A-Za-z0-9]$/, 1);
