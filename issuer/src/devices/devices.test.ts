import { sqliteBackend } from '../testing/backends.js';
import { deviceLifecycleSuite } from './lifecycle-suite.js';

deviceLifecycleSuite(sqliteBackend());
