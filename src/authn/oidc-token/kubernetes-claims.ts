import type { JWTPayload } from 'jose';

/** The claim a Kubernetes service-account token carries its facts in (a single key holding a dot). */
export const KUBERNETES_CLAIM = 'kubernetes.io';

/** A named object of the cluster (a pod, a node, the service account): its name and uid. */
export interface KubernetesObjectRef {
  readonly name: string;
  readonly uid?: string;
}

/** What a service-account token says about the workload, for authorizers and the audit log. */
export interface KubernetesFacts {
  readonly namespace: string;
  readonly serviceaccount: KubernetesObjectRef;
  /** Set for a token bound to a pod (what the kubelet hands a credential provider). */
  readonly pod?: KubernetesObjectRef;
  /** Set when the cluster binds tokens to nodes (pod-bound tokens since 1.30). */
  readonly node?: KubernetesObjectRef;
  /** The issuer's `cluster` name, when it has one (Wharf's configuration, not the token's). */
  readonly cluster?: string;
}

/** A namespace name (RFC 1123 label, as Kubernetes validates it). */
const DNS_LABEL = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;
/** A service account, pod or node name (RFC 1123 subdomain). */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const UID = /^[A-Za-z0-9-]{1,64}$/;

/**
 * The workload a service-account token stands for, or undefined when the token has no
 * `kubernetes.io` claim (a CI token). A token that has one must be shaped as the API server
 * makes them: `sub` is `system:serviceaccount:NS:NAME` with the claim's own namespace and
 * service-account name, and every name is a valid Kubernetes name; anything else is an error,
 * since the facts become groups (`system:serviceaccounts:NS`) that ACL rules trust.
 */
export function kubernetesFacts(payload: JWTPayload): { facts: KubernetesFacts } | { error: string } | undefined {
  if (!Object.hasOwn(payload, KUBERNETES_CLAIM)) return undefined;
  const claim = payload[KUBERNETES_CLAIM];
  const bad = (why: string) => ({ error: `the token's "${KUBERNETES_CLAIM}" claim ${why}, unlike a Kubernetes service-account token` });
  if (!isObject(claim)) return bad('is not an object');
  const namespace = claim.namespace;
  if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) return bad('has no valid namespace');
  const serviceaccount = objectRef(claim.serviceaccount);
  if (!serviceaccount) return bad('has no valid serviceaccount');
  const expectedSub = `system:serviceaccount:${namespace}:${serviceaccount.name}`;
  if (payload.sub !== expectedSub) return bad(`names ${expectedSub}, but "sub" is ${JSON.stringify(String(payload.sub).slice(0, 200))}`);
  const facts: { -readonly [K in keyof KubernetesFacts]: KubernetesFacts[K] } = { namespace, serviceaccount };
  for (const kind of ['pod', 'node'] as const) {
    if (claim[kind] === undefined) continue;
    const ref = objectRef(claim[kind]);
    if (!ref) return bad(`has an invalid ${kind}`);
    facts[kind] = ref;
  }
  return { facts };
}

/**
 * The groups Kubernetes itself puts a service account in: every service account, and those of its
 * namespace. With `cluster` (the issuer's `cluster`), each is prefixed with `cluster:`, so ACL rules
 * can tell two clusters' namespaces of the same name apart, and the unprefixed names are not given:
 * a rule written for them cannot admit a cluster named later by mistake.
 */
export function kubernetesGroups(facts: KubernetesFacts, cluster?: string): string[] {
  const prefix = cluster === undefined ? '' : `${cluster}:`;
  return [`${prefix}system:serviceaccounts`, `${prefix}system:serviceaccounts:${facts.namespace}`];
}

function objectRef(value: unknown): KubernetesObjectRef | undefined {
  if (!isObject(value) || typeof value.name !== 'string' || !DNS_SUBDOMAIN.test(value.name)) return undefined;
  if (value.uid === undefined) return { name: value.name };
  return typeof value.uid === 'string' && UID.test(value.uid) ? { name: value.name, uid: value.uid } : undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
