/**
 * The HTTP boundary every Tessera server shares: one body parser (`jsonBody`) with the limits, one error handler
 * (`errorHandler`) mapping every throw to a coded answer, and each part's routes declared once with their zod schemas
 * (`HttpApi`): validated by them and documented from them as OpenAPI 3.1, merged for the stack by `mergeOpenApi`.
 */
export { fastJsonBody, formBody, jsonBody } from './body.js';
export { errorHandler, httpError } from './errors.js';
export {
  type ApiHandler,
  attachOpenApi,
  type ApiInfo,
  type ApiInput,
  type ApiResponse,
  type ApiRoute,
  type Routes,
  BODY_ERRORS,
  ErrorBody,
  errorResponses,
  HttpApi,
  mergeOpenApi,
  openApiOf,
  type OpenApiDocument,
  parseWith,
  validationError,
} from './openapi.js';
