import { postgresBackend } from '../testing/backends.js';
import { issuerHttpSuite } from './app-suite.js';

issuerHttpSuite(postgresBackend());
