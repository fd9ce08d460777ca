import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchedOutput } from '../../src/logging.js';

const opened: Array<{ fd: number; out?: BatchedOutput }> = [];
afterEach(() => {
  for (const { fd, out } of opened.splice(0)) {
    out?.close();
    fs.closeSync(fd);
  }
});

function fileOutput(options: ConstructorParameters<typeof BatchedOutput>[1] = {}) {
  const file = join(mkdtempSync(join(tmpdir(), 'wharf-log-')), 'out.log');
  const fd = fs.openSync(file, 'a');
  const out = new BatchedOutput(fd, options);
  opened.push({ fd, out });
  return { out, read: () => readFileSync(file, 'utf8') };
}

/** A FIFO in a fresh folder: a pipe to a log collector, as standard output often is. */
function newFifo(): string {
  const fifo = join(mkdtempSync(join(tmpdir(), 'wharf-fifo-')), 'log');
  execFileSync('mkfifo', [fifo]);
  return fifo;
}

/** Both ends of a new FIFO, opened without blocking. */
function openFifo(): { reader: number; writer: number } {
  const fifo = newFifo();
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  return { reader, writer: fs.openSync(fifo, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK) };
}

const flushed = (out: BatchedOutput) => new Promise<void>((resolve) => out.flush(() => resolve()));

describe('BatchedOutput (the process log on standard output)', () => {
  it('writes every line of a busy logger once, whole and in order', async () => {
    const { out, read } = fileOutput();
    const logger = pino({ base: { service: 'wharf' } }, out);
    for (let i = 0; i < 5000; i++) logger.info({ event: 'token_issued', n: i, account: `user-${i}` }, 'token issued');
    await flushed(out);
    const lines = read().trimEnd().split('\n').map((l) => JSON.parse(l) as { n: number; service: string });
    expect(lines.map((l) => l.n)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(lines.every((l) => l.service === 'wharf')).toBe(true);
  });

  it('writes a lone line on a quiet server within the flush interval, without being asked', async () => {
    const { out, read } = fileOutput({ flushEveryMs: 50 });
    out.write('{"msg":"alone"}\n');
    expect(read()).toBe('');
    await expect.poll(read, { timeout: 2000, interval: 20 }).toBe('{"msg":"alone"}\n');
  });

  it('flushSync (what runs at exit) writes what is pending before returning', () => {
    const { out, read } = fileOutput();
    out.write('{"msg":"one"}\n');
    out.write('{"msg":"two"}\n');
    out.flushSync();
    expect(read()).toBe('{"msg":"one"}\n{"msg":"two"}\n');
  });

  it('never splits a line when processes share one pipe (serve --workers, sharedPipe): writes are whole lines of at most PIPE_BUF', async () => {
    const fifo = newFifo();
    // Held open so that the writers' (blocking) opens return at once.
    const door = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const writers = [0, 1, 2].map(() => fs.openSync(fifo, 'w'));
    // A slow reader, as a log collector under load: the pipe fills and writers wait mid-write.
    const chunks: Buffer[] = [];
    const reader = fs.createReadStream(fifo, { highWaterMark: 512 });
    await new Promise((resolve) => reader.once('open', resolve));
    fs.closeSync(door);
    reader.on('data', (chunk) => {
      chunks.push(chunk as Buffer);
      reader.pause();
      setTimeout(() => reader.resume(), 1);
    });
    const ended = new Promise<void>((resolve) => reader.on('end', () => resolve()));
    const outs = writers.map((fd) => new BatchedOutput(fd, { sharedPipe: true }));
    outs.forEach((out, k) => opened.push({ fd: writers[k]!, out }));
    for (let i = 0; i < 1500; i++) for (const [k, out] of outs.entries()) out.write(`${JSON.stringify({ worker: k, n: i, msg: 'y'.repeat(150 + (i % 7) * 40) })}\n`);
    await Promise.all(outs.map((out) => flushed(out)));
    for (const { fd, out } of opened.splice(0)) {
      out?.close();
      fs.closeSync(fd);
    }
    await ended;
    const lines = Buffer.concat(chunks).toString('utf8').trimEnd().split('\n');
    expect(lines).toHaveLength(4500);
    const seen = lines.map((l) => JSON.parse(l) as { worker: number; n: number });
    for (const k of [0, 1, 2]) expect(seen.filter((l) => l.worker === k).map((l) => l.n)).toEqual(Array.from({ length: 1500 }, (_, i) => i));
  });

  it('keeps going when the reader goes away (EPIPE): no crash, and flush still answers', async () => {
    const { reader, writer } = openFifo();
    fs.closeSync(reader);
    const out = new BatchedOutput(writer, { batchBytes: 1024 });
    opened.push({ fd: writer, out });
    for (let i = 0; i < 100; i++) out.write(`${JSON.stringify({ msg: 'z'.repeat(100), i })}\n`);
    await expect(flushed(out)).resolves.toBeUndefined();
    out.write('{"msg":"later"}\n');
    await expect(flushed(out)).resolves.toBeUndefined();
  });

  it('keeps its memory bounded when the reader stops reading, and says how many lines it dropped', async () => {
    // A FIFO nobody reads from fills at the pipe's capacity, as stdout does when a log collector stalls.
    const { reader, writer } = openFifo();
    const out = new BatchedOutput(writer, { maxPendingBytes: 64 * 1024, flushEveryMs: 20 });
    opened.push({ fd: reader }, { fd: writer, out });
    const line = `${JSON.stringify({ msg: 'x'.repeat(200) })}\n`;
    for (let i = 0; i < 5000; i++) out.write(line); // ~1 MB: more than the pipe and the cap together
    await new Promise((r) => setTimeout(r, 100));
    let text = '';
    const buf = Buffer.alloc(1 << 16);
    const drain = () => {
      for (;;) {
        try {
          const n = fs.readSync(reader, buf, 0, buf.length, null);
          if (n === 0) return;
          text += buf.toString('utf8', 0, n);
        } catch {
          return; // EAGAIN: empty for now
        }
      }
    };
    await expect
      .poll(
        () => {
          drain();
          out.write(line); // later lines carry the notice out with them
          return text;
        },
        { timeout: 5000, interval: 20 },
      )
      .toMatch(/"msg":"(\d+) log lines dropped: the log output did not keep up"/);
    const dropped = Number(/"msg":"(\d+) log lines dropped/.exec(text)![1]);
    const kept = text.split('\n').filter((l) => l.includes('xxxx')).length;
    expect(dropped).toBeGreaterThan(1000);
    expect(kept).toBeLessThan(5000);
    // Whole lines only: a batch is never cut.
    for (const l of text.trimEnd().split('\n')) expect(() => JSON.parse(l)).not.toThrow();
  });
});
