import type { Logger } from 'pino';
import type { Scope } from '../../domain/scope.js';
import type { CircuitBreaker } from '../../upstream/circuit-breaker.js';
import { commandEnvironment, runBoundedCommand } from '../../upstream/command-runner.js';
import { CommandBusyError, CommandSlots } from '../../upstream/command-slots.js';
import type { AuthorizationRequest } from '../authorizer.js';
import type { Decider, Verdict } from '../decider.js';
import { answerVerdicts, decisionRequest, readDecisionAnswer } from '../decision-protocol.js';
import type { CommandAuthzConfig } from './command-authz-config.js';

/** What the command decider needs besides its config. */
export interface CommandDeciderDeps {
  logger: Logger;
  /** The breaker consulted before each run and told how it went (upstreamCircuit() from the config). */
  circuit: CircuitBreaker;
  /** Slots to run the command in, e.g. shared with other commands. Default: its own, from the config. */
  slots?: CommandSlots | undefined;
}

/**
 * Asks a local program which actions are allowed per scope: the webhook's decision contract over
 * stdin/stdout, one run for all the scopes it is given, bounded in time and number. A run that
 * fails (exit code, timeout, garbage) counts against the circuit; no free slot does not.
 */
export class CommandDecider implements Decider {
  readonly source = 'command';
  readonly label = 'authorization command';
  readonly endpoint: string;
  readonly logger: Logger;
  private readonly slots: CommandSlots;
  private readonly circuit: CircuitBreaker;
  private readonly env: Record<string, string>;

  constructor(
    private readonly config: CommandAuthzConfig,
    deps: CommandDeciderDeps,
  ) {
    this.endpoint = JSON.stringify(config.command);
    this.slots = deps.slots ?? new CommandSlots(config.maxConcurrent, config.maxQueued);
    this.circuit = deps.circuit;
    this.env = commandEnvironment(config.env);
    this.logger = deps.logger.child({ authorizer: 'command', program: config.command[0] });
  }

  async decide(request: AuthorizationRequest, scopes: readonly Scope[]): Promise<Verdict[]> {
    const outcome = await this.run(JSON.stringify(decisionRequest(request, request.identity?.account ?? '', scopes)));
    return outcome.kind === 'unavailable' ? scopes.map(() => outcome) : answerVerdicts(outcome.answer, scopes, this.source, this.config);
  }

  private async run(body: string) {
    if (!this.circuit.allow()) return unavailable('circuit open after repeated failures');
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
        this.circuit.release();
        return unavailable(err.message);
      }
      this.circuit.failure();
      throw err;
    }
    const fail = (why: string) => {
      this.circuit.failure();
      const stderr = result.stderr.trim().slice(-500);
      this.logger.warn({ event: 'authz_command_failed', why, stderr: stderr || undefined }, `authorization command ${why}`);
      return unavailable(why);
    };
    if (result.kind === 'failed') return fail(result.why);
    if (result.code !== 0) return fail(`exited with code ${result.code}`);
    const read = readDecisionAnswer(result.stdout);
    if (read.kind === 'not_json') return fail('printed something other than JSON');
    if (read.kind === 'off_contract') return fail(`answer does not follow the contract (${read.issues.slice(0, 3).join('; ')})`);
    this.circuit.success();
    return { kind: 'answered' as const, answer: read.answer };
  }
}

function unavailable(why: string) {
  return { kind: 'unavailable' as const, why };
}
