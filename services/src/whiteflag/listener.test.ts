import { whiteflagListenerSuite } from './listener-suite.js';

whiteflagListenerSuite('SQLite');
