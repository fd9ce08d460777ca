import type { CliIo } from '../io.js';
import type { DeviceCodeResponse } from './device-client.js';
import { sanitize } from './sanitize.js';

/** Tells the user, on stderr, where to enter which code (and the link that fills it in, if sent). */
export function showInstructions(io: CliIo, registry: string, device: DeviceCodeResponse): void {
  const lines = [
    `To sign in to ${registry}, open this page in a browser:`,
    '',
    `    ${sanitize(device.verification_uri)}`,
    '',
    'and enter the code:',
    '',
    `    ${sanitize(device.user_code)}`,
    '',
  ];
  if (device.verification_uri_complete !== undefined) {
    lines.push('Or open this link, which fills in the code for you:', '', `    ${sanitize(device.verification_uri_complete)}`, '');
  }
  io.stderr(`${lines.join('\n')}\n`);
}

/** A code lifetime in words: seconds under two minutes, else minutes. */
export function formatDuration(seconds: number): string {
  if (seconds >= 120) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds)} seconds`;
}
