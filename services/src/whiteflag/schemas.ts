import {
  type FieldSpec,
  isSignSignalCode,
  MAX_REQUEST_OBJECTS,
  OBJECT_TYPES,
  SIGN_SIGNAL_FIELDS,
} from '@tessera/protocol/whiteflag';
import { EVM_ADDRESS_PATTERN } from '@tessera/protocol';
import { z } from 'zod';

/**
 * The request bodies of the Whiteflag API and of the MQTT bridge, as zod schemas (they validate requests and generate
 * the OpenAPI document). Message bodies follow the standard's JSON form (Annex B); their field patterns come from the
 * codec's one table of fields, and `validateWhiteflag` checks what the values mean.
 */

const field = (spec: FieldSpec, description: string) => z.string().regex(spec.pattern).describe(description);
const S = Object.fromEntries(SIGN_SIGNAL_FIELDS.map((f) => [f.name, f]));

export const SignSignalBodySchema = z
  .strictObject({
    SubjectCode: field(S['SubjectCode']!, 'the sign or signal (§4.3.1.2), two hex digits'),
    DateTime: field(S['DateTime']!, 'from when it is valid, UTC: YYYY-MM-DDThh:mm:ssZ'),
    Duration: field(S['Duration']!, 'for how long: PddDhhHmmM (P00D00H00M: indefinitely)'),
    ObjectType: field(S['ObjectType']!, `the object it refers to (§4.3.1.5): ${Object.keys(OBJECT_TYPES).join(', ')}`),
    ObjectLatitude: field(S['ObjectLatitude']!, '±dd.ddddd (WGS84), +99.99999 when left out'),
    ObjectLongitude: field(S['ObjectLongitude']!, '±ddd.ddddd (WGS84), +999.99999 when left out'),
    ObjectSizeDim1: field(S['ObjectSizeDim1']!, 'metres, 0000 when not given'),
    ObjectSizeDim2: field(S['ObjectSizeDim2']!, 'metres, 0000 when not given'),
    ObjectOrientation: field(S['ObjectOrientation']!, 'degrees from north, 999 when not given'),
    requestObjects: z
      .array(
        z.strictObject({
          ObjectType: z.string().regex(/^[0-9A-Fa-f]{2}$/),
          ObjectTypeQuant: z.string().regex(/^\d{2}$/),
        }),
      )
      .max(MAX_REQUEST_OBJECTS)
      .optional()
      .describe('request signals (Q) only: the objects requested and how many'),
  })
  .describe('a sign or signal (P E D S I M Q, §4.3.1)');

export const FreeTextBodySchema = z.strictObject({ Text: z.string().max(900) }).describe('free text (F, §4.3.3)');
export const ResourceBodySchema = z
  .strictObject({ ResourceMethod: z.string().regex(/^[0-9A-Fa-f]$/), ResourceData: z.string().max(900) })
  .describe('a resource link (R, §4.3.2)');
export const TestBodySchema = z
  .strictObject({
    PseudoMessageCode: z.string().regex(/^[A-Z]$/),
    PseudoMessageBody: z.record(z.string(), z.unknown()),
  })
  .describe('a test message (T, §4.3.6)');

/** The body schema for a message code (undefined for the types this API does not send: A and K). */
export function bodySchemaFor(code: string): z.ZodType | undefined {
  if (isSignSignalCode(code)) return SignSignalBodySchema;
  if (code === 'F') return FreeTextBodySchema;
  if (code === 'R') return ResourceBodySchema;
  if (code === 'T') return TestBodySchema;
  return undefined;
}

const RequestId = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{8,100}$/, 'must be 8 to 100 letters, digits, . _ : -')
  .describe('your idempotency key: the same request id never sends twice');
const Reference = z
  .strictObject({
    indicator: z.enum(['1', '2', '3', '4', '5', '6', '7', '8', '9']).describe('the reference code (§4.2.1.7)'),
    message: z
      .string()
      .regex(/^(0x)?[0-9a-fA-F]{64}$/)
      .describe('the referenced message: its transaction hash'),
  })
  .describe('how this message relates to an earlier one (§5.4)');
const Encryption = z
  .discriminatedUnion('method', [
    z.strictObject({
      method: z.literal('2'),
      key: z
        .string()
        .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/)
        .describe('the name of a pre-shared key'),
    }),
    z.strictObject({
      method: z.literal('1'),
      recipient: z
        .string()
        .regex(EVM_ADDRESS_PATTERN)
        .describe('the account whose published ECDH key (K(0)0A) to negotiate with'),
    }),
  ])
  .describe('encrypt with AES-256-CTR (§5.2.4): method 2 with a pre-shared key, method 1 with an ECDH-negotiated one');

const envelope = <B extends z.ZodType>(body: B) =>
  z.strictObject({
    requestId: RequestId,
    body,
    duress: z.boolean().optional().describe('sent under duress (§4.2.1.5)'),
    reference: Reference.optional(),
    encryption: Encryption.optional(),
  });

/** `POST /whiteflag/messages/{code}`: the body is checked against the code's schema after the envelope. */
export const SendBodySchema = envelope(z.record(z.string(), z.unknown()));
/** The same envelope with every body form spelled out, for the OpenAPI document. */
export const SendBodyDocSchema = envelope(
  z.union([SignSignalBodySchema, FreeTextBodySchema, ResourceBodySchema, TestBodySchema]),
);
export type SendBody = z.infer<typeof SendBodySchema>;

/** What a device publishes on `whiteflag/signals/{code}`: its session credential proves it is the device. */
export const DeviceSignalSchema = z.strictObject({
  credential: z.string().min(1).max(16_384).describe('the DeviceSessionCredential from the handshake'),
  requestId: RequestId,
  body: SignSignalBodySchema,
  duress: z.boolean().optional(),
  reference: Reference.optional(),
  encryption: z
    .strictObject({ method: z.literal('2'), key: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/) })
    .optional()
    .describe('devices encrypt with a pre-shared key of the bridge (method 2) or not at all'),
});

export const AreaBodySchema = z
  .strictObject({
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    radiusM: z.number().int().min(1).max(100_000).describe('metres around the point'),
  })
  .describe('the area a device receives Whiteflag signals for');

export const ListQuerySchema = z.strictObject({
  code: z
    .string()
    .regex(/^[A-Z]$/)
    .optional(),
  auth: z.enum(['authenticated', 'unauthenticated', 'failed']).optional(),
  originator: z.string().regex(EVM_ADDRESS_PATTERN).optional(),
  sinceBlock: z.coerce.number().int().min(-1).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  orphaned: z.enum(['true', 'false']).optional(),
});

export const SignatureBodySchema = z.strictObject({
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'must be 65 bytes of 0x hex (r‖s‖v)'),
});
