import { describe, expect, it } from 'vitest';
import { RefusalLog } from '../../src/logging/refusal-log.js';
import { captureLog } from '../support/log-capture.js';

function setup(options: { maxAddresses?: number } = {}) {
  let now = 1_800_000_000_000;
  const { logger, lines } = captureLog('info');
  const counted: string[] = [];
  const log = new RefusalLog({
    logger,
    ipv6PrefixLength: 64,
    now: () => now,
    count: (limit) => counted.push(limit),
    ...options,
  });
  return { log, lines, counted, advance: (seconds: number) => void (now += seconds * 1000) };
}

describe('RefusalLog', () => {
  it('writes the first three refusals of an address one by one, counts all 1,000, and summarises the rest in one line a minute', () => {
    const { log, lines, counted, advance } = setup();
    for (let i = 0; i < 1000; i++) log.record('203.0.113.9', 'ip', { event: 'token_denied', n: i }, 'refused');
    expect(lines.map((l) => l.n)).toEqual([0, 1, 2]);
    expect(counted).toHaveLength(1000);
    advance(61);
    log.roll();
    expect(lines).toHaveLength(4);
    expect(lines[3]).toMatchObject({ event: 'refusals_summarised', refused: 1000, summarised: 997, addresses: 1, byLimit: { ip: 1000 }, top: [{ address: '203.0.113.9', refused: 1000 }] });
    // A new minute: the address gets its first few lines again, and a quiet minute writes nothing.
    log.record('203.0.113.9', 'ip', { event: 'token_denied', n: 'again' }, 'refused');
    expect(lines[4]).toMatchObject({ n: 'again' });
    advance(61);
    log.roll();
    expect(lines).toHaveLength(5);
  });

  it('counts the addresses of one IPv6 /64 as one', () => {
    const { log, lines } = setup();
    for (let i = 1; i <= 60; i++) log.record(`2001:db8:1:2::${i.toString(16)}`, 'account', { n: i }, 'refused');
    expect(lines).toHaveLength(3);
  });

  it('never tracks more addresses than its bound: a newcomer past it is only summarised', () => {
    const { log, lines, counted, advance } = setup({ maxAddresses: 2 });
    for (const ip of ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.0.0.4']) log.record(ip, 'device_starts', { ip }, 'refused');
    expect(lines.map((l) => l.ip)).toEqual(['10.0.0.1', '10.0.0.2']);
    expect(counted).toHaveLength(4);
    advance(60);
    log.roll();
    expect(lines[2]).toMatchObject({ event: 'refusals_summarised', refused: 4, summarised: 2, addresses: 2, untrackedRefusals: 2 });
  });
});
