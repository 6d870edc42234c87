import { issuerStoreSuite } from './issuer-suite.js';
import { postgresBackend } from './testing/backends.js';

issuerStoreSuite(postgresBackend());
