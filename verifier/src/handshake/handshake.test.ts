import { AedesBrokerAdapter } from '../broker/aedes.js';
import { handshakeConformanceSuite } from './conformance-suite.js';

// The shared conformance suite against the embedded broker: aedes over TCP on an ephemeral port.
handshakeConformanceSuite('aedes', async () => new AedesBrokerAdapter({ port: 0 }));
