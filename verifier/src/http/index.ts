export { fillResource, requireCredentials, type GuardDeps, type RequireCredentialsOptions } from './guard.js';
export { buildVerifierRouter, type VerifierRouter, type VerifierRouterOptions } from './router.js';
export { DEFAULT_PRESENTATION_REQUEST_LIMITS, RequestBudget, type RequestBudgetLimits } from './request-budget.js';
export {
  ACCESS_TOKEN_TYP,
  AccessTokens,
  type AccessGrant,
  type AccessTokenAlg,
  type AccessTokenOptions,
  type GrantedCredential,
  type Scope,
} from './tokens.js';
