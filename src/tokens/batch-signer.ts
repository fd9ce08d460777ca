import { sign } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { TemporarilyUnavailableError } from '../domain/errors.js';
import type { SigningKey } from '../keys/keys.js';

/**
 * The signing thread: signs each batch it is sent with the key named, and answers the batch in one
 * message. Inline CommonJS (`eval`), so the same code runs from `dist/` and from the TypeScript
 * sources under test. Keys arrive once per key with their `header.` bytes (a KeyObject is cloned
 * into the thread), and are dropped when the main thread says so (it keeps the last few: a rotation
 * retires the old key). Each key's header sits at the start of a buffer of the thread's own, and
 * each payload is written after it: the signing input is put together here, with no allocation per
 * signature but the signature, rather than on the main thread and sent.
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
    const header = Buffer.from(message.header, 'latin1');
    const input = Buffer.allocUnsafeSlow(header.length + 1024);
    header.copy(input);
    const options = message.ecdsa ? { key: message.key, dsaEncoding: 'ieee-p1363' } : message.key;
    keys.set(message.keyId, { options, headerLength: header.length, input });
    return;
  }
  const key = keys.get(message.keyId);
  const payloads = message.payloads;
  const signatures = new Array(payloads.length);
  let failures;
  for (let i = 0; i < payloads.length; i++) {
    try {
      const payload = payloads[i];
      const end = key.headerLength + payload.length;
      if (end > key.input.length) {
        const input = Buffer.allocUnsafeSlow(end + 1024);
        key.input.copy(input, 0, 0, key.headerLength);
        key.input = input;
      }
      key.input.write(payload, key.headerLength, 'latin1');
      signatures[i] = sign('sha256', key.input.subarray(0, end), key.options).toString('base64url');
    } catch (err) {
      signatures[i] = '';
      (failures ??= []).push(i, String(err && err.message));
    }
  }
  parentPort.postMessage({ id: message.id, signatures, failures });
});
`;

/**
 * Starts a signing thread. Small heaps: the thread holds a few keys and one batch of payloads at a
 * time. With V8's defaults it grew the process by 38 MB under load, 22 so.
 */
export function startSigningThread(): Worker {
  return new Worker(SIGNING_THREAD, { eval: true, resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16 } });
}

/**
 * Payloads a batch holds before it goes to the thread without waiting for the turn to end. A busy
 * turn decides some fifty token requests one after another (the turn queue), 30-40 µs each: sent
 * whole at the end, the first signature waited for all of them, and the event loop then waited,
 * idle, while the thread signed the whole batch. Sent eight at a time, the thread signs the first
 * ones while the rest are decided, and most of the signatures are there when the turn ends.
 */
const SEND_AT = 8;

/** Keys the signing thread holds at once: the current one and those rotated out moments ago. */
const KEYS_HELD = 4;

/**
 * A signing key and the `header.` its tokens start with (base64url and the dot: latin1 bytes), made
 * once per key. The thread is given both once, so a signature asks for no more than its payload.
 */
export interface KeyHeader {
  readonly key: SigningKey;
  readonly bytes: Buffer;
}

/**
 * A batch's answer: each signature in order, base64url (as the token carries it), and which failed:
 * index then why, in pairs (absent when none did).
 */
interface SignedBatch {
  id: number;
  signatures: string[];
  failures: (number | string)[] | undefined;
}

/** Payloads gathered in one turn of the event loop for one key, and their promises' ends. */
interface Batch {
  header: KeyHeader;
  payloads: string[];
  resolves: ((signature: string) => void)[];
  rejects: ((err: Error) => void)[];
}

/**
 * Signs tokens on a thread of its own, in batches: the signatures asked for in one turn of the
 * event loop go in messages of up to SEND_AT, the last when the turn ends, and each message comes
 * back in one. On the libuv pool (node:crypto's `sign` with a callback) each signature was a
 * hand-off of its own, a thread woken and the event loop woken back, which cost the event loop
 * about as much as the requests' own work on a busy 2-core machine (measured: 40-47 µs of
 * main-thread CPU per signed request on the pool, 30-36 µs in batches, and less CPU in all). A
 * fleet's new tokens come in bursts, one per connection served in the same turn, so batches form by
 * themselves under load, and a lone request waits for nothing but the turn to end.
 *
 * A signature is asked for by its payload alone, a string (cloned into the message with no
 * ArrayBuffer of its own), and answered as base64url text: the key's header (most of the signing
 * input, with its certificate chain) goes to the thread once per key. Sending each token's whole
 * `header.payload` as a buffer handed over cost the main thread a 2.5 KB backing store per token,
 * its transfer and its collection: minting distinct tokens 50 at a time took 8.5 µs of main-thread
 * CPU per token that way, 6.6 µs this way (and less CPU in all: the thread writes each payload
 * after the header in a buffer of its own, with no copy of the header per token).
 *
 * The thread is started on first use and again after it stops (a crash rejects the signatures
 * under way, which the requests answer as errors); it holds the process open only while signatures
 * are under way. Where no thread can be started, signatures go to the libuv pool as before, each
 * with header and payload joined there.
 */
export class BatchSigner {
  private worker: Worker | undefined;
  /** Keys this thread holds, by their id here, the latest last. */
  private given: number[] = [];
  private readonly keyIds = new WeakMap<KeyHeader, number>();
  private nextKeyId = 0;
  private nextBatchId = 0;
  private pending: Batch[] = [];
  /** The batch last asked into (a key's batches follow one another: it is nearly always this one). */
  private latest: Batch | undefined;
  private readonly underWay = new Map<number, Batch>();
  private flushing = false;
  /** Whether the thread holds the process open (batches under way or about to be sent). */
  private held = false;

  /** `startThread` is for tests: one that throws stands for a process that can start no thread. */
  constructor(private readonly startThread: () => Worker = startSigningThread) {}

  /**
   * The signature (base64url; ES256 in the JOSE form, r and s) of the header's bytes followed by
   * `payload` (base64url, ASCII), by the header's key.
   */
  sign(header: KeyHeader, payload: string): Promise<string> {
    let batch = this.latest;
    if (batch?.header !== header) {
      batch = this.pending.find((b) => b.header === header);
      if (batch === undefined) this.pending.push((batch = { header, payloads: [], resolves: [], rejects: [] }));
      this.latest = batch;
    }
    const into = batch;
    into.payloads.push(payload);
    const signature = new Promise<string>((resolve, reject) => {
      into.resolves.push(resolve);
      into.rejects.push(reject);
    });
    if (into.payloads.length === SEND_AT) {
      // Sent now, so the thread signs while the rest of the turn is decided (see SEND_AT).
      this.pending.splice(this.pending.indexOf(into), 1);
      this.latest = undefined;
      this.send(into);
    } else if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => this.flush());
    }
    return signature;
  }

  /**
   * Stops the thread; signatures under way are refused. A later signature starts a new one. The
   * refusal is a 503 (the server is shutting down; another replica, or this one restarted, will
   * answer): requests still waiting when the shutdown's grace ends were answered as bugs, a 500
   * and an error with its stack each.
   */
  async close(): Promise<void> {
    const worker = this.worker;
    if (worker === undefined) return;
    this.stopped(worker, new TemporarilyUnavailableError('the server is shutting down; try again', { retryAfterSeconds: 1 }));
    await worker.terminate();
  }

  private flush(): void {
    this.flushing = false;
    const batches = this.pending;
    this.pending = [];
    this.latest = undefined;
    for (const batch of batches) this.send(batch);
    // Nothing went to the thread after all (refused, or signed on the pool): let the process go.
    if (this.held && this.underWay.size === 0) this.release();
  }

  private send(batch: Batch): void {
    let worker: Worker;
    try {
      worker = this.thread();
    } catch {
      // No thread to be had (a resource limit): the pool signs, one hand-off per signature.
      for (let i = 0; i < batch.payloads.length; i++) void signOnPool(batch.header, batch.payloads[i]!).then(batch.resolves[i], batch.rejects[i]);
      return;
    }
    const header = batch.header;
    let keyId = this.keyIds.get(header);
    if (keyId === undefined) this.keyIds.set(header, (keyId = this.nextKeyId++));
    const id = this.nextBatchId++;
    try {
      if (!this.given.includes(keyId)) {
        worker.postMessage({ keyId, key: header.key.privateKey, ecdsa: header.key.alg === 'ES256', header: header.bytes.toString('latin1') });
        this.given.push(keyId);
        // A key dropped here is given again if it ever signs again, so the two sides never disagree.
        if (this.given.length > KEYS_HELD) worker.postMessage({ drop: this.given.shift() });
      }
      worker.postMessage({ id, keyId, payloads: batch.payloads });
    } catch (err) {
      for (const reject of batch.rejects) reject(new Error(`signing failed: ${(err as Error).message}`));
      return;
    }
    if (!this.held) {
      this.held = true;
      worker.ref();
    }
    this.underWay.set(id, batch);
  }

  private thread(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = this.startThread();
    worker.unref();
    worker.on('message', (answer: SignedBatch) => this.answered(answer));
    worker.on('error', (err) => this.stopped(worker, new Error(`the signing thread failed: ${err.message}`)));
    worker.on('exit', (code) => this.stopped(worker, new Error(`the signing thread exited with code ${code}`)));
    this.worker = worker;
    this.given = [];
    this.held = false;
    return worker;
  }

  private answered(answer: SignedBatch): void {
    const batch = this.underWay.get(answer.id);
    if (batch === undefined) return;
    this.underWay.delete(answer.id);
    // Kept while the next turn's batch is being gathered: under load the thread is never let go
    // and held again between two batches.
    if (this.underWay.size === 0 && !this.flushing) this.release();
    const { signatures, failures } = answer;
    const { resolves, rejects } = batch;
    if (failures !== undefined) {
      for (let f = 0; f < failures.length; f += 2) {
        const i = failures[f] as number;
        rejects[i]!(new Error(`signing failed: ${String(failures[f + 1])}`));
      }
    }
    for (let i = 0; i < resolves.length; i++) if (signatures[i] !== '') resolves[i]!(signatures[i]!);
  }

  /** The thread no longer holds the process open. */
  private release(): void {
    this.held = false;
    this.worker?.unref();
  }

  /** The thread is gone: what it was signing is refused (with `err` as it is), and the next batch starts another. */
  private stopped(worker: Worker, err: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.held = false;
    const waiting = [...this.underWay.values()];
    this.underWay.clear();
    for (const batch of waiting) for (const reject of batch.rejects) reject(err);
  }
}

/** One signature on the libuv pool (node:crypto's sign with a callback), of header and payload joined. */
function signOnPool(header: KeyHeader, payload: string): Promise<string> {
  // A buffer of its own, not a slice of Node's shared 8 KB pool, which the wait would keep alive.
  const input = Buffer.allocUnsafeSlow(header.bytes.length + payload.length);
  header.bytes.copy(input, 0);
  input.write(payload, header.bytes.length, 'latin1');
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, signature: Buffer) => (err ? reject(err) : resolve(signature.toString('base64url')));
    if (header.key.alg === 'ES256') sign('sha256', input, { key: header.key.privateKey, dsaEncoding: 'ieee-p1363' }, done);
    else sign('sha256', input, header.key.privateKey, done);
  });
}
