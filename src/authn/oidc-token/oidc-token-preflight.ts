import { readFile } from 'node:fs/promises';
import type { Finding } from '../../domain/backend.js';
import { publicSigningKeys } from './jwks-document.js';
import type { OidcTokenAuthnConfig } from './oidc-token-config.js';

/**
 * Checks what the schema cannot, for `wharf config check`: that each issuer's `jwksFile` holds a
 * JWKS of usable public keys, its `caFile` a PEM certificate and its `bearerTokenFile` a token.
 * Reads the files; never prints what they hold.
 */
export async function preflightOidcToken(config: OidcTokenAuthnConfig, path: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const [i, issuer] of config.issuers.entries()) {
    const at = (field: string) => `${path}.issuers.${i}.${field}`;
    const problem = (field: string, message: string) => findings.push({ severity: 'error', path: at(field), message });
    const files = { jwksFile: issuer.jwksFile, caFile: issuer.caFile, bearerTokenFile: issuer.bearerTokenFile };
    for (const [field, file] of Object.entries(files)) {
      if (file === undefined) continue;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (err) {
        problem(field, `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
      if (field === 'caFile' && !text.includes('-----BEGIN CERTIFICATE-----')) problem(field, `${file} holds no PEM certificate`);
      if (field === 'bearerTokenFile' && text.trim() === '') problem(field, `${file} is empty`);
      if (field === 'jwksFile') {
        const checked = jwksProblem(text);
        if (checked) problem(field, `${file} ${checked}`);
      }
    }
  }
  return findings;
}

function jwksProblem(text: string): string | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return 'is not JSON';
  }
  const checked = publicSigningKeys(doc, { strict: true });
  return 'error' in checked ? checked.error : undefined;
}
