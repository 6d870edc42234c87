/**
 * Bit-level writing and reading for the compressed binary form of Whiteflag messages (Whiteflag §4.1.3): fields are
 * packed most significant bit first, one after the other without alignment, and the last byte is padded with zeros.
 */
export class BitWriter {
  private buffer = new Uint8Array(128);
  private bytes = 0;
  /** Bits written but not yet a whole byte (fewer than 8), and how many. */
  private acc = 0;
  private pending = 0;

  /** Append the lowest `width` bits of `value` (width ≤ 8), most significant first. */
  write(value: number, width: number): void {
    this.acc = ((this.acc << width) | (value & ((1 << width) - 1))) & 0xffff;
    this.pending += width;
    if (this.pending >= 8) {
      if (this.bytes === this.buffer.length) {
        const grown = new Uint8Array(this.buffer.length * 2);
        grown.set(this.buffer);
        this.buffer = grown;
      }
      this.pending -= 8;
      this.buffer[this.bytes++] = (this.acc >> this.pending) & 0xff;
    }
  }

  get length(): number {
    return this.bytes * 8 + this.pending;
  }

  /** The bits written so far, the last byte padded with zero bits. */
  toBytes(): Uint8Array {
    const out = this.buffer.slice(0, this.bytes + (this.pending > 0 ? 1 : 0));
    if (this.pending > 0) out[this.bytes] = (this.acc << (8 - this.pending)) & 0xff;
    return out;
  }
}

export class BitReader {
  private position = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** Bits not yet read (padding included). */
  get remaining(): number {
    return this.bytes.length * 8 - this.position;
  }

  /** Read `width` bits (width ≤ 8) as an unsigned number; the caller checks `remaining` first. */
  read(width: number): number {
    let value = 0;
    for (let i = 0; i < width; i++) {
      const byte = this.bytes[this.position >> 3]!;
      value = (value << 1) | ((byte >> (7 - (this.position & 7))) & 1);
      this.position++;
    }
    return value;
  }
}
