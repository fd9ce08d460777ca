/** What /readyz reports. `degraded` still answers 200: the service works, with less cache or fewer upstreams. */
export interface Readiness {
  status: 'ready' | 'degraded';
  /** One line per dependency: `ok`, `unreachable …`, `circuit open`… */
  checks: Record<string, string>;
}
