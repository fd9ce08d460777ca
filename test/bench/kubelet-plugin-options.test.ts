import { describe, expect, it } from 'vitest';

// `npm run bench:plugin`'s command line; imported, not run, so a bad option never starts a run.
interface Parsed {
  help: boolean;
  runs: number;
  warmup: number;
  tls: boolean;
  url: string | undefined;
  request: string | undefined;
  caFile: string | undefined;
}
const optionsUrl = new URL('../../bench/kubelet-plugin.mjs', import.meta.url).href;
const { parsePluginOptions } = (await import(optionsUrl)) as { parsePluginOptions: (args: string[]) => Parsed };

describe('npm run bench:plugin options', () => {
  it('defaults to 40 runs after 5 warm-ups against the built-in stand-in; --quick to 10 after 2', () => {
    expect(parsePluginOptions([])).toMatchObject({ runs: 40, warmup: 5, tls: false, url: undefined });
    expect(parsePluginOptions(['--quick'])).toMatchObject({ runs: 10, warmup: 2 });
    expect(parsePluginOptions(['--quick', '--runs', '7', '--tls'])).toMatchObject({ runs: 7, warmup: 2, tls: true });
  });

  it('switches to a real Wharf with --url and the request to send', () => {
    expect(parsePluginOptions(['--url', 'https://wharf.example', '--request', 'req.json', '--ca-file', 'ca.pem'])).toMatchObject({ url: 'https://wharf.example', request: 'req.json', caFile: 'ca.pem' });
  });

  it.each([
    [['--runs', '0'], /--runs must be a whole number >= 1/],
    [['--warmup', '1.5'], /--warmup must be a whole number >= 0/],
    [['--url', 'https://wharf.example'], /--url and --request go together/],
    [['--ca-file', 'ca.pem'], /--ca-file is for --url/],
    [['--tls', '--url', 'https://wharf.example', '--request', 'r.json'], /--tls is for the stand-in/],
  ])('refuses %j', (args, message) => {
    expect(() => parsePluginOptions(args)).toThrow(message);
  });
});
