import { ERROR_CODES } from '@tessera/protocol';

/** Building blocks of the offerings' OpenAPI document. */

export const json = (schema: unknown) => ({ 'application/json': { schema } });
export const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
/** One response per status, listing the codes of the registry that map to it and that this route can return. */
export const errors = (...codes: (keyof typeof ERROR_CODES)[]) => {
  const byStatus = new Map<number, string[]>();
  for (const c of codes) {
    const s = ERROR_CODES[c].status;
    byStatus.set(s, [...(byStatus.get(s) ?? []), c]);
  }
  return Object.fromEntries(
    [...byStatus].map(([s, cs]) => [String(s), { description: cs.join(', '), content: json(ref('Error')) }]),
  );
};
export const BODY = [
  'ERR_JSON_MALFORMED',
  'ERR_BODY_TOO_LARGE',
  'ERR_UNSUPPORTED_MEDIA_TYPE',
  'ERR_VALIDATION',
] as const;
export const GUARD = [
  'ERR_AUTH_REQUIRED',
  'ERR_AUTH_INVALID',
  'ERR_AUTH_EXPIRED',
  'ERR_VC_REVOKED',
  'ERR_FORBIDDEN',
] as const;
export const secured = (policy: string) => ({
  security: [{ bearer: [] }],
  description: `Bearer access token from the verifier (POST /verifier/presentation-requests, then POST /verifier/presentations) for policy \`${policy}\`.`,
});
export const offeringId = { name: 'offeringId', in: 'path', required: true, schema: { type: 'string' } };
