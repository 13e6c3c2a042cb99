import { stringify } from "yaml";

/**
 * What to apply with kubectl to run the webhook in a cluster: a ValidatingWebhookConfiguration for
 * pods and the workloads that make them (the CA bundle filled in), a Service, and a Deployment that
 * runs `strata admission serve` with its TLS key pair from a Secret and its policy from a ConfigMap.
 */
export interface ManifestOptions {
  name: string;
  namespace: string;
  image: string;
  caPem: string;
  failurePolicy: "open" | "closed";
  timeoutSeconds: number;
  audit: boolean;
  /** The index the webhook reads: a postgres:// URL shared with the indexers, usually. */
  index?: string;
  /** The registries the webhook may contact (none when empty). */
  allowRegistries?: string[];
}

const RULES = [
  { apiGroups: [""], resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers"] },
  { apiGroups: ["apps"], resources: ["deployments", "statefulsets", "daemonsets", "replicasets"] },
  { apiGroups: ["batch"], resources: ["jobs", "cronjobs"] },
].map((r) => ({ ...r, apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], scope: "Namespaced" }));

function webhookConfiguration(o: ManifestOptions) {
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "ValidatingWebhookConfiguration",
    metadata: { name: o.name },
    webhooks: [
      {
        name: `images.${o.name}.${o.namespace}.svc`,
        clientConfig: {
          service: { namespace: o.namespace, name: o.name, path: "/validate", port: 443 },
          caBundle: Buffer.from(o.caPem).toString("base64"),
        },
        rules: RULES,
        failurePolicy: o.failurePolicy === "open" ? "Ignore" : "Fail",
        sideEffects: "None",
        admissionReviewVersions: ["v1"],
        timeoutSeconds: o.timeoutSeconds,
        // The webhook's own namespace and the control plane's are never held up by it.
        namespaceSelector: {
          matchExpressions: [
            { key: "kubernetes.io/metadata.name", operator: "NotIn", values: [o.namespace, "kube-system"] },
          ],
        },
      },
    ],
  };
}

function service(o: ManifestOptions) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: o.name, namespace: o.namespace },
    spec: { selector: { app: o.name }, ports: [{ name: "https", port: 443, targetPort: 8443 }] },
  };
}

function deployment(o: ManifestOptions) {
  const args = [
    "admission",
    "serve",
    "--policy=/etc/strata/policy/policy.yaml",
    "--tls-cert=/etc/strata/tls/tls.crt",
    "--tls-key=/etc/strata/tls/tls.key",
    "--listen=0.0.0.0:8443",
    `--failure-policy=${o.failurePolicy}`,
    // The answer must come before the API server gives up on it.
    `--timeout=${Math.max(1, o.timeoutSeconds - 2)}`,
    ...(o.index ? [`--index=${o.index}`] : []),
    ...(o.allowRegistries ?? []).map((host) => `--allow-registry=${host}`),
    ...(o.audit ? ["--audit"] : []),
  ];
  const probe = { httpGet: { path: "/healthz", port: 8443, scheme: "HTTPS" }, periodSeconds: 10 };
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: o.name, namespace: o.namespace },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: o.name } },
      template: {
        metadata: { labels: { app: o.name } },
        spec: {
          containers: [
            {
              name: "webhook",
              image: o.image,
              args,
              ports: [{ containerPort: 8443, name: "https" }],
              readinessProbe: probe,
              livenessProbe: probe,
              securityContext: {
                runAsNonRoot: true,
                readOnlyRootFilesystem: true,
                allowPrivilegeEscalation: false,
              },
              volumeMounts: [
                { name: "tls", mountPath: "/etc/strata/tls", readOnly: true },
                { name: "policy", mountPath: "/etc/strata/policy", readOnly: true },
              ],
            },
          ],
          volumes: [
            { name: "tls", secret: { secretName: `${o.name}-tls` } },
            { name: "policy", configMap: { name: `${o.name}-policy` } },
          ],
        },
      },
    },
  };
}

/** The three documents as one multi-document YAML stream. */
export function admissionManifests(o: ManifestOptions): string {
  return [webhookConfiguration(o), service(o), deployment(o)].map((d) => stringify(d)).join("---\n");
}
