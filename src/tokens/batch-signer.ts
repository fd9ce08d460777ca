import { sign } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { SigningKey } from '../keys/keys.js';

/**
 * The signing thread: signs each batch it is sent with the key named, and answers the batch in one
 * message. Inline CommonJS (`eval`), so the same code runs from `dist/` and from the TypeScript
 * sources under test. Keys arrive once per key (a KeyObject is cloned into the thread), and are
 * dropped when the main thread says so (it keeps the last few: a rotation retires the old key).
 */
const SIGNING_THREAD = `
const { parentPort } = require('node:worker_threads');
const { sign } = require('node:crypto');
const keys = new Map();
parentPort.on('message', (message) => {
  if (message.drop !== undefined) {
    keys.delete(message.drop);
    return;
  }
  if (message.key !== undefined) {
    keys.set(message.keyId, message);
    return;
  }
  const key = keys.get(message.keyId);
  const signatures = message.inputs.map((input) => {
    try {
      return key.ecdsa ? sign('sha256', input, { key: key.key, dsaEncoding: 'ieee-p1363' }) : sign('sha256', input, key.key);
    } catch (err) {
      return String(err && err.message);
    }
  });
  // All signatures in one buffer, handed over rather than copied.
  let size = 0;
  for (const s of signatures) if (typeof s !== 'string') size += s.length;
  const packed = new Uint8Array(size);
  let at = 0;
  const lengths = signatures.map((s) => {
    if (typeof s === 'string') return s;
    packed.set(s, at);
    at += s.length;
    return s.length;
  });
  parentPort.postMessage({ id: message.id, packed, lengths }, [packed.buffer]);
});
`;

/** Keys the signing thread holds at once: the current one and those rotated out moments ago. */
const KEYS_HELD = 4;

/** Signatures waiting for their batch's answer. */
interface Waiter {
  resolve: (signature: Buffer) => void;
  reject: (err: Error) => void;
}

/** A batch's answer: its signatures end to end in `packed`, each one's length (or why it failed) in order. */
interface SignedBatch {
  id: number;
  packed: Uint8Array;
  lengths: (number | string)[];
}

/** Inputs gathered in one turn of the event loop for one key. */
interface Batch {
  key: SigningKey;
  inputs: Buffer[];
  waiters: Waiter[];
}

/**
 * Signs tokens on a thread of its own, in batches: every signature asked for in one turn of the
 * event loop goes in one message, and comes back in one. On the libuv pool (node:crypto's `sign`
 * with a callback) each signature was a hand-off of its own, a thread woken and the event loop
 * woken back, which cost the event loop about as much as the requests' own work on a busy 2-core
 * machine (measured: 40-47 µs of main-thread CPU per signed request on the pool, 30-36 µs in
 * batches, and less CPU in all). A fleet's new tokens come in bursts, one per connection served in
 * the same turn, so batches form by themselves under load, and a lone request waits for nothing
 * but the turn to end.
 *
 * The thread is started on first use and again after it stops (a crash rejects the signatures
 * under way, which the requests answer as errors); it holds the process open only while a batch is
 * under way. Where no thread can be started, signatures go to the libuv pool as before.
 */
export class BatchSigner {
  private worker: Worker | undefined;
  /** Keys this thread holds, by their id here, the latest last. */
  private given: number[] = [];
  private readonly keyIds = new WeakMap<SigningKey, number>();
  private nextKeyId = 0;
  private nextBatchId = 0;
  private pending: Batch[] = [];
  private readonly underWay = new Map<number, Waiter[]>();
  private flushing = false;

  /**
   * The signature of `input` by `key` (ES256 in the JOSE form, r and s). An input that is a buffer
   * of its own is handed over to the signing thread: the caller must not use it afterwards.
   */
  sign(input: Buffer, key: SigningKey): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      let batch = this.pending.find((b) => b.key === key);
      if (batch === undefined) this.pending.push((batch = { key, inputs: [], waiters: [] }));
      batch.inputs.push(input);
      batch.waiters.push({ resolve, reject });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Stops the thread; signatures under way are refused. A later signature starts a new one. */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    this.stopped(worker, new Error('the signing thread was stopped'));
    await worker.terminate();
  }

  private flush(): void {
    this.flushing = false;
    const batches = this.pending;
    this.pending = [];
    for (const batch of batches) this.send(batch);
  }

  private send(batch: Batch): void {
    let worker: Worker;
    try {
      worker = this.thread();
    } catch {
      // No thread to be had (a resource limit): the pool signs, one hand-off per signature.
      for (let i = 0; i < batch.inputs.length; i++) void signOnPool(batch.inputs[i]!, batch.key).then(batch.waiters[i]!.resolve, batch.waiters[i]!.reject);
      return;
    }
    let keyId = this.keyIds.get(batch.key);
    if (keyId === undefined) this.keyIds.set(batch.key, (keyId = this.nextKeyId++));
    if (!this.given.includes(keyId)) {
      worker.postMessage({ keyId, key: batch.key.privateKey, ecdsa: batch.key.alg === 'ES256' });
      this.given.push(keyId);
      // A key dropped here is given again if it ever signs again, so the two sides never disagree.
      if (this.given.length > KEYS_HELD) worker.postMessage({ drop: this.given.shift() });
    }
    const id = this.nextBatchId++;
    // Handed over, not copied, where an input is a buffer of its own (the minter's signingInput); a
    // slice of Node's shared pool is copied (handing it over would take the whole pool away).
    const own = new Set<ArrayBuffer>();
    const inputs: Buffer[] = [];
    const waiters: Waiter[] = [];
    for (let i = 0; i < batch.inputs.length; i++) {
      const input = batch.inputs[i]!;
      // Detached: handed over before, its bytes are gone (signing what is left would sign nothing).
      if (input.buffer.byteLength === 0 && input.byteLength === 0) {
        batch.waiters[i]!.reject(new Error('signing failed: the input was already handed over'));
        continue;
      }
      if (input.byteOffset === 0 && input.byteLength === input.buffer.byteLength && input.buffer instanceof ArrayBuffer) own.add(input.buffer);
      inputs.push(input);
      waiters.push(batch.waiters[i]!);
    }
    if (inputs.length === 0) return;
    try {
      worker.postMessage({ id, keyId, inputs }, [...own]);
    } catch (err) {
      for (const waiter of waiters) waiter.reject(new Error(`signing failed: ${(err as Error).message}`));
      return;
    }
    if (this.underWay.size === 0) worker.ref();
    this.underWay.set(id, waiters);
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    // Small heaps: the thread holds a few keys and one batch at a time (its inputs are handed over
    // as external memory). With V8's defaults it grew the process by 38 MB under load, 22 so.
    const worker = new Worker(SIGNING_THREAD, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } });
    worker.unref();
    worker.on('message', (answer: SignedBatch) => this.answered(worker, answer));
    worker.on('error', (err) => this.stopped(worker, new Error(`the signing thread failed: ${err.message}`)));
    worker.on('exit', (code) => this.stopped(worker, new Error(`the signing thread exited with code ${code}`)));
    this.worker = worker;
    this.given = [];
    return worker;
  }

  private answered(worker: Worker, answer: SignedBatch): void {
    const waiters = this.underWay.get(answer.id);
    if (waiters === undefined) return;
    this.underWay.delete(answer.id);
    if (this.underWay.size === 0) worker.unref();
    const packed = Buffer.from(answer.packed.buffer, answer.packed.byteOffset, answer.packed.byteLength);
    let at = 0;
    for (let i = 0; i < waiters.length; i++) {
      const length = answer.lengths[i]!;
      if (typeof length === 'string') {
        waiters[i]!.reject(new Error(`signing failed: ${length}`));
        continue;
      }
      waiters[i]!.resolve(packed.subarray(at, at + length));
      at += length;
    }
  }

  /** The thread is gone: what it was signing is refused, and the next batch starts another. */
  private stopped(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    const waiting = [...this.underWay.values()];
    this.underWay.clear();
    for (const waiters of waiting) for (const w of waiters) w.reject(err);
  }
}

/** One signature on the libuv pool (node:crypto's sign with a callback). */
function signOnPool(input: Buffer, key: SigningKey): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, signature: Buffer) => (err ? reject(err) : resolve(signature));
    if (key.alg === 'ES256') sign('sha256', input, { key: key.privateKey, dsaEncoding: 'ieee-p1363' }, done);
    else sign('sha256', input, key.privateKey, done);
  });
}
