#!/usr/bin/env node
// `wharf-kubelet-credential-provider`: the only file of this binary that reads argv, the
// environment and stdin. It loads nothing but node built-ins and kubelet/, since the kubelet
// starts it for every image it pulls without a cached credential.
import { PLUGIN_EXIT, PluginFailure } from './plugin-failure.js';
import { MAX_REQUEST_BYTES } from './provider-request.js';
import { runPlugin } from './run-plugin.js';

/** All of stdin, refused past the bound (the kubelet writes one small request, then closes it). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES) throw new PluginFailure(PLUGIN_EXIT.request, `stdin holds more than ${MAX_REQUEST_BYTES} bytes: not a CredentialProviderRequest`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

// No top-level await: bundled into one CommonJS file, the same entry can be a single executable
// (docs/kubernetes.md).
void runPlugin(process.argv.slice(2), process.env, readStdin).then((outcome) => {
  if (outcome.stdout !== undefined) process.stdout.write(outcome.stdout);
  if (outcome.stderr !== undefined) process.stderr.write(outcome.stderr);
  process.exitCode = outcome.exitCode;
});
