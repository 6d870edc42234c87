import { issuerStoreSuite } from './issuer-suite.js';
import { sqliteBackend } from './testing/backends.js';

issuerStoreSuite(sqliteBackend());
