/**
 * Bit-level writing and reading for the compressed binary form of Whiteflag messages (Whiteflag §4.1.3): fields are
 * packed most significant bit first, one after the other without alignment, and the last byte is padded with zeros.
 */
export class BitWriter {
  private bytes: number[] = [];
  private bitLength = 0;

  /** Append the lowest `width` bits of `value` (width ≤ 8), most significant first. */
  write(value: number, width: number): void {
    for (let i = width - 1; i >= 0; i--) {
      const bit = (value >> i) & 1;
      const byteIndex = this.bitLength >> 3;
      if (byteIndex === this.bytes.length) this.bytes.push(0);
      if (bit) this.bytes[byteIndex] = this.bytes[byteIndex]! | (0x80 >> (this.bitLength & 7));
      this.bitLength++;
    }
  }

  get length(): number {
    return this.bitLength;
  }

  /** The bits written so far, the last byte padded with zero bits. */
  toBytes(): Uint8Array {
    return Uint8Array.from(this.bytes);
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
