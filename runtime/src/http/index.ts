/**
 * The HTTP boundary every Tessera server shares: one body parser (`jsonBody`) with the limits, one error handler
 * (`errorHandler`) mapping every throw to a coded answer.
 */
export { fastJsonBody, jsonBody } from './body.js';
export { errorHandler, httpError } from './errors.js';
