import { MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT } from '@tessera/protocol';
import { AedesBrokerAdapter } from './aedes.js';
import { mqttHostileSuite } from './hostile.suite.js';

// The hostile-input suite against the embedded broker: aedes over TCP on an ephemeral port.
mqttHostileSuite('aedes', async () => new AedesBrokerAdapter({ port: 0 }), {
  beforeConnectLimit: MQTT_MAX_PACKET_BYTES_BEFORE_CONNECT,
});
