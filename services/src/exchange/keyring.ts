import { ES256KSigner, type Signer } from 'did-jwt';
import type { ExchangeKeyring } from './service.js';

/**
 * Keys the service signs with on behalf of organisations that let it hold theirs (the HTML interface signs with
 * them). Organisations that keep their own keys sign their JWS themselves and use the API.
 */
export class MemoryKeyring implements ExchangeKeyring {
  private readonly keys = new Map<string, Signer>();

  /** Hold the signer of `party.did`. */
  add(party: { did: string; signer: Signer }): this {
    this.keys.set(party.did, party.signer);
    return this;
  }

  /** Hold a secp256k1 private key (0x hex) for `did` (ES256K). */
  addPrivateKey(did: string, privateKeyHex: string): this {
    const hex = privateKeyHex.replace(/^0x/, '');
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new TypeError('a secp256k1 private key is 32 bytes of hex');
    return this.add({ did, signer: ES256KSigner(Buffer.from(hex, 'hex')) });
  }

  signerFor(did: string): Signer | undefined {
    return this.keys.get(did);
  }
}
