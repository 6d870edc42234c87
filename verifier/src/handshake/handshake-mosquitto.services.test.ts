import { startDedicatedMosquittoAdapter } from '../broker/mosquitto-instance.js';
import { handshakeConformanceSuite } from './conformance-suite.js';

// The shared conformance suite against Mosquitto 2 with dynamic security. Every adapter the suite asks for (the
// broker under test, and the rogue server's broker) gets its own dedicated Mosquitto on a free port, stopped with it.
handshakeConformanceSuite('mosquitto', () => startDedicatedMosquittoAdapter());
