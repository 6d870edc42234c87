import { MQTT_MAX_PACKET_BYTES } from '@tessera/protocol';
import { mqttHostileSuite } from './hostile.suite.js';
import { startDedicatedMosquittoAdapter } from './mosquitto-instance.js';

// The hostile-input suite against a dedicated Mosquitto 2 with dynamic security (one packet limit for every phase:
// max_packet_size).
mqttHostileSuite('mosquitto', () => startDedicatedMosquittoAdapter(), { beforeConnectLimit: MQTT_MAX_PACKET_BYTES });
