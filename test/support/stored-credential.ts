import { join } from 'node:path';
import { expect } from 'vitest';
import { FileCredentialStore } from '../../src/client/credential-store.js';

/**
 * What `wharf login` leaves behind on a person's machine: an unscoped credential of `account`'s
 * in the credential helper's store, minted here through the credential API by an administrator
 * (as a deploy host's would be). Returns the environment that points the client commands
 * (`wharf token`, `wharf robot`) at that store, with `work` as their home.
 */
export async function storeLoginCredential(options: { wharfUrl: string; registryHost: string; adminSecret: string; work: string; account: string }): Promise<NodeJS.ProcessEnv> {
  const minted = await fetch(`${options.wharfUrl}/api/v1/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${options.adminSecret}`, 'content-type': 'application/json' },
    body: JSON.stringify({ account: options.account, label: 'laptop' }),
  });
  const answer = await minted.text();
  expect(minted.status, answer).toBe(201);
  const credentialsFile = join(options.work, 'wharf-credentials.json');
  await new FileCredentialStore(credentialsFile).store({ serverUrl: options.registryHost, username: options.account, secret: (JSON.parse(answer) as { secret: string }).secret });
  return { WHARF_CREDENTIALS_FILE: credentialsFile, HOME: options.work };
}
