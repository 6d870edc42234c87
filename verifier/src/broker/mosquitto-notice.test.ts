import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConnectionNotice, sessionLoginOf } from './mosquitto.js';

// Mosquitto 2.0.11's connection notices (src/handle_connect.c, src/loop.c), as the adapter reads them from
// $SYS/broker/log/N and /E: which device, and for a connect, which login (the device's own or its session login).
const id = `0x${'ab'.repeat(32)}`;

describe('Mosquitto connection notices', () => {
  it('names the login of a new connection', () => {
    assert.deepEqual(
      parseConnectionNotice(`New client connected from 127.0.0.1:41234 as ${id} (p2, c1, k60, u'${id}').`),
      {
        kind: 'connected',
        clientId: id,
        username: id,
      },
    );
    assert.deepEqual(
      parseConnectionNotice(
        `1733500000: New client connected from 127.0.0.1:41235 as ${id} (p2, c1, k60, u'${sessionLoginOf(id)}').`,
      ),
      { kind: 'connected', clientId: id, username: `${id}.session` },
    );
    assert.deepEqual(parseConnectionNotice(`New client connected from 127.0.0.1:41236 as ${id} (p2, c1, k60).`), {
      kind: 'connected',
      clientId: id,
    });
  });

  it('reads takeovers and disconnects, and ignores what it does not know', () => {
    assert.deepEqual(parseConnectionNotice(`Client ${id} already connected, closing old connection.`), {
      kind: 'taken-over',
      clientId: id,
    });
    assert.deepEqual(parseConnectionNotice(`Client ${id} disconnected due to protocol error.`), {
      kind: 'disconnected',
      clientId: id,
    });
    assert.equal(parseConnectionNotice('Client <unknown> disconnected.'), undefined);
    assert.equal(parseConnectionNotice('Saving in-memory database to /tmp/x.'), undefined);
  });
});
