/** Loopback hosts, where plain HTTP is allowed without --insecure (as docker does). */
export function isLoopbackHost(hostname: string): boolean {
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname) || hostname === 'localhost' || hostname === '[::1]' || hostname === '::1';
}

/** Why the login must not go to `url`, or undefined when it may: HTTPS, loopback, or `insecure`. */
export function plainHttpProblem(url: URL, insecure: boolean): string | undefined {
  if (url.protocol === 'https:' || insecure || isLoopbackHost(url.hostname)) return undefined;
  return `refusing to send the login over plain HTTP to ${url.origin}; pass --insecure if you mean it`;
}
