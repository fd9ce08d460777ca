/** Server-provided text goes to a terminal: no escape sequences or other control characters. */
export function sanitize(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
}
