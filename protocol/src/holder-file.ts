/**
 * A plain holder key file, as the issuer writes the root admin's on first start (`<dataDir>/root-admin-wallet.json`,
 * mode 0600): the holder's did:ethr, its secp256k1 key and the JWT credentials issued to it. The wallet package reads
 * it (`readHolderFile`, `loginWithCredentials`); people's own wallets use the sealed format of the wallet package.
 */
export interface HolderKeyFile {
  did: string;
  /** secp256k1 private key, 0x hex. */
  privateKey: string;
  credentials: string[];
  createdAt?: string;
}
