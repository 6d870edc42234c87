import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { invalidPolicy, type PolicySet, parsePolicySet, type Result } from '@tessera/protocol';

/** Read and validate a JSON policy file. Unreadable files and bad JSON are ERR_POLICY_INVALID too. */
export function loadPolicyFile(path: string): Result<PolicySet> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    return invalidPolicy([{ path: '(file)', message: `cannot be read: ${(cause as Error).message}` }], path);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (cause) {
    return invalidPolicy([{ path: '(file)', message: `is not JSON: ${(cause as Error).message}` }], path);
  }
  return parsePolicySet(data, path);
}

/** The policies Tessera ships (`verifier/policies/default.json`): the services', the issuer's and the topics'. */
export const DEFAULT_POLICY_FILE = fileURLToPath(new URL('../../policies/default.json', import.meta.url));
