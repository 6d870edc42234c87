import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { type Libsecp256k1, libsecp256k1 } from './secp256k1.js';

/*
 * One batch is one ArrayBuffer of fixed-size records, transferred (not copied) each way.
 * Request record: [0] op (0 verify, 1 sign), verify: [1..65) r‖s, [65..97) digest, [97] point length, [98..163) point;
 * sign: [1..33) digest, [33..37) key id (uint32 LE). Answer record: [0] 1 = valid / signed, 0 = not; [1..65) r‖s.
 * A key message `{ key: id, seckey }` registers a signing key once; the port keeps messages in order.
 */
const REQ = 163;
const RES = 65;
const OP_VERIFY = 0;
const OP_SIGN = 1;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const lib = require(workerData.addon);
lib.contextRandomize(workerData.seed);
const keys = new Map();
parentPort.on('message', (m) => {
  if (!(m instanceof ArrayBuffer)) { keys.set(m.key, m.seckey); return; }
  const u = new Uint8Array(m);
  const n = u.length / ${REQ};
  const out = new Uint8Array(n * ${RES});
  for (let i = 0; i < n; i++) {
    const o = i * ${REQ};
    try {
      if (u[o] === ${OP_VERIFY}) {
        out[i * ${RES}] = lib.ecdsaVerify(u.subarray(o + 1, o + 65), u.subarray(o + 65, o + 97), u.subarray(o + 98, o + 98 + u[o + 97])) ? 1 : 0;
      } else {
        const key = keys.get(u[o + 33] | (u[o + 34] << 8) | (u[o + 35] << 16) | (u[o + 36] << 24));
        out.set(lib.ecdsaSign(u.subarray(o + 1, o + 33), key).signature, i * ${RES} + 1);
        out[i * ${RES}] = 1;
      }
    } catch {
      out[i * ${RES}] = 0;
    }
  }
  parentPort.postMessage(out.buffer, [out.buffer]);
});
`;

interface Op {
  record: Uint8Array;
  resolve(answer: Uint8Array): void;
}

/** What one op computes on whichever thread runs it; the main thread's fallback when the worker is gone. */
function runHere(lib: Libsecp256k1, keys: Map<number, Uint8Array>, r: Uint8Array): Uint8Array {
  const out = new Uint8Array(RES);
  try {
    if (r[0] === OP_VERIFY) {
      out[0] = lib.ecdsaVerify(r.subarray(1, 65), r.subarray(65, 97), r.subarray(98, 98 + r[97]!)) ? 1 : 0;
    } else {
      const key = keys.get(new DataView(r.buffer, r.byteOffset + 33, 4).getUint32(0, true));
      if (!key) return out;
      out.set(lib.ecdsaSign(r.subarray(1, 33), key).signature, 1);
      out[0] = 1;
    }
  } catch {
    out[0] = 0;
  }
  return out;
}

/**
 * libsecp256k1 on a worker thread: ES256K verifications and signatures leave the event loop, which then only parses,
 * routes and writes. On a verifier they are about a quarter of the main thread's time per presentation (the holder's
 * signature and the access token), which the second core can take. Operations are batched per event-loop turn (one
 * transferred buffer each way for all the requests that reached the same point in that turn), so the hop costs the
 * main thread a few microseconds per operation, not a message each.
 *
 * The worker holds the process open only while operations are pending. If it dies, the operations it had and all
 * later ones run on the main thread: same answers, only slower. `start()` returns undefined where libsecp256k1 does not
 * load (callers then use their synchronous paths).
 */
export class Secp256k1Worker {
  private readonly worker: Worker;
  private readonly lib: Libsecp256k1;
  /** Signing keys by id, also kept here for the fallback. */
  private readonly keys = new Map<number, Uint8Array>();
  private queue: Op[] = [];
  /** Batches sent, oldest first; answers come back in the same order. */
  private readonly inFlight: Op[][] = [];
  private scheduled = false;
  private pending = 0;
  private dead = false;
  /** Set by `close()`: new operations run here while the worker finishes what it has. */
  private closing = false;
  /** Called when the last pending operation is answered (while closing). */
  private drained: (() => void) | undefined;
  /** Operations run here because the worker was gone (for tests and metrics). */
  fallbacks = 0;

  private constructor(lib: Libsecp256k1, addon: string) {
    this.lib = lib;
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { addon, seed: new Uint8Array(randomBytes(32)) },
      // No inherited loaders (tsx): the worker is plain CommonJS and loads only the addon.
      execArgv: [],
    });
    this.worker.unref();
    this.worker.on('message', (buffer: ArrayBuffer) => this.answer(new Uint8Array(buffer)));
    this.worker.on('error', () => this.die());
    this.worker.on('exit', () => this.die());
  }

  /** A worker, or undefined without the libsecp256k1 addon. */
  static start(): Secp256k1Worker | undefined {
    if (!libsecp256k1) return undefined;
    let addon: string;
    try {
      addon = createRequire(import.meta.url).resolve('secp256k1/bindings.js');
    } catch {
      return undefined;
    }
    return new Secp256k1Worker(libsecp256k1, addon);
  }

  /** True for a valid low-s r‖s over the 32-byte digest under the SEC 1 point (33 or 65 bytes); false otherwise. */
  verify(signature: Uint8Array, digest: Uint8Array, point: Uint8Array): Promise<boolean> {
    if (signature.length !== 64 || digest.length !== 32 || (point.length !== 33 && point.length !== 65)) {
      return Promise.resolve(false);
    }
    const r = new Uint8Array(REQ);
    r[0] = OP_VERIFY;
    r.set(signature, 1);
    r.set(digest, 65);
    r[97] = point.length;
    r.set(point, 98);
    return this.submit(r).then((a) => a[0] === 1);
  }

  /** A signing function for one private key (registered with the worker once): RFC 6979 r‖s, low-s. */
  signer(seckey: Uint8Array): (digest: Uint8Array) => Promise<Uint8Array> {
    if (seckey.length !== 32) throw new RangeError('a secp256k1 private key is 32 bytes');
    const id = this.keys.size + 1;
    const key = new Uint8Array(seckey);
    this.keys.set(id, key);
    if (!this.dead) this.worker.postMessage({ key: id, seckey: key });
    return async (digest) => {
      if (digest.length !== 32) throw new RangeError('the digest is 32 bytes');
      const r = new Uint8Array(REQ);
      r[0] = OP_SIGN;
      r.set(digest, 1);
      new DataView(r.buffer).setUint32(33, id, true);
      const a = await this.submit(r);
      if (a[0] !== 1) throw new Error('libsecp256k1 could not sign with this key');
      return a.slice(1, 65);
    };
  }

  /**
   * Stop the worker: later operations run on the calling thread; the ones it has are answered first (up to 2 s).
   * Terminating it in the middle of a libsecp256k1 call aborts the whole process (the addon's C++ exception escapes
   * when its environment is torn down under it), which a test's teardown right after a verification once did.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.pending > 0 && !this.dead) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        timer.unref();
        this.drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    await this.worker.terminate();
    this.die();
  }

  private submit(record: Uint8Array): Promise<Uint8Array> {
    return new Promise((resolve) => {
      if (this.dead || this.closing) {
        this.fallbacks++;
        resolve(runHere(this.lib, this.keys, record));
        return;
      }
      this.queue.push({ record, resolve });
      if (this.pending++ === 0) this.worker.ref();
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const ops = this.queue;
    this.queue = [];
    if (ops.length === 0) return;
    if (this.dead) {
      this.settleHere(ops);
      return;
    }
    const buffer = new Uint8Array(ops.length * REQ);
    for (let i = 0; i < ops.length; i++) buffer.set(ops[i]!.record, i * REQ);
    this.inFlight.push(ops);
    this.worker.postMessage(buffer.buffer, [buffer.buffer]);
  }

  private answer(answers: Uint8Array): void {
    const ops = this.inFlight.shift();
    if (!ops) return;
    for (let i = 0; i < ops.length; i++) ops[i]!.resolve(answers.subarray(i * RES, (i + 1) * RES));
    this.done(ops.length);
  }

  private done(n: number): void {
    this.pending -= n;
    if (this.pending === 0 && !this.dead) this.worker.unref();
    if (this.pending === 0 && this.drained) {
      const drained = this.drained;
      this.drained = undefined;
      drained();
    }
  }

  private settleHere(ops: Op[]): void {
    for (const op of ops) {
      this.fallbacks++;
      op.resolve(runHere(this.lib, this.keys, op.record));
    }
    this.done(ops.length);
  }

  private die(): void {
    if (this.dead) return;
    this.dead = true;
    const ops = [...this.inFlight.flat(), ...this.queue];
    this.inFlight.length = 0;
    this.queue = [];
    this.settleHere(ops);
  }
}
