export {
  PolicyEngine,
  isResourcePattern,
  resourceMatches,
  type AccessRequest,
  type EvaluableCredential,
  type DenialReason,
  type PolicyDecision,
  type PolicyDenial,
} from './engine.js';
export { DEFAULT_POLICY_FILE, loadPolicyFile } from './load.js';
