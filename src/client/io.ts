import { text } from 'node:stream/consumers';

/**
 * What a command may touch of the outside world; the entry points pass the real ones, tests fakes.
 * It lives in client/, the lower floor, so that both the client commands and the server's
 * subcommands (cli/) can use it.
 */
export interface CliIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads all of standard input. */
  readonly readStdin: () => Promise<string>;
}

/** The real outside world, for the two entry points (main.ts, credential-helper.ts) to pass in. */
export function processIo(): CliIo {
  return {
    env: process.env,
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    readStdin: () => text(process.stdin),
  };
}
