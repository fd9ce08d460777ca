import { PLUGIN_EXIT, PluginFailure } from './plugin-failure.js';

/** The one version of the kubelet's exec plugin API this plugin speaks, both ways. */
export const API_VERSION = 'credentialprovider.kubelet.k8s.io/v1';

/** The request is a few kilobytes (an image name, a JWT, a few annotations); more is not the kubelet. */
export const MAX_REQUEST_BYTES = 256 * 1024;

/** A CredentialProviderRequest, checked, with the image split as the kubelet's keyring splits it. */
export interface ProviderRequest {
  /** The image exactly as the kubelet sent it (it sends the repository, without tag or digest). */
  readonly image: string;
  /** The registry host (and port): the image up to its first `/`, as the kubelet's `parseRegistry`. */
  readonly host: string;
  /** The repository path: after the host, without a tag or digest. */
  readonly repository: string;
  /** The pod's service-account token, for Wharf's audience. */
  readonly token: string;
  /** The service account's annotations the kubelet was told to pass (`wharf/pull` narrows). */
  readonly annotations: Readonly<Record<string, string>>;
}

const bad = (message: string) => new PluginFailure(PLUGIN_EXIT.request, message);

/**
 * Splits an image reference into host and repository the way the kubelet and Docker do: the
 * first component is a host when it has a `.` or `:` or is `localhost`; a digest follows `@`, a
 * tag the last `:` after the last `/`.
 */
export function splitImage(image: string): { host: string; repository: string } | undefined {
  const name = image.split('@')[0]!;
  const slash = name.indexOf('/');
  if (slash <= 0) return undefined;
  const host = name.slice(0, slash);
  if (!host.includes('.') && !host.includes(':') && host !== 'localhost') return undefined;
  let repository = name.slice(slash + 1);
  const colon = repository.lastIndexOf(':');
  if (colon >= 0) repository = repository.slice(0, colon);
  if (repository === '' || repository.startsWith('/') || repository.endsWith('/') || repository.includes('//')) return undefined;
  return { host, repository };
}

/**
 * Reads the kubelet's CredentialProviderRequest. Never quotes the input in a message: it holds
 * the token (and JSON.parse's own message would quote it).
 */
export function parseRequest(stdin: string): ProviderRequest {
  let value: unknown;
  try {
    value = JSON.parse(stdin);
  } catch {
    throw bad(`stdin is not a CredentialProviderRequest: not JSON (${stdin.trim() === '' ? 'empty' : `${Buffer.byteLength(stdin)} bytes`}); the kubelet writes one per run`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('stdin is not a CredentialProviderRequest: not a JSON object');
  const request = value as Record<string, unknown>;
  if (request.apiVersion !== API_VERSION) {
    throw bad(`the request's apiVersion is ${JSON.stringify(request.apiVersion ?? null)}; this plugin speaks ${API_VERSION}: set that apiVersion for it in the kubelet's CredentialProviderConfig`);
  }
  if (request.kind !== 'CredentialProviderRequest') throw bad(`the request's kind is ${JSON.stringify(request.kind ?? null)}, not CredentialProviderRequest`);

  const image = request.image;
  if (typeof image !== 'string' || image === '') throw bad('the request names no image');
  if (image.length > 1024 || /[\s\u0000-\u001f\u007f]/.test(image)) throw bad('the request\'s image is not an image reference');
  const split = splitImage(image);
  if (split === undefined) throw bad(`the image ${JSON.stringify(image)} names no registry host and repository`);

  const token = request.serviceAccountToken;
  if (token === undefined || token === null || token === '') {
    throw bad("the request carries no serviceAccountToken: give this provider tokenAttributes.serviceAccountTokenAudience (Wharf's audience) in the kubelet's CredentialProviderConfig, with requireServiceAccount: true");
  }
  if (typeof token !== 'string') throw bad('the request\'s serviceAccountToken is not a string');

  const given = request.serviceAccountAnnotations ?? {};
  if (given === null || typeof given !== 'object' || Array.isArray(given)) throw bad('the request\'s serviceAccountAnnotations is not an object');
  const annotations: Record<string, string> = {};
  for (const [key, annotation] of Object.entries(given)) {
    if (typeof annotation !== 'string') throw bad(`the service-account annotation ${JSON.stringify(key)} is not a string`);
    annotations[key] = annotation;
  }
  return { image, ...split, token, annotations };
}
