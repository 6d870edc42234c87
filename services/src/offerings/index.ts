export { allocate, type Allocation, type Ticket } from './allocation.js';
export {
  CREDENTIAL_BITS,
  checkCertification,
  checkInvestor,
  checkTicket,
  credentialBits,
  type BookState,
  type Certification,
  type InvestorClaims,
  type InvestorFacts,
  type VerifiedInvestorCredential,
} from './rules.js';
export {
  deployOfferingToken,
  OfferingService,
  type MintReport,
  type Offering,
  type OfferingServiceOptions,
  type SubscribeRequest,
  type Subscription,
} from './service.js';
export {
  EligibilityEntity,
  OfferingEntity,
  OfferingStore,
  OfferingsMigration1763780000000,
  SubscriptionEntity,
  offeringsDatabaseParts,
  type EligibilityRow,
  type OfferingRow,
  type OfferingStatus,
  type SubscriptionRow,
  type SubscriptionStatus,
} from './store.js';
export {
  bookCap,
  MAX_UNIT_PRICE,
  MAX_UNITS,
  OFFERING_ID_PATTERN,
  OfferingDocumentSchema,
  OfferingTermsSchema,
  offeringUrn,
  parseTerms,
  type OfferingDocument,
  type OfferingTerms,
  type OfferingTermsInput,
} from './terms.js';
