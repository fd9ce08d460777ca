import { exchange } from './exchange-call.js';
import { PLUGIN_EXIT, PluginFailure, redactJwts, type PluginExitCode } from './plugin-failure.js';
import { PLUGIN_USAGE, readSettings } from './plugin-settings.js';
import { parseRequest } from './provider-request.js';
import { buildResponse } from './provider-response.js';

/** What one run prints and how it exits; the entry point does the printing. */
export interface PluginOutcome {
  readonly exitCode: PluginExitCode;
  /** The CredentialProviderResponse (or the usage), for stdout. */
  readonly stdout?: string;
  /** Exactly one line for the kubelet's log, when there is no credential. */
  readonly stderr?: string;
}

/**
 * The line for stderr: one line, with every secret this run has seen cut out and anything shaped
 * like a JWT too. Messages are written not to hold them; this is the guard for the ones nobody
 * foresaw (a message Wharf echoes, a Node error quoting its input).
 */
export function redactedLine(message: string, secrets: readonly string[]): string {
  let line = message.replace(/[\r\n]+/g, ' ');
  for (const secret of secrets) if (secret.length >= 4) line = line.split(secret).join('[redacted]');
  return `wharf-kubelet-credential-provider: ${redactJwts(line)}\n`;
}

/**
 * One run as the kubelet starts it: settings from argv and env, the request from stdin, the
 * exchange at Wharf, the response. Every failure becomes an exit code and one line.
 */
export async function runPlugin(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, readStdin: () => Promise<string>): Promise<PluginOutcome> {
  const secrets: string[] = [];
  try {
    const settings = readSettings(argv, env);
    if (settings === 'help') return { exitCode: PLUGIN_EXIT.ok, stdout: PLUGIN_USAGE };
    const request = parseRequest(await readStdin());
    secrets.push(request.token);
    const answer = await exchange(settings, request);
    secrets.push(answer.password);
    return { exitCode: PLUGIN_EXIT.ok, stdout: `${JSON.stringify(buildResponse(request, answer))}\n` };
  } catch (err) {
    if (err instanceof PluginFailure) return { exitCode: err.exitCode, stderr: redactedLine(err.message, secrets) };
    // A bug: its message only, never a stack trace (and never the input it may quote).
    return { exitCode: PLUGIN_EXIT.internal, stderr: redactedLine(`internal error: ${err instanceof Error ? err.message : String(err)}`, secrets) };
  }
}
