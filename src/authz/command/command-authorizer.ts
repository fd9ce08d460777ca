import type { Logger } from 'pino';
import { commandEnvironment, runBoundedCommand } from '../../upstream/command-runner.js';
import { CommandBusyError, CommandSlots } from '../../upstream/command-slots.js';
import type { Cache } from '../../cache/cache.js';
import { CircuitBreaker, type CircuitState } from '../../upstream/circuit-breaker.js';
import { indexDecisions } from '../decision-protocol.js';
import type { AuthorizationRequest, Authorizer, ScopeDecision } from '../authorizer.js';
import { OneCallAuthorizer, type CallOutcome } from '../one-call-authorizer.js';
import type { CommandAuthzConfig } from './command-authz-config.js';
import { commandAuthzAnswerSchema } from './command-authz-protocol.js';

/** What the command authorizer needs besides its config (the registry's RemoteAuthorizerDeps fit). */
export interface CommandAuthorizerDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
  now?: () => number;
  /** Per-account generation in every cache key, so invalidation orphans cached decisions. Default `0`. */
  generation?: (account: string) => Promise<string>;
  /** Slots to run the command in, e.g. shared with other commands. Default: its own, from the config. */
  slots?: CommandSlots;
}

/**
 * Asks a local program which actions are allowed per scope (the webhook contract over
 * stdin/stdout, through OneCallAuthorizer): runs bounded in time and number, behind a circuit
 * breaker.
 */
export class CommandAuthorizer implements Authorizer {
  private readonly slots: CommandSlots;
  private readonly breaker: CircuitBreaker;
  private readonly env: Record<string, string>;
  private readonly log: Logger;
  private readonly flow: OneCallAuthorizer;

  constructor(
    private readonly config: CommandAuthzConfig,
    deps: CommandAuthorizerDeps,
  ) {
    this.slots = deps.slots ?? new CommandSlots(config.maxConcurrent, config.maxQueued);
    this.breaker = new CircuitBreaker({ failureThreshold: config.failureThreshold, openMs: config.openSeconds * 1000, ...(deps.now ? { now: deps.now } : {}) });
    this.env = commandEnvironment(config.env);
    this.log = deps.logger.child({ authorizer: 'command', program: config.command[0] });
    this.flow = new OneCallAuthorizer(
      {
        source: 'command',
        label: 'authorization command',
        endpoint: JSON.stringify(config.command),
        call: (body) => this.run(body),
        circuitState: () => this.circuitState(),
      },
      { cache: deps.cache, hashKey: deps.hashKey, logger: this.log, generation: deps.generation },
    );
  }

  /** State of the circuit in front of the command, for readiness. */
  circuitState(): CircuitState {
    return this.breaker.state();
  }

  authorize(request: AuthorizationRequest): Promise<ScopeDecision[]> {
    return this.flow.authorize(request);
  }

  private async run(body: string): Promise<CallOutcome> {
    if (!this.breaker.allow()) return { kind: 'unavailable', why: 'circuit open after repeated failures' };
    let result;
    try {
      result = await this.slots.run(
        () => runBoundedCommand({ argv: this.config.command, input: `${body}\n`, env: this.env, timeoutMs: this.config.timeoutMs }),
        this.config.timeoutMs,
      );
    } catch (err) {
      // Saturation is not the command's fault: the circuit stays as it is, but a half-open
      // trial that never ran is given back, or no trial would ever be let through again.
      if (err instanceof CommandBusyError) {
        this.breaker.release();
        return { kind: 'unavailable', why: err.message };
      }
      this.breaker.failure();
      throw err;
    }
    const fail = (why: string): CallOutcome => {
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
}

