import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { composeWhiteflag, WHITEFLAG_EXAMPLES } from '@tessera/protocol/whiteflag';
import { covers, distanceM, locationOf } from './mqtt.js';

describe('which devices a Whiteflag signal is for (its location against their areas)', () => {
  it('measures great-circle distances', () => {
    // Marseille Vieux-Port to Lyon Bellecour: about 278 km
    const d = distanceM({ latitude: 43.2951, longitude: 5.3745 }, { latitude: 45.7578, longitude: 4.832 });
    assert.ok(Math.abs(d - 277_700) < 2_000, String(d));
    assert.equal(distanceM({ latitude: 10, longitude: 20 }, { latitude: 10, longitude: 20 }), 0);
  });

  it('takes the object’s extent: a circle’s radius, half a rectangle’s diagonal', () => {
    const d = locationOf(WHITEFLAG_EXAMPLES.D); // a 2,500 m circle
    assert.deepEqual(d, { latitude: -12.0464, longitude: -77.0428, extentM: 2500 });
    const i = locationOf(WHITEFLAG_EXAMPLES.I); // 3,000 × 1,500 m rectangle
    assert.equal(Math.round(i!.extentM), Math.round(Math.hypot(3000, 1500) / 2));
    assert.equal(locationOf(WHITEFLAG_EXAMPLES.E), undefined, 'a signal without a location is for no area');
  });

  it('reaches an area when the object’s edge is within its radius', () => {
    const flood = locationOf(WHITEFLAG_EXAMPLES.D)!;
    // 3 km north of the flood's centre: the 2.5 km circle plus a 1 km area reach it, a 400 m area does not
    const north = { latitude: -12.0464 + 3000 / 111_195, longitude: -77.0428 };
    assert.ok(covers({ ...north, radiusM: 1000 }, flood));
    assert.ok(!covers({ ...north, radiusM: 400 }, flood));
    const point = locationOf(composeWhiteflag('S', { ...WHITEFLAG_EXAMPLES.S.MessageBody }))!;
    assert.equal(point.extentM, 0);
    assert.ok(covers({ latitude: 43.297, longitude: 5.381, radiusM: 1 }, point));
  });
});
