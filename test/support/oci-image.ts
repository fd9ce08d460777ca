import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** OCI media types used by the hand-built image. */
export const OCI_MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

/** The annotation skopeo's `oci:DIR:TAG` transport resolves tags with. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** A descriptor as it appears in OCI manifests and index.json. */
export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** What {@link buildOciImage} produced. */
export interface OciImage {
  dir: string;
  /** skopeo reference, `oci:DIR:TAG`. */
  ref: string;
  /** sha256:... of the gzipped layer blob. */
  layerDigest: string;
  /** sha256:... of the manifest blob. */
  manifestDigest: string;
}

/** `sha256:<hex>` of the given bytes. */
export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

// Fixed timestamp so identical content gives identical digests across runs.
const EPOCH_2020 = 1_577_836_800;

function writeOctal(header: Buffer, offset: number, length: number, value: number): void {
  // NUL-terminated, zero-padded octal, as ustar readers expect.
  header.write(value.toString(8).padStart(length - 1, '0') + '\0', offset, length, 'ascii');
}

/**
 * A one-file ustar archive: 512-byte header, content padded to 512, two zero blocks.
 * Written by hand so the harness needs no tar tool or npm package.
 */
export function tarSingleFile(name: string, content: Buffer, mtime = EPOCH_2020): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar name too long: ${name}`);
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  writeOctal(header, 100, 8, 0o644); // mode
  writeOctal(header, 108, 8, 0); // uid
  writeOctal(header, 116, 8, 0); // gid
  writeOctal(header, 124, 12, content.length); // size
  writeOctal(header, 136, 12, mtime); // mtime
  header.write('0', 156, 1, 'ascii'); // typeflag: regular file
  header.write('ustar\0', 257, 6, 'ascii');
  header.write('00', 263, 2, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  // The checksum is computed with its own field read as eight spaces.
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii');
  const padding = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, padding, Buffer.alloc(1024)]);
}

async function writeBlob(dir: string, data: Buffer): Promise<{ digest: string; size: number }> {
  const digest = sha256Digest(data);
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return { digest, size: data.length };
}

/**
 * Writes a tiny valid single-layer linux/amd64 OCI image layout into `dir` by hand and tags it.
 * Different `content` yields different layer and manifest digests. If `dir` already holds a
 * layout, the tag is added (or replaced) in its index.json, so one dir can carry several tags.
 */
export async function buildOciImage(
  dir: string,
  opts: { tag?: string; content?: string } = {},
): Promise<OciImage> {
  const tag = opts.tag ?? 'latest';
  const content = Buffer.from(opts.content ?? 'hello from the wharf test harness\n');
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });

  const tar = tarSingleFile('hello.txt', content);
  // Level 9 and a fixed header (mtime 0) keep the gzip bytes reproducible.
  const layer = await writeBlob(dir, gzipSync(tar, { level: 9 }));

  const imageConfig = {
    created: new Date(EPOCH_2020 * 1000).toISOString(),
    architecture: 'amd64',
    os: 'linux',
    config: { Cmd: ['/hello.txt'] },
    rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] },
    history: [{ created: new Date(EPOCH_2020 * 1000).toISOString(), created_by: 'wharf test harness' }],
  };
  const config = await writeBlob(dir, Buffer.from(JSON.stringify(imageConfig)));

  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MEDIA_TYPES.manifest,
    config: { mediaType: OCI_MEDIA_TYPES.config, ...config },
    layers: [{ mediaType: OCI_MEDIA_TYPES.layerGzip, ...layer }],
  };
  const manifestBlob = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)));

  let manifests: OciDescriptor[] = [];
  try {
    const existing = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests?: OciDescriptor[] };
    manifests = (existing.manifests ?? []).filter((m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  manifests.push({ mediaType: OCI_MEDIA_TYPES.manifest, ...manifestBlob, annotations: { [REF_NAME_ANNOTATION]: tag } });

  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_MEDIA_TYPES.index, manifests }),
  );

  return { dir, ref: `oci:${dir}:${tag}`, layerDigest: layer.digest, manifestDigest: manifestBlob.digest };
}

/**
 * Reads the manifest tagged `tag` from an OCI layout (e.g. one skopeo copied back), so tests can
 * compare digests end to end.
 */
export async function readOciManifest(
  dir: string,
  tag = 'latest',
): Promise<{ manifestDigest: string; manifest: { config: OciDescriptor; layers: OciDescriptor[] } }> {
  const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8')) as { manifests: OciDescriptor[] };
  const entry = index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === tag);
  if (!entry) throw new Error(`no manifest tagged ${tag} in ${dir}/index.json`);
  const manifest = JSON.parse(await readFile(blobPath(dir, entry.digest), 'utf8')) as {
    config: OciDescriptor;
    layers: OciDescriptor[];
  };
  return { manifestDigest: entry.digest, manifest };
}

/** Path of a blob inside an OCI layout. */
export function blobPath(dir: string, digest: string): string {
  const [algorithm, hex] = digest.split(':');
  if (!algorithm || !hex) throw new Error(`malformed digest ${digest}`);
  return join(dir, 'blobs', algorithm, hex);
}
