import { sqliteBackend } from '../testing/backends.js';
import { deviceVaultSuite } from './vault-suite.js';

deviceVaultSuite(sqliteBackend());
