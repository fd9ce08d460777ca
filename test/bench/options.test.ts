import { describe, expect, it } from 'vitest';

// The benchmark's command line is what CI (`npm run bench -- --quick`) and bench/README.md rely on.
// The parser is imported rather than run: a parser that let a bad option through would start a
// whole benchmark here.
interface Parsed {
  help: boolean;
  settings: Record<string, unknown>;
  selected: Set<number>;
  profileScenario: number;
  profileAllocations: string | undefined;
  nodeFlags: string[];
  keepLogs: boolean;
}
const optionsUrl = new URL('../../bench/options.mjs', import.meta.url).href;
const { parseOptions } = (await import(optionsUrl)) as { parseOptions: (args: string[]) => Parsed };

describe('npm run bench options', () => {
  it('--quick: 3 s passes after 1 s of warm-up, scenarios 1 to 9, no waiting for quiet and no retries', () => {
    const { settings, selected } = parseOptions(['--quick']);
    expect(settings).toMatchObject({ mode: 'quick', durationS: 3, warmupS: 1, connections: 50, waitQuietS: 0, retryNoisy: 0 });
    expect([...selected]).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a full run has 20 s passes and scenario 10; --scenarios picks, --node-flags splits', () => {
    const full = parseOptions([]);
    expect(full.settings).toMatchObject({ mode: 'full', durationS: 20, warmupS: 5, waitQuietS: 20, retryNoisy: 1 });
    expect(full.selected.has(10)).toBe(true);
    const picked = parseOptions(['--quick', '--scenarios', ' 9, 1 ', '--node-flags= --max-semi-space-size=16  --trace-gc ']);
    expect([...picked.selected]).toEqual([9, 1]);
    expect(picked.nodeFlags).toEqual(['--max-semi-space-size=16', '--trace-gc']);
  });

  it('--profile-allocations alone means a profile run', () => {
    const parsed = parseOptions(['--profile-allocations', 'promoted', '--profile-scenario', '9']);
    expect(parsed.settings.mode).toBe('profile');
    expect(parsed).toMatchObject({ profileScenario: 9, profileAllocations: 'promoted' });
  });

  it.each([
    [['--scenarios', '13'], '--scenarios takes ids from 1 to 12, got "13"'],
    [['--scenarios', ','], '--scenarios takes ids from 1 to 12, got ","'],
    [['--quick', '--duration', '0'], '--duration must be a number >= 1, got "0"'],
    [['--herd-size', '1'], '--herd-size must be a number >= 2, got "1"'],
    [['--profile', '--profile-allocations', 'sometimes'], '--profile-allocations takes all or promoted, got "sometimes"'],
  ])('%j is refused, saying which option and why', (args, message) => {
    expect(() => parseOptions(args)).toThrow(message);
  });
});
