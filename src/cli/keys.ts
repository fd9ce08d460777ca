import { mkdir, writeFile, access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { parseArgs } from 'node:util';
import { createRootCa, createSigningLeaf } from '../tokens/certificates.js';
import { loadConfig } from '../config/load.js';
import { loadKeys } from '../tokens/key-files.js';
import { keySource } from './bootstrap.js';
import type { CliIo } from './io.js';

/**
 * `wharf keys generate --out DIR [--alg ES256|RS256] [--leaf-days N]`: a root CA for the
 * registry's rootcertbundle and a signing key certified by it. Refuses to overwrite.
 */
export async function keysCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'rotate') return rotateCommand(rest, io);
  if (sub !== 'generate') {
    io.stderr('usage: wharf keys generate --out DIR [--alg ES256|RS256] [--leaf-days N]\n       wharf keys rotate [--config FILE] [--lead-seconds N]\n');
    return 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: { out: { type: 'string' }, alg: { type: 'string', default: 'ES256' }, 'leaf-days': { type: 'string', default: '90' } },
  });
  if (!values.out) {
    io.stderr('--out DIR is required\n');
    return 2;
  }
  const alg = values.alg;
  if (alg !== 'ES256' && alg !== 'RS256') {
    io.stderr('--alg must be ES256 or RS256\n');
    return 2;
  }
  const leafDays = Number(values['leaf-days']);
  if (!Number.isInteger(leafDays) || leafDays < 1 || leafDays > 3650) {
    io.stderr('--leaf-days must be a whole number from 1 to 3650\n');
    return 2;
  }
  const out = resolve(values.out);
  const files = { ca: join(out, 'ca.pem'), caKey: join(out, 'ca-key.pem'), key: join(out, 'signing-key.pem'), chain: join(out, 'signing-chain.pem') };
  for (const f of Object.values(files)) {
    if (await access(f).then(() => true, () => false)) {
      io.stderr(`${f} exists; refusing to overwrite keys\n`);
      return 1;
    }
  }
  await mkdir(out, { recursive: true, mode: 0o700 });
  const ca = await createRootCa(alg, 'Wharf root CA', 3650);
  const leaf = await createSigningLeaf(alg, { privateKey: createPrivateKey(ca.privateKeyPem), certificatePem: ca.certificatePem }, 'Wharf token signing', leafDays);
  await writeFile(files.caKey, ca.privateKeyPem, { mode: 0o600 });
  await writeFile(files.ca, ca.certificatePem);
  await writeFile(files.key, leaf.privateKeyPem, { mode: 0o600 });
  await writeFile(files.chain, leaf.certificatePem);
  io.stdout(
    [
      `wrote ${files.ca} (registry rootcertbundle), ${files.key} and ${files.chain} (Wharf signing key).`,
      `${files.caKey} signs certificates only: keep it off the server, offline if you can.`,
      'config:',
      '  keys:',
      `    signingKeyFile: ${files.key}`,
      `    certificateChainFile: ${files.chain}`,
      `    rootCertificateFile: ${files.ca}`,
      '',
    ].join('\n'),
  );
  return 0;
}

/**
 * `wharf keys rotate [--config FILE] [--lead-seconds N]`: adds a signing leaf to the shared leaf
 * directory, certified by the CA key (run it where the CA key is). It is published at once and
 * signs after the lead time; the registry needs no restart since it trusts the CA.
 */
async function rotateCommand(argv: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, 'lead-seconds': { type: 'string' } } });
  const config = await loadConfig(values.config ?? io.env.WHARF_CONFIG, io.env);
  const loaded = await loadKeys(keySource(config));
  if (!loaded.rotation) {
    io.stderr('keys.signingKeyFile is set: that fixed key does not rotate. Remove it to use rotating leaves.\n');
    return 1;
  }
  if (!loaded.rotation.rotator) {
    io.stderr('the CA key (keys.caKeyFile) is not readable here: run `wharf keys rotate` where it is.\n');
    return 1;
  }
  const lead = values['lead-seconds'] === undefined ? config.keys.rotation.publishLeadSeconds : Number(values['lead-seconds']);
  if (!Number.isInteger(lead) || lead < 0) {
    io.stderr('--lead-seconds must be a whole number of seconds\n');
    return 2;
  }
  const id = await loaded.rotation.rotator.rotate(lead);
  if (!id) {
    io.stderr('another rotation is in progress (lock file in the leaf directory); try again shortly\n');
    return 1;
  }
  io.stdout(`new signing leaf ${id}: published now, signs from ${new Date(Date.now() + lead * 1000).toISOString()}\n`);
  return 0;
}
