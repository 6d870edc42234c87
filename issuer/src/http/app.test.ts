import { sqliteBackend } from '../testing/backends.js';
import { issuerHttpSuite } from './app-suite.js';

issuerHttpSuite(sqliteBackend());
