import { exchangeServiceSuite } from './service-suite.js';

exchangeServiceSuite('SQLite');
