export {
  PolicyEngine,
  type AccessRequest,
  type DenialReason,
  type PolicyDecision,
  type PolicyDenial,
} from './engine.js';
export {
  ClaimConstraintSchema,
  loadPolicyFile,
  parsePolicySet,
  patternParams,
  PolicySchema,
  PolicySetSchema,
  RequirementSchema,
  type ClaimConstraint,
  type Policy,
  type PolicyProblem,
  type PolicySet,
  type Requirement,
} from './schema.js';
