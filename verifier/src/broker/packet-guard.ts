import { MQTT_MAX_PACKET_BYTES, TesseraError } from '@tessera/protocol';

/**
 * A byte-level watch on an MQTT connection's input that decides every packet by its fixed header alone, before the
 * body is read (MQTT 3.1.1 §2.2): one type byte, then the remaining length in one to four 7-bit groups (§2.2.3). It
 * keeps no data, only its place in the current packet, so a client that announces 256 MB is refused after five bytes.
 *
 * @example
 * const guard = new MqttPacketGuard({ beforeConnect: 4096, afterConnect: 9216 });
 * const refusal = guard.scan(chunk); // undefined, or why the connection must close
 */

export interface PacketLimits {
  /** Largest packet (fixed header included) until `connected()` is called. */
  beforeConnect: number;
  /** Largest packet (fixed header included) after it. */
  afterConnect: number;
}

export interface PacketRefusal {
  code: 'ERR_MQTT_PACKET_TOO_LARGE' | 'ERR_MQTT_PACKET_MALFORMED';
  phase: 'before_connect' | 'after_connect';
  /** MQTT control packet type of the refused packet (1 = CONNECT, 3 = PUBLISH, …). */
  packetType: number;
  /** The size its fixed header announced (fixed header included); absent for a malformed length. */
  declaredBytes?: number;
  limitBytes: number;
}

// Where the guard is in the current packet.
const TYPE = 0;
const LENGTH = 1;
const BODY = 2;

export class MqttPacketGuard {
  private state: typeof TYPE | typeof LENGTH | typeof BODY = TYPE;
  private type = 0;
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private remaining = 0;
  private accepted = false;
  /** Packets whose fixed header passed. */
  packets = 0;

  constructor(private readonly limits: PacketLimits) {}

  /** The CONNECT was accepted: packets whose header starts from now on get the larger limit. */
  connected(): void {
    this.accepted = true;
  }

  /** Follow `chunk`; the first refusal found, or undefined when every header in it passed. */
  scan(chunk: Uint8Array): PacketRefusal | undefined {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.state === BODY) {
        const skip = Math.min(this.remaining, n - i);
        i += skip;
        this.remaining -= skip;
        if (this.remaining === 0) this.state = TYPE;
        continue;
      }
      const b = chunk[i++]!;
      if (this.state === TYPE) {
        this.type = b >> 4;
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
        this.state = LENGTH;
        continue;
      }
      this.length += (b & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      const phase = this.accepted ? 'after_connect' : 'before_connect';
      const limitBytes = this.accepted ? this.limits.afterConnect : this.limits.beforeConnect;
      if (b & 0x80) {
        // §2.2.3: at most four bytes; a fifth continuation is no MQTT packet at all.
        if (this.lengthBytes === 4)
          return { code: 'ERR_MQTT_PACKET_MALFORMED', phase, packetType: this.type, limitBytes };
        continue;
      }
      const declaredBytes = 1 + this.lengthBytes + this.length;
      if (declaredBytes > limitBytes)
        return { code: 'ERR_MQTT_PACKET_TOO_LARGE', phase, packetType: this.type, declaredBytes, limitBytes };
      this.packets++;
      this.remaining = this.length;
      this.state = this.remaining === 0 ? TYPE : BODY;
    }
    return undefined;
  }
}

/**
 * The verifier's own messages obey the same cap as the devices' (a device may refuse a larger packet, and Mosquitto
 * drops the sender's connection): PUBLISH fixed header (≤ 5 bytes), topic length and topic, packet id, payload.
 */
export function checkOutboundSize(topic: string, payload: string | Buffer): void {
  const bytes =
    5 + 2 + Buffer.byteLength(topic) + 2 + (typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length);
  if (bytes > MQTT_MAX_PACKET_BYTES)
    throw new TesseraError(
      'ERR_MQTT_PACKET_TOO_LARGE',
      `a message to ${topic.slice(0, 120)} would be a ${bytes}-byte packet; the limit is ${MQTT_MAX_PACKET_BYTES}`,
      { details: { bytes, limitBytes: MQTT_MAX_PACKET_BYTES } },
    );
}
