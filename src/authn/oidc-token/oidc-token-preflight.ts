import { readFile } from 'node:fs/promises';
import type { Finding } from '../../domain/backend.js';
import { publicSigningKeys } from './jwks-document.js';
import { KUBERNETES_CLAIM } from './kubernetes-claims.js';
import type { OidcTokenAuthnConfig } from './oidc-token-config.js';

/**
 * Checks what the schema cannot, for `wharf config check`: that each issuer's `jwksFile` holds a
 * JWKS of usable public keys, its `caFile` a PEM certificate and its `bearerTokenFile` a token,
 * and that clusters trusted side by side have names. Reads the files; never prints what they hold.
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
  findings.push(...unnamedClusters(config, path));
  return findings;
}

/**
 * Issuers whose trust rules read the service-account claim (`kubernetes.io.…`): clusters, as far
 * as the config tells. Two or more of them, any without a `cluster` name, give their service
 * accounts groups another cluster's share (`system:serviceaccounts:NS`), which an ACL rule by
 * group cannot tell apart: a warning on each unnamed one.
 */
function unnamedClusters(config: OidcTokenAuthnConfig, path: string): Finding[] {
  const readsKubernetes = (rule: OidcTokenAuthnConfig['rules'][number]) =>
    [rule.account, rule.owner ?? '', ...(rule.pull ?? []), ...Object.keys(rule.claims)].some((text) => text.includes(`${KUBERNETES_CLAIM}.`));
  const clusters = config.issuers.flatMap((issuer, i) => (config.rules.some((rule) => rule.issuer === issuer.issuer && readsKubernetes(rule)) ? [{ issuer, i }] : []));
  if (clusters.length < 2) return [];
  return clusters
    .filter(({ issuer }) => issuer.cluster === undefined)
    .map(({ issuer, i }) => ({
      severity: 'warning' as const,
      path: `${path}.issuers.${i}.cluster`,
      message: `${clusters.length} issuers admit Kubernetes service accounts, and those of ${issuer.issuer} get groups (system:serviceaccounts:NAMESPACE) that the other clusters' namespaces of the same name get too: name the cluster (cluster: NAME) and write ACL group rules for NAME:system:serviceaccounts:NAMESPACE`,
    }));
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
