import { upstreamSettings } from '../../src/upstream/upstream-settings.js';

/** The fields of upstreamSettings(), the fragment every backend that calls an upstream spreads in. */
export const UPSTREAM_FIELDS: readonly string[] = Object.keys(upstreamSettings().shape);

/**
 * A backend's parsed config without the upstream fields: its own settings, which its tests pin.
 * The upstream fields (defaults, bounds, which of them a backend has) are tested once, with every
 * backend's use of the fragment, in test/config/upstream-settings.test.ts.
 */
export function ownSettings(config: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).filter(([key]) => !UPSTREAM_FIELDS.includes(key)));
}
