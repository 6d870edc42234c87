import { createHmac, timingSafeEqual } from 'node:crypto';
import { DEVICE_SECRET_BYTES } from './device.js';

/**
 * The MQTT password of a device (docs/protocol.md, "Broker credentials"). The broker never sees the pre-shared secret:
 * both sides derive a separate value from it,
 *
 *   password = base64url( HMAC-SHA256( K = device secret, "tessera.mqtt-password.v1" ) )      (43 characters)
 *
 * so a broker log or a compromised broker password file reveals nothing that answers an OCRA challenge (HMAC is a PRF:
 * the password and the OCRA values are independent outputs of the same key). The MQTT username is the device id.
 */
export const BROKER_PASSWORD_LABEL = 'tessera.mqtt-password.v1';

export function deriveBrokerPassword(secret: Uint8Array): string {
  if (secret.length < DEVICE_SECRET_BYTES) throw new Error('device secrets are at least 32 bytes');
  return createHmac('sha256', secret).update(BROKER_PASSWORD_LABEL, 'utf8').digest('base64url');
}

/**
 * The password of a session login (docs/protocol.md, "Session logins"): where the broker gives a grant to a login
 * rather than to a connection (Mosquitto), a successful handshake names a login in its result and the device
 * reconnects with it, under this password:
 *
 *   session password = base64url( HMAC-SHA256( K, "tessera.mqtt-session-password.v1\n" ‖ sessionId ) )   (43 characters)
 *
 * Only `K` makes it, so a party holding the broker password cannot log in as the session, and every session has its
 * own.
 */
export const SESSION_PASSWORD_LABEL = 'tessera.mqtt-session-password.v1';

export function deriveSessionPassword(secret: Uint8Array, sessionId: string): string {
  if (secret.length < DEVICE_SECRET_BYTES) throw new Error('device secrets are at least 32 bytes');
  return createHmac('sha256', secret).update(`${SESSION_PASSWORD_LABEL}\n${sessionId}`, 'utf8').digest('base64url');
}

/** Constant-time comparison of a presented broker password with the expected one (lengths leak nothing useful). */
export function brokerPasswordsEqual(expected: string, presented: Uint8Array | string | undefined): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(expected, 'utf8');
  const b = typeof presented === 'string' ? Buffer.from(presented, 'utf8') : Buffer.from(presented);
  if (a.length !== b.length) {
    timingSafeEqual(a, a);
    return false;
  }
  return timingSafeEqual(a, b);
}
