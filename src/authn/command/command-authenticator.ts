import type { Logger } from 'pino';
import { z } from 'zod';
import type { Cache } from '../../cache/cache.js';
import { TemporarilyUnavailableError } from '../../domain/errors.js';
import { isAcceptableUsername } from '../../domain/identity.js';
import type { AuthnResult, LoginContext, PasswordAuthenticator } from '../authenticator.js';
import { VerifiedCredentials } from '../verified-credentials.js';
import type { CommandAuthnConfig } from './command-config.js';
import { commandEnvironment, redact, runBoundedCommand, type CommandOutcome } from '../../upstream/command-runner.js';
import { CommandBusyError, CommandSlots } from '../../upstream/command-slots.js';

/** Dependencies of the command backend (the registry's AuthenticatorDeps fit). */
export interface CommandAuthenticatorDeps {
  cache: Cache;
  hashKey: Buffer;
  logger: Logger;
}

/** What a command may print on stdout after exit 0; every field optional, nothing else allowed. */
const answerSchema = z.strictObject({
  /** The registry account, when it differs from what was typed (e.g. canonical case). */
  account: z.string().refine(isAcceptableUsername, 'must be a non-empty name without control characters').optional(),
  /** The backend's stable id of the user. Default: the account. */
  subject: z.string().min(1).optional(),
  /** Identity attributes (groups...) for authorizers. */
  attributes: z.record(z.string(), z.unknown()).optional(),
});

/** What a successful login remembers (never the password). */
interface VerifiedUser {
  account: string;
  subject: string;
  attributes: Record<string, unknown>;
}

type Verified = Extract<AuthnResult, { kind: 'ok' }>;

/**
 * Authenticates by running a configured program: username and password on stdin; exit 0 =
 * authenticated, 1 = denied, anything else (or a timeout, or garbage on stdout) = 503. Runs are
 * bounded in time and number; successes are cached under a keyed hash like static users.
 */
export class CommandAuthenticator implements PasswordAuthenticator {
  readonly type = 'command';
  private readonly slots: CommandSlots;
  /** Successful logins only, as the VerifiedUser their identity is made from; the argv is part of every key. */
  private readonly verified: VerifiedCredentials<AuthnResult, Verified>;
  private readonly claims: RegExp | undefined;
  private readonly env: Record<string, string>;
  private readonly log: Logger;

  constructor(
    private readonly config: CommandAuthnConfig,
    deps: CommandAuthenticatorDeps,
  ) {
    this.slots = new CommandSlots(config.maxConcurrent, config.maxQueued);
    this.claims = config.claims === undefined ? undefined : new RegExp(config.claims);
    this.env = commandEnvironment(config.env);
    this.verified = new VerifiedCredentials({
      cache: deps.cache,
      hashKey: deps.hashKey,
      prefix: 'command:',
      scope: ['command', JSON.stringify(config.command)],
      accepted: (result): result is Verified => result.kind === 'ok',
      acceptedSeconds: config.verifiedCacheSeconds,
      encode: ({ identity: { account, subject, attributes } }) => JSON.stringify({ account, subject, attributes } satisfies VerifiedUser),
      decode: (stored) => this.ok(JSON.parse(stored) as VerifiedUser),
    });
    this.log = deps.logger.child({ component: 'command-authn', program: config.command[0] });
  }

  async login(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    if (!this.mine(username)) return { kind: 'no_match' };
    return this.verified.verdict([username, password], () => this.verify(username, password, context));
  }

  async recall(username: string, password: string, _context: LoginContext): Promise<AuthnResult | undefined> {
    if (!this.mine(username)) return { kind: 'no_match' };
    return this.verified.recall([username, password]);
  }

  private mine(username: string): boolean {
    return username !== '' && (!this.claims || this.claims.test(username));
  }

  private async verify(username: string, password: string, context: LoginContext): Promise<AuthnResult> {
    let input: string;
    if (this.config.input === 'json') {
      input = `${JSON.stringify({ username, password, service: context.service, client_ip: context.clientIp })}\n`;
    } else {
      if (/[\r\n\0]/.test(username) || /[\r\n\0]/.test(password)) {
        return { kind: 'denied', reason: 'command: a username or password with a line break cannot be passed as lines' };
      }
      input = `${username}\n${password}\n`;
    }

    let outcome: CommandOutcome;
    try {
      outcome = await this.slots.run(
        () => runBoundedCommand({ argv: this.config.command, input, env: this.env, timeoutMs: this.config.timeoutMs }),
        this.config.timeoutMs,
      );
    } catch (err) {
      if (!(err instanceof CommandBusyError)) throw err;
      this.log.warn({ event: 'command_busy', why: err.message }, 'authentication command saturated; answering 503');
      throw new TemporarilyUnavailableError('the authentication command is busy; try again shortly', { cause: err });
    }

    // Exit 1 cannot say whether the user exists: counted against the account, as a guess at a real
    // user's password must be (the records this makes are bounded by the address's budget).
    if (outcome.kind === 'exited' && outcome.code === 1) return { kind: 'denied', reason: 'command: invalid username or password', knownAccount: true };
    if (outcome.kind === 'exited' && outcome.code === 0) return this.accept(username, outcome.stdout, password);
    const why = outcome.kind === 'failed' ? outcome.why : `exited with code ${outcome.code}`;
    this.log.warn(
      { event: 'command_failed', why, stderr: redact(outcome.stderr, password).trim().slice(-500) || undefined },
      `authentication command ${why}; answering 503 (exit 0 = authenticated, 1 = denied, anything else = unavailable)`,
    );
    throw new TemporarilyUnavailableError('the authentication command is unavailable; try again shortly');
  }

  private accept(username: string, stdout: string, password: string): AuthnResult {
    const text = stdout.trim();
    let answer: z.infer<typeof answerSchema> = {};
    if (text !== '') {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        return this.garbage('exited 0 but stdout is not JSON', redact(text, password));
      }
      const parsed = answerSchema.safeParse(json);
      if (!parsed.success) {
        return this.garbage(`exited 0 but stdout does not follow the contract: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
      }
      answer = parsed.data;
    }
    const account = answer.account ?? username;
    return this.ok({ account, subject: answer.subject ?? account, attributes: answer.attributes ?? {} });
  }

  private garbage(why: string, sample?: string): never {
    this.log.warn({ event: 'command_bad_answer', why, stdout: sample?.slice(0, 200) }, `authentication command ${why}; answering 503`);
    throw new TemporarilyUnavailableError('the authentication command gave an unusable answer; try again shortly');
  }

  private ok(user: VerifiedUser): Verified {
    return { kind: 'ok', identity: { account: user.account, provider: this.type, subject: user.subject, attributes: user.attributes, owner: { source: `command:${this.config.command[0]}`, subject: user.subject } } };
  }
}
