import diagnosticsChannel from 'node:diagnostics_channel';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { logSerialized } from '../../src/logging.js';
import { captureLog } from '../support/log-capture.js';

/** A line with its time set to 0, for comparing two lines written a millisecond apart. */
const timeless = (line: string) => line.replace(/"time":\d+/, '"time":0');

/** Fields as an audit line has them: nested arrays of objects, text that needs escaping, an absent field. */
const fields = {
  event: 'token_issued',
  account: 'ü"x\\y',
  clientId: undefined,
  clientIp: '2001:db8::1',
  requested: ['repository:a/b:pull', 'repository(plugin):c/d:pull,push'],
  decisions: [{ scope: 'repository:a/b:pull', granted: ['pull'], source: 'webhook', reason: 'a "reason"\twith\u0001control ☃' }],
  count: 3,
  ratio: Number.NaN,
  reused: false,
  msg: 'token issued',
};

describe('logSerialized (lines whose fields are serialised at once)', () => {
  it('writes the line pino writes for the same fields, byte for byte, after the bindings', () => {
    const log = captureLog('info');
    const logger = log.logger.child({ component: 'token' });
    logger.info(fields);
    logSerialized(logger, 'info', fields);
    const [byPino, serialized] = log.text().split('\n');
    expect(timeless(serialized!)).toBe(timeless(byPino!));
    expect(log.lines[1]).toMatchObject({ level: 30, service: 'wharf', component: 'token', event: 'token_issued', account: 'ü"x\\y', ratio: null, msg: 'token issued' });
    expect(Object.keys(log.lines[1]!)).toEqual(['level', 'time', 'service', 'component', 'event', 'account', 'clientIp', 'requested', 'decisions', 'count', 'ratio', 'reused', 'msg']);
  });

  it('writes nothing below the logger level, and leaves nothing behind for the next line', () => {
    const log = captureLog('warn');
    logSerialized(log.logger, 'info', fields);
    expect(log.text()).toBe('');
    log.logger.warn({ event: 'other' }, 'next');
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).not.toHaveProperty('account');
    logSerialized(log.logger, 'warn', { event: 'warned', msg: 'at warn' });
    expect(log.events('warned')).toHaveLength(1);
  });

  it('censors what the process logger censors, and serialises errors as it does', () => {
    const log = captureLog('info');
    logSerialized(log.logger, 'info', { event: 'oops', token: 'eyJsecret', password: 'hunter2', msg: 'careless' });
    expect(log.text()).not.toMatch(/eyJsecret|hunter2/);
    expect(log.events('oops')[0]).toMatchObject({ token: '[redacted]', password: '[redacted]' });
    // An error keeps what pino's serializer makes of it (JSON.stringify would make it `{}`).
    logSerialized(log.logger, 'info', { event: 'failed', err: new Error('it broke'), msg: 'failed' });
    expect(log.events('failed')[0]!.err).toMatchObject({ type: 'Error', message: 'it broke', stack: expect.stringContaining('it broke') });
  });

  it('writes the line pino writes through children with their own level, a `$` in a binding, or a log formatter', () => {
    const log = captureLog('info');
    const chatty = log.logger.child({ component: "a$&b$'c$$d$1" }, { level: 'debug' });
    const formatted = log.logger.child({ component: 'token' }, { formatters: { log: (o: object) => ({ ...o, formatted: true }) } });
    for (const [logger, level] of [[chatty, 'debug'], [chatty, 'warn'], [formatted, 'info']] as const) {
      log.clear();
      logger[level](fields);
      logSerialized(logger, level, fields);
      const [byPino, serialized] = log.text().split('\n');
      expect(timeless(serialized!)).toBe(timeless(byPino!));
    }
    expect(log.lines[1]).toMatchObject({ component: 'token', event: 'token_issued', formatted: true });
  });

  it('lets a tracer subscribed to pino see the line being made', () => {
    const log = captureLog('info');
    const seen: unknown[] = [];
    const tracer = { start: (message: unknown) => seen.push(message), end: () => {}, asyncStart: () => {}, asyncEnd: () => {}, error: () => {} };
    const tracing = diagnosticsChannel.tracingChannel('pino_asJson');
    tracing.subscribe(tracer);
    try {
      logSerialized(log.logger, 'info', fields);
    } finally {
      tracing.unsubscribe(tracer);
    }
    expect(seen).toHaveLength(1);
    expect(log.events('token_issued')).toHaveLength(1);
  });

  it('writes the same line through a logger made elsewhere', () => {
    let text = '';
    const logger = pino({ base: { service: 'wharf' } }, { write: (line: string) => (text += line) });
    logger.info(fields);
    logSerialized(logger, 'info', fields);
    const [byPino, serialized] = text.split('\n');
    expect(timeless(serialized!)).toBe(timeless(byPino!));
  });
});
