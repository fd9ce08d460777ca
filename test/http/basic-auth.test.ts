import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from '../../src/domain/errors.js';
import { parseBasicAuth } from '../../src/http/basic-auth.js';

const basic = (text: string | Buffer): string => `Basic ${Buffer.from(text).toString('base64')}`;

describe('Basic credentials', () => {
  it('reads each header alone: a short credential after a long one carries nothing of it', () => {
    expect(parseBasicAuth(basic(`ci-bot:${'x'.repeat(3000)}`))).toEqual({ username: 'ci-bot', password: 'x'.repeat(3000) });
    expect(parseBasicAuth(basic('al:pw'))).toEqual({ username: 'al', password: 'pw' });
  });

  it('reads a non-ASCII username as UTF-8, and refuses bytes that are not UTF-8 after an ASCII header', () => {
    expect(parseBasicAuth(basic('jürgen:pässwort'))).toEqual({ username: 'jürgen', password: 'pässwort' });
    expect(parseBasicAuth(basic('alice:secret'))).toEqual({ username: 'alice', password: 'secret' });
    expect(() => parseBasicAuth(basic(Buffer.from([0x61, 0x3a, 0xff])))).toThrow(new InvalidRequestError('Basic credentials are not valid UTF-8'));
  });
});
