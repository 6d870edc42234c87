import { postgresBackend } from '../testing/backends.js';
import { oid4vciStateSuite } from './state-suite.js';

oid4vciStateSuite(postgresBackend());
