import { ADMIT_WHEN_FULL } from '../cache/scan-resistant.js';

/** Slots per set: a newcomer competes only with the tokens whose digest falls in the same set. */
const WAYS = 8;

// A slot's fields: the digest of the reuse text (4 words), the token's iat, the second its reuse
// window ends (rounded up), then by byte offset the jti's 16 bytes and the signature as the
// algorithm gives it. Words are read and written through one Uint32Array view, in the platform's
// byte order on both sides, and a slot is a whole number of words.
const IAT_WORD = 4;
const UNTIL_WORD = 5;
const JTI = 24;
const SIGNATURE = 40;

/** A hex digit's value by its char code (a jti is lowercase hex). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;


/**
 * Tokens minted recently, for the minter to hand out again: a fixed table in one Buffer, off the
 * V8 heap, so it is nothing for the garbage collector to walk (the LRU of strings it replaces put
 * two strings and a slot per token in the old generation, which every full GC went through). A
 * token is a slot of 40 bytes plus its signature (104 for ES256): 16 MiB hold some 161,000.
 *
 * Set-associative, 8 slots a set chosen by the digest. A newcomer takes the slot of the same
 * digest (a new token replaces the old one), else a slot whose reuse window is over (or was never
 * used), else, one newcomer in eight, the slot of the oldest token in the set. Why not always the
 * oldest: a fleet going round more (subject, access) pairs than the table holds would then evict,
 * in each set, the token minted longest ago, which is the one its round asks for next (FIFO on a
 * loop): every request would sign. Turning most newcomers away keeps what a full set holds until
 * its windows end, so such a round is reused for about the share of it the table holds, and a new
 * fleet still moves in: in at most one reuse window, as the old fleet's tokens stop being usable,
 * and sooner through the eighth.
 */
export class ReuseTable {
  private readonly table: Buffer;
  private readonly words: Uint32Array;
  private slotBytes = 0;
  private slotWords = 0;
  private sets = 0;
  private signatureBytes = -1;
  // The digest `find` was last given, as words (`store` finds its digest before it writes).
  private d0 = 0;
  private d1 = 0;
  private d2 = 0;
  private d3 = 0;

  constructor(bytes: number) {
    // Zeroed: an unused slot reads as a window that ended at 0. The pages are the kernel's
    // zero pages until a token is written to them, so RSS grows with use, up to `bytes`.
    this.table = Buffer.alloc(Math.max(0, Math.floor(bytes / 4) * 4));
    this.words = new Uint32Array(this.table.buffer, this.table.byteOffset, this.table.length / 4);
  }

  /** Bytes the table takes (what it was given; the layout may leave less than a slot unused). */
  get bytes(): number {
    return this.table.length;
  }

  /**
   * Lays the table out for signatures of this length, emptying it if they had another (a key of
   * another size: its tokens name the old key, and none of them may be handed out again anyway).
   */
  useSignatureBytes(signatureBytes: number): void {
    if (signatureBytes === this.signatureBytes) return;
    // Zeroing a table never written would commit every page of it at once.
    if (this.signatureBytes !== -1) this.table.fill(0);
    this.signatureBytes = signatureBytes;
    this.slotBytes = slotBytesFor(signatureBytes);
    this.slotWords = this.slotBytes / 4;
    this.sets = Math.floor(this.table.length / (WAYS * this.slotBytes));
  }

  /**
   * The slot holding this digest, or -1. `digest` is a hash's latin1 ('binary') text, one char a
   * byte: a string from the hash costs a third of a Buffer. Its first 16 bytes are compared.
   */
  find(digest: string): number {
    if (this.sets === 0) return -1;
    const d0 = (this.d0 = wordAt(digest, 0));
    const d1 = (this.d1 = wordAt(digest, 4));
    const d2 = (this.d2 = wordAt(digest, 8));
    const d3 = (this.d3 = wordAt(digest, 12));
    const w = this.words;
    let slot = (d0 % this.sets) * WAYS;
    for (let way = 0, at = slot * this.slotWords; way < WAYS; way++, slot++, at += this.slotWords) {
      if (w[at] === d0 && w[at + 1] === d1 && w[at + 2] === d2 && w[at + 3] === d3) return slot;
    }
    return -1;
  }

  /** The token's `iat` in a slot from `find`. */
  iat(slot: number): number {
    return this.words[slot * this.slotWords + IAT_WORD]!;
  }

  /** The token's jti in a slot from `find`, as the UUID text it was minted with. */
  jti(slot: number): string {
    const at = slot * this.slotBytes + JTI;
    const hex = this.table.toString('hex', at, at + 16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** The token's signature in a slot from `find`, base64url as the token carries it. */
  signature(slot: number): string {
    const at = slot * this.slotBytes + SIGNATURE;
    return this.table.toString('base64url', at, at + this.signatureBytes);
  }

  /**
   * Keeps a new token (unless its set is full of tokens still in their window and it is not let
   * in). `jti` is a UUID's text; `reuseUntil` the second its reuse window ends, rounded up;
   * `signature` base64url, as the token carries it (and the signer gives it).
   */
  store(digest: string, iat: number, reuseUntil: number, jti: string, signature: string, nowSeconds: number): void {
    // A signature of another length was made by a key the table is not laid out for (the key
    // changed while this one was signing): it could not be handed out again anyway.
    if (this.sets === 0 || signature.length !== Math.ceil((this.signatureBytes * 4) / 3)) return;
    let slot = this.find(digest);
    if (slot < 0) slot = this.victim(nowSeconds);
    if (slot < 0) return;
    const w = this.words;
    const at = slot * this.slotWords;
    w[at] = this.d0;
    w[at + 1] = this.d1;
    w[at + 2] = this.d2;
    w[at + 3] = this.d3;
    w[at + IAT_WORD] = iat;
    w[at + UNTIL_WORD] = reuseUntil;
    // Read straight from the UUID's text: dropping its dashes first was a string per token, and
    // with the hex write, 3-4 times the cost.
    const table = this.table;
    for (let c = 0, b = slot * this.slotBytes + JTI; c < 36; c += 2) {
      if (c === 8 || c === 13 || c === 18 || c === 23) c++;
      table[b++] = (HEX_VALUE[jti.charCodeAt(c)]! << 4) | HEX_VALUE[jti.charCodeAt(c + 1)]!;
    }
    this.table.write(signature, slot * this.slotBytes + SIGNATURE, this.signatureBytes, 'base64url');
  }

  /** The slot a newcomer to the set of the digest last found takes, or -1 when it is turned away. */
  private victim(nowSeconds: number): number {
    const w = this.words;
    const first = (this.d0 % this.sets) * WAYS;
    let oldest = first;
    for (let way = 0, slot = first; way < WAYS; way++, slot++) {
      const at = slot * this.slotWords;
      if (w[at + UNTIL_WORD]! <= nowSeconds) return slot;
      if (w[at + IAT_WORD]! < w[oldest * this.slotWords + IAT_WORD]!) oldest = slot;
    }
    // A set whose every token may still be reused takes in the share a full cache does.
    return Math.random() < ADMIT_WHEN_FULL ? oldest : -1;
  }
}

/** Four chars of a latin1 string as one unsigned word, the first char lowest. */
function wordAt(text: string, at: number): number {
  return (text.charCodeAt(at) | (text.charCodeAt(at + 1) << 8) | (text.charCodeAt(at + 2) << 16) | (text.charCodeAt(at + 3) << 24)) >>> 0;
}

/** Bytes of a slot: the fixed fields, then the signature rounded up to whole words. */
function slotBytesFor(signatureBytes: number): number {
  return SIGNATURE + Math.ceil(signatureBytes / 4) * 4;
}
