import { mkdir, writeFile, access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createPrivateKey } from 'node:crypto';
import { createRootCa, createSigningLeaf } from '../keys/certificates.js';
import { loadConfig } from '../config/load.js';
import { loadKeys } from '../keys/key-files.js';
import { keySource } from './bootstrap.js';
import { parseCommandArgs, stringOption } from './command-args.js';
import type { CliIo } from '../client/io.js';

const GENERATE_USAGE = `usage: wharf keys generate --out DIR [--alg ES256|RS256] [--leaf-days N]

Creates a root CA (the registry's rootcertbundle) and a signing key certified by it; never overwrites.

options:
  --out DIR       directory for ca.pem, ca-key.pem, signing-key.pem and signing-chain.pem (required)
  --alg ALG       ES256 or RS256 (default ES256)
  --leaf-days N   validity of the signing certificate in days, 1 to 3650 (default 90)
  -h, --help      show this help
`;

const ROTATE_USAGE = `usage: wharf keys rotate [--config FILE] [--lead-seconds N]

Adds a signing leaf to keys.leafDirectory, certified by keys.caKeyFile (run it where the CA key is).
It is published at once and signs after the lead time; the registry needs no restart.

options:
  --config FILE       configuration file (default: $WHARF_CONFIG)
  --lead-seconds N    seconds between publishing and signing (default keys.rotation.publishLeadSeconds, 60)
  -h, --help          show this help
`;

const KEYS_USAGE = `usage: wharf keys generate --out DIR [--alg ES256|RS256] [--leaf-days N]
       wharf keys rotate [--config FILE] [--lead-seconds N]

See 'wharf keys generate --help' and 'wharf keys rotate --help'.
`;

/**
 * `wharf keys generate --out DIR [--alg ES256|RS256] [--leaf-days N]`: a root CA for the
 * registry's rootcertbundle and a signing key certified by it. Refuses to overwrite.
 */
export async function keysCommand(argv: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'rotate') return rotateCommand(rest, io);
  if (sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(KEYS_USAGE);
    return 0;
  }
  if (sub !== 'generate') {
    io.stderr(`wharf keys: ${sub === undefined ? 'a subcommand is required' : `unknown subcommand ${JSON.stringify(sub)}`}\n${KEYS_USAGE}`);
    return 2;
  }
  const args = parseCommandArgs(
    io,
    { command: 'keys generate', usage: GENERATE_USAGE, options: { out: { type: 'string' }, alg: { type: 'string', default: 'ES256' }, 'leaf-days': { type: 'string', default: '90' } } },
    rest,
  );
  if (typeof args === 'number') return args;
  const values = { out: stringOption(args, 'out'), alg: stringOption(args, 'alg'), 'leaf-days': stringOption(args, 'leaf-days') };
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
  const args = parseCommandArgs(io, { command: 'keys rotate', usage: ROTATE_USAGE, options: { config: { type: 'string' }, 'lead-seconds': { type: 'string' } } }, argv);
  if (typeof args === 'number') return args;
  const values = { config: stringOption(args, 'config'), 'lead-seconds': stringOption(args, 'lead-seconds') };
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
