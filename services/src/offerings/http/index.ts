export {
  ensureAttester,
  type OfferingsPart,
  type OfferingsPartDeps,
  startOfferingsPart,
  tokenDeployer,
} from './part.js';
export {
  connectRevocations,
  credentialKey,
  reconcileRevocations,
  type CredentialStatusChange,
  type CredentialStatuses,
  type RevocationLink,
} from './revocations.js';
export {
  buildOfferingsRouter,
  investorCredentialOf,
  OFFERING_CERTIFICATION_CREDENTIAL,
  OFFERING_RESOURCES,
  type OfferingsRouterDeps,
  walletOfDid,
} from './router.js';
