import type { Logger } from 'pino';
import { commandEnvironment, runBoundedCommand } from '../../upstream/command-runner.js';
import { CommandBusyError, CommandSlots } from '../../upstream/command-slots.js';
import type { Cache } from '../../cache/cache.js';
import { keyedHash } from '../../cache/keyed-hash.js';
import { formatScope, type Scope } from '../../domain/scope.js';
import { CircuitBreaker, type CircuitState } from '../../upstream/circuit-breaker.js';
import { SingleFlight } from '../../upstream/single-flight.js';
import { DecisionCache } from '../decision-cache.js';
import { decisionFor, decisionRequest, indexDecisions } from '../decision-protocol.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../authorizer.js';
import type { CommandAuthzConfig } from './command-authz-config.js';
import { commandAuthzAnswerSchema, type CommandAuthzAnswer } from './command-authz-protocol.js';

/** What the command authorizer needs besides its config (the registry's RemoteAuthorizerDeps fit). */
export interface CommandAuthorizerDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  now?: () => number;
  /** Per-account generation in every cache key, so invalidation orphans cached decisions. Default `0`. */
  generation?: (account: string) => Promise<string>;
}

type Answers = ReadonlyMap<string, CommandAuthzAnswer['decisions'][number]>;
type RunOutcome = { kind: 'answered'; decisions: Answers; ttlSeconds: number } | { kind: 'unavailable'; why: string };

/**
 * Asks a local program which actions are allowed per scope (the webhook contract over
 * stdin/stdout). One run per token request for all uncached scopes, bounded in time and number,
 * behind a circuit breaker. Fails closed: with no usable answer every pending scope is
 * `unavailable` (granted nothing, unmatched, so a combined authorizer may still ask the ACL).
 */
export class CommandAuthorizer implements Authorizer {
  private readonly slots: CommandSlots;
  private readonly breaker: CircuitBreaker;
  private readonly flights = new SingleFlight<RunOutcome>();
  private readonly env: Record<string, string>;
  private readonly decisions: DecisionCache;
  private readonly log: Logger;

  constructor(
    private readonly config: CommandAuthzConfig,
    private readonly deps: CommandAuthorizerDeps,
  ) {
    this.slots = new CommandSlots(config.maxConcurrent, config.maxQueued);
    this.breaker = new CircuitBreaker({ failureThreshold: config.failureThreshold, openMs: config.openSeconds * 1000, ...(deps.now ? { now: deps.now } : {}) });
    this.env = commandEnvironment(config.env);
    this.log = deps.logger.child({ authorizer: 'command', program: config.command[0] });
    this.decisions = new DecisionCache(deps.generation ? { cache: deps.cache, hashKey: deps.hashKey, logger: this.log, generation: deps.generation } : { cache: deps.cache, hashKey: deps.hashKey, logger: this.log }, 'authz-command', JSON.stringify(this.config.command), 'command');
  }

  /** State of the circuit in front of the command, for readiness. */
  circuitState(): CircuitState {
    return this.breaker.state();
  }

  async authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    const account = request.identity?.account ?? '';
    const generation = await this.decisions.generationOf(account);
    const attributes = safeJson(request.identity?.attributes ?? null);
    const keys = generation === undefined || attributes === undefined ? undefined : request.scopes.map((s) => this.decisions.key(request, account, generation, s, attributes));
    const decisions: (ScopeDecision | undefined)[] = await Promise.all(
      request.scopes.map(async (scope, i) => {
        const hit = keys ? await this.decisions.read(keys[i]!) : undefined;
        return hit && { scope, granted: scope.actions.filter((a) => hit.granted.includes(a)), source: 'cache', matched: true, reason: hit.reason };
      }),
    );
    const pending = decisions.flatMap((d, i) => (d === undefined ? [i] : []));
    if (pending.length === 0) return decisions as ScopeDecision[];

    const scopes = pending.map((i) => request.scopes[i]!);
    const body = this.requestBody(request, account, scopes);
    const flightKey = keyedHash(this.deps.hashKey, 'authz-command-flight', JSON.stringify(this.config.command), generation ?? '', body ?? '');
    const outcome = await this.flights.run(flightKey, () => this.decide(body, scopes, keys && pending.map((i) => keys[i]!)));
    pending.forEach((index, j) => {
      const scope = scopes[j]!;
      decisions[index] =
        outcome.kind === 'answered'
          ? { scope, ...decisionFor(scope, outcome.decisions, 'command'), source: 'command', matched: true }
          : { scope, granted: [], source: 'unavailable', matched: false, reason: `authorization command unavailable: ${outcome.why}` };
    });
    return decisions as ScopeDecision[];
  }

  /** One run for `scopes`, answers cached; never throws. */
  private async decide(body: string | undefined, scopes: readonly Scope[], keys: readonly string[] | undefined): Promise<RunOutcome> {
    const outcome = body === undefined ? { kind: 'unavailable' as const, why: 'identity attributes cannot be sent as JSON' } : await this.run(body);
    if (outcome.kind === 'unavailable') {
      this.log.warn(
        { event: 'authz_failed_closed', why: outcome.why, scopes: scopes.map(formatScope), circuit: this.breaker.state() },
        'authorization command gave no decision; failing closed (only cached decisions grant access)',
      );
      return outcome;
    }
    if (keys && outcome.ttlSeconds >= 1) {
      await Promise.all(scopes.map((scope, i) => this.decisions.write(keys[i]!, decisionFor(scope, outcome.decisions, 'command'), outcome.ttlSeconds)));
    }
    return outcome;
  }

  private async run(body: string): Promise<RunOutcome> {
    if (!this.breaker.allow()) return { kind: 'unavailable', why: 'circuit open after repeated failures' };
    let result;
    try {
      result = await this.slots.run(
        () => runBoundedCommand({ argv: this.config.command, input: `${body}\n`, env: this.env, timeoutMs: this.config.timeoutMs }),
        this.config.timeoutMs,
      );
    } catch (err) {
      // Saturation is not the command's fault: the circuit stays as it is.
      if (err instanceof CommandBusyError) return { kind: 'unavailable', why: err.message };
      throw err;
    }
    const fail = (why: string): RunOutcome => {
      this.breaker.failure();
      const stderr = result.stderr.trim().slice(-500);
      this.log.warn({ event: 'authz_command_failed', why, stderr: stderr || undefined }, `authorization command ${why}`);
      return { kind: 'unavailable', why };
    };
    if (result.kind === 'failed') return fail(result.why);
    if (result.code !== 0) return fail(`exited with code ${result.code}`);
    let json: unknown;
    try {
      json = JSON.parse(result.stdout);
    } catch {
      return fail('printed something other than JSON');
    }
    const parsed = commandAuthzAnswerSchema.safeParse(json);
    if (!parsed.success) {
      return fail(`answer does not follow the contract (${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`);
    }
    this.breaker.success();
    const decisions = indexDecisions(parsed.data);
    const ttl = parsed.data.ttl === undefined ? this.config.cacheSeconds : Math.floor(parsed.data.ttl);
    return { kind: 'answered', decisions, ttlSeconds: Math.min(ttl, this.config.maxCacheSeconds) };
  }

  private requestBody(request: AuthorizationRequest, account: string, scopes: readonly Scope[]): string | undefined {
    try {
      return JSON.stringify(decisionRequest(request, account, scopes));
    } catch (err) {
      this.log.error({ event: 'authz_command_error', account, err: (err as Error).message }, 'identity attributes cannot be serialised for the authorization command');
      return undefined;
    }
  }
}

/** JSON, or undefined for values JSON cannot hold (a BigInt, a cycle). */
function safeJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value);
  } catch {
    return undefined;
  }
}

