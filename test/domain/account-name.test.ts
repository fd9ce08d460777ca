import { describe, expect, it } from 'vitest';
import { parseAccountTemplate } from '../../src/authn/oidc-token/account-template.js';
import { staticAuthnSchema } from '../../src/authn/static/static-config.js';
import { deriveAccountName } from '../../src/domain/account-name.js';

// Unicode case folding maps some non-ASCII letters onto ASCII ones, so a name crafted at an IdP
// could claim someone's ASCII account: refused before anything is folded.
const LOOK_ALIKES = [
  ['\u212Aevin', 'U+212A'], // KELVIN SIGN: lower-cases to "k"
  ['ali\u017Fe', 'U+017F'], // LONG S: upper-cases to "S", matches "s" case-insensitively
  ['\u0130van', 'U+0130'], // İ: lower-cases to "i" + COMBINING DOT ABOVE
  ['\uFF4Bevin', 'U+FF4B'], // FULLWIDTH k: NFKC gives "k"
  ['\u0131van', 'U+0131'], // dotless ı: upper-cases to "I"
] as const;

/** The refusal of a value named `what` holding `codePoint` (`U+212A`). */
const refusal = (what: string, codePoint: string) => expect.stringMatching(new RegExp(`^${what} ".*" holds ${codePoint.replace('+', '\\+')}: account names must be ASCII$`));

describe('account names from outside input', () => {
  it.each(LOOK_ALIKES)('refuse %s, naming %s, instead of folding it onto an ASCII name', (raw, codePoint) => {
    for (const transform of ['lowercase', 'email-local-part'] as const) {
      const derived = deriveAccountName(transform === 'lowercase' ? raw : `${raw}@example.org`, transform, 'the "email" claim');
      expect(derived).toEqual({ error: refusal('the "email" claim', codePoint) });
    }
  });

  it('shows the refused character escaped, since it prints like its ASCII look-alike', () => {
    expect(deriveAccountName('\u212Aevin', 'lowercase', 'GitHub login')).toEqual({ error: 'GitHub login "\\u212Aevin" holds U+212A: account names must be ASCII' });
  });

  it('still lower-cases ASCII names', () => {
    expect(deriveAccountName('Kevin', 'lowercase')).toEqual({ account: 'kevin' });
    expect(deriveAccountName('Kevin.Smith@Example.org', 'email-local-part')).toEqual({ account: 'kevin.smith' });
  });

  it('refuse a non-ASCII claim in an oidc-token account template, and keep lower-casing ASCII ones', () => {
    const template = parseAccountTemplate('gh-${repository_owner}');
    for (const [raw, codePoint] of LOOK_ALIKES) {
      expect(template.render({ repository_owner: raw })).toEqual({ error: refusal('claim "repository_owner" used in the account template', codePoint) });
    }
    expect(template.render({ repository_owner: 'Kevin' })).toEqual({ account: 'gh-kevin' });
  });

  it('report a static user name with a non-ASCII character as such in the config check', () => {
    const hash = `$2b$04$${'a'.repeat(53)}`;
    const parsed = staticAuthnSchema.safeParse({ type: 'static', users: { '\u212Aevin': { passwordHash: hash }, kevin: { passwordHash: hash } } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path, i.message])).toEqual([[['users', '\u212Aevin'], 'the user name "\\u212Aevin" holds U+212A: account names must be ASCII']]);
  });
});
