import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, rm, writeFile, mkdtemp } from 'node:fs/promises';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JSONWebKeySet, type JWK, type JWTPayload } from 'jose';
import { makeTestCertificates } from './slapd.js';

/** Where a kube-apiserver serves its issuer's discovery document and keys. */
export const CLUSTER_DISCOVERY_PATH = '/.well-known/openid-configuration';
export const CLUSTER_JWKS_PATH = '/openid/v1/jwks';

/** How to start a stand-in cluster issuer. */
export interface ClusterIssuerOptions {
  /** Serve over HTTPS with a certificate from a CA generated for this run (its PEM in `caFile`). Default false. */
  https?: boolean;
  /** Answer discovery and JWKS requests with 401 unless they carry the bearer token in `bearerTokenFile` (as an API server without anonymous access does). Default false. */
  requireBearer?: boolean;
  /**
   * The issuer tokens carry (`iss`) and discovery names, e.g. `https://kubernetes.default.svc.cluster.local`
   * for a cluster whose issuer URL Wharf cannot reach. Default: the server's own URL.
   */
  issuer?: string;
  /** The `jwks_uri` its discovery document names (to point Wharf elsewhere). Default: its own `/openid/v1/jwks`. */
  discoveryJwksUri?: string;
  /** The audience tokens are minted for by default (what the kubelet's `tokenAttributes.serviceAccountTokenAudience` names). Default `wharf`. */
  audience?: string;
  /** The clock tokens are stamped with, in ms. Default Date.now. */
  now?: () => number;
}

/** One service-account token to mint; every field has a default. */
export interface MintOptions {
  /** Default `default`. */
  namespace?: string;
  /** The service account's name. Default `default`. */
  serviceAccount?: string;
  /** Default: the issuer's audience. */
  audience?: string | string[];
  /** An audience nobody configured (`https://kubernetes.default.svc`, what a pod's own API token carries). */
  wrongAudience?: boolean;
  /** Default 600 (what the kubelet requests for a credential provider: 10 minutes). */
  lifetimeSeconds?: number;
  /** Issued (and not-before) time in unix seconds. Default: the issuer's clock. */
  iat?: number;
  /** Issued `lifetimeSeconds` + 120 s ago: expired two minutes ago. */
  expired?: boolean;
  /** Issued and valid only from 5 minutes ahead (a cluster clock running ahead). */
  notYetValid?: boolean;
  /** A token bound to no pod or node (a plain TokenRequest): `kubernetes.io` holds only the namespace and service account. */
  unbound?: boolean;
  /** The pod's name. Default `app-` and five random characters. */
  pod?: string;
  /** The node's name. Default `node-1`. */
  node?: string;
  /** Claims merged last, top-level (`undefined` deletes one): to forge shapes no cluster makes. */
  claims?: Record<string, unknown>;
}

/** Requests the issuer answered (or refused), for counting fetches. */
export interface ClusterFetches {
  readonly discovery: number;
  readonly jwks: number;
  /** Requests refused for a missing or wrong bearer token. */
  readonly refused: number;
}

/**
 * A stand-in for a Kubernetes cluster's service-account issuer: a real HTTP(S) server that serves
 * discovery and `/openid/v1/jwks` as a kube-apiserver does, and mints RS256 service-account
 * tokens of the real claim shape (`sub: system:serviceaccount:NS:NAME`, `aud` a list, `exp`,
 * `iat`, `nbf`, `jti`, `kubernetes.io: {namespace, serviceaccount, pod, node}`).
 */
export interface ClusterIssuer {
  /** The `iss` of its tokens. */
  readonly issuer: string;
  /** The server's base URL (`http(s)://127.0.0.1:PORT`), what an API server's address would be. */
  readonly url: string;
  /** `url` + `/openid/v1/jwks`. */
  readonly jwksUri: string;
  /** With `https`: the PEM file of the CA that certified the server. */
  readonly caFile: string | undefined;
  /** With `requireBearer`: a file holding the bearer token the server accepts (as a projected token file). */
  readonly bearerTokenFile: string | undefined;
  /** A signed service-account token. */
  mint(options?: MintOptions): Promise<string>;
  /** The JWKS it publishes now (for a static `jwks` or `jwksFile`). */
  jwks(): JSONWebKeySet;
  /** A new signing key, published and used from now on; `retireOld` stops publishing the others. */
  rotateKey(options?: { retireOld?: boolean }): Promise<void>;
  /** A new bearer token, written to `bearerTokenFile`; the old one is refused from now on (a rotated projected token). */
  rotateBearer(): Promise<void>;
  /** Requests so far. */
  fetches(): ClusterFetches;
  /** The `Authorization` header of every request, in order (undefined where none was sent). */
  readonly authorizations: ReadonlyArray<string | undefined>;
  close(): Promise<void>;
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

async function makeKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  // The API server's kid is derived from the public key, as this one is.
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { use: 'sig', kty: 'RSA', kid, alg: 'RS256', n: jwk.n, e: jwk.e } };
}

/** Starts a stand-in cluster issuer on 127.0.0.1 and a kernel-chosen port. */
export async function startClusterIssuer(options: ClusterIssuerOptions = {}): Promise<ClusterIssuer> {
  const now = options.now ?? Date.now;
  const dir = await mkdtemp(join(tmpdir(), 'wharf-cluster-'));
  const certificates = options.https ? await makeTestCertificates(dir) : undefined;
  const bearerTokenFile = options.requireBearer ? join(dir, 'token') : undefined;
  let bearer = randomBytes(24).toString('base64url');
  if (bearerTokenFile) await writeFile(bearerTokenFile, `${bearer}\n`);
  let keys: SigningKey[] = [await makeKey()];
  const counts = { discovery: 0, jwks: 0, refused: 0 };
  const authorizations: Array<string | undefined> = [];
  const serviceAccountUids = new Map<string, string>();
  const nodeUid = randomUUID();
  let issuer = options.issuer ?? '';
  let url = '';

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    authorizations.push(req.headers.authorization);
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (bearerTokenFile && req.headers.authorization !== `Bearer ${bearer}`) {
      counts.refused++;
      return send(401, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    if (path === CLUSTER_DISCOVERY_PATH) {
      counts.discovery++;
      return send(200, {
        issuer,
        jwks_uri: options.discoveryJwksUri ?? `${url}${CLUSTER_JWKS_PATH}`,
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      });
    }
    if (path === CLUSTER_JWKS_PATH) {
      counts.jwks++;
      return send(200, { keys: keys.map((k) => k.publicJwk) });
    }
    return send(404, { kind: 'Status', status: 'Failure', code: 404 });
  };
  const server: Server = certificates
    ? createHttpsServer({ key: await readFile(certificates.keyFile), cert: await readFile(certificates.certFile) }, handle)
    : createHttpServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
  });
  url = `${certificates ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (!issuer) issuer = url;

  return {
    issuer,
    url,
    jwksUri: `${url}${CLUSTER_JWKS_PATH}`,
    caFile: certificates?.caFile,
    bearerTokenFile,
    authorizations,
    async mint(mint = {}) {
      const namespace = mint.namespace ?? 'default';
      const name = mint.serviceAccount ?? 'default';
      const lifetime = mint.lifetimeSeconds ?? 600;
      const nowSeconds = Math.floor(now() / 1000);
      const iat = mint.iat ?? (mint.expired ? nowSeconds - lifetime - 120 : mint.notYetValid ? nowSeconds + 300 : nowSeconds);
      const saKey = `${namespace}/${name}`;
      if (!serviceAccountUids.has(saKey)) serviceAccountUids.set(saKey, randomUUID());
      const facts: Record<string, unknown> = { namespace, serviceaccount: { name, uid: serviceAccountUids.get(saKey) } };
      if (!mint.unbound) {
        facts.pod = { name: mint.pod ?? `app-${randomBytes(4).toString('hex').slice(0, 5)}`, uid: randomUUID() };
        facts.node = { name: mint.node ?? 'node-1', uid: nodeUid };
      }
      const audience = mint.wrongAudience ? 'https://kubernetes.default.svc' : (mint.audience ?? options.audience ?? 'wharf');
      const claims: Record<string, unknown> = {
        aud: Array.isArray(audience) ? audience : [audience],
        exp: iat + lifetime,
        iat,
        iss: issuer,
        jti: randomUUID(),
        'kubernetes.io': facts,
        nbf: iat,
        sub: `system:serviceaccount:${namespace}:${name}`,
      };
      for (const [claim, value] of Object.entries(mint.claims ?? {})) {
        if (value === undefined) delete claims[claim];
        else claims[claim] = value;
      }
      const key = keys.at(-1)!;
      return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: 'RS256', kid: key.kid }).sign(key.privateKey);
    },
    jwks: () => ({ keys: keys.map((k) => ({ ...k.publicJwk })) }),
    async rotateKey(rotate = {}) {
      const key = await makeKey();
      keys = rotate.retireOld ? [key] : [...keys, key];
    },
    async rotateBearer() {
      if (!bearerTokenFile) throw new Error('rotateBearer: the issuer was started without requireBearer');
      bearer = randomBytes(24).toString('base64url');
      await writeFile(bearerTokenFile, `${bearer}\n`);
    },
    fetches: () => ({ ...counts }),
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await rm(dir, { recursive: true, force: true });
    },
  };
}
