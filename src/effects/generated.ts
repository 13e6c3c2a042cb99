import type { LayerEntry } from "../oci/layer-entry.js";
import type { ContentStore } from "../util/cas.js";
import { StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import { caCertificatesEntries, linkedCertificates } from "./ca-certificates.js";
import { pemCertificates } from "./certificate.js";
import { JAVA_CACERTS, javaAlias, javaKeystore } from "./java-cacerts.js";
import type { PackageFacts } from "./package-facts.js";

/**
 * The JVM's system preferences store, which Java run as root in ca-certificates-java's trigger
 * creates: a JVM using the Preferences API as another user cannot create it, and warns.
 */
const JAVA_SYSTEM_PREFS: LayerEntry[] = [
  { path: "etc/.java/.systemPrefs", type: "dir", mode: 0o755, uid: 0, gid: 0 },
  { path: "etc/.java/.systemPrefs/.system.lock", type: "file", mode: 0o644, uid: 0, gid: 0 },
  { path: "etc/.java/.systemPrefs/.systemRootModFile", type: "file", mode: 0o644, uid: 0, gid: 0 },
];

/**
 * Files maintainer scripts generate from other packages' data, made natively for the files layer,
 * each only when the package whose script makes it is in the image:
 * - ca-certificates: /etc/ca-certificates.conf, /etc/ssl/certs/*.pem and <hash>.N links;
 * - ca-certificates-java: the Java trust store /etc/ssl/certs/java/cacerts, from ca-certificates'
 *   certificates (their bodies are the CA bundle in the content store), and what running Java in
 *   its trigger leaves behind (JAVA_SYSTEM_PREFS).
 */
export async function generatedFiles(
  members: PackageFacts[],
  store: ContentStore,
  epoch: number,
): Promise<{ entries: LayerEntry[]; notes: string[] }> {
  const ca = members.find((m) => m.package === "ca-certificates");
  if (!ca?.caCertificates) return { entries: [], notes: [] };
  const entries = caCertificatesEntries(ca.caCertificates, ca.package);
  const links = entries.filter((e) => e.type === "symlink");
  const notes = [
    `made /etc/ca-certificates.conf and ${links.length} links in /etc/ssl/certs from ${ca.package}`,
  ];
  if (members.some((m) => m.package === "ca-certificates-java")) {
    const trusted = await trustedCertificates(ca, store);
    entries.push({
      path: JAVA_CACERTS,
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      body: javaKeystore(trusted, epoch),
    });
    entries.push(...JAVA_SYSTEM_PREFS);
    notes.push(`made /${JAVA_CACERTS} (JKS, ${trusted.length} certificates) for ca-certificates-java`);
  }
  return { entries, notes };
}

/** The Java store's entries: one per /etc/ssl/certs/NAME.pem that holds one certificate. */
async function trustedCertificates(ca: PackageFacts, store: ContentStore) {
  const ders = new Map((await bundleCertificates(ca, store)).map((der) => [sha256Hex(der), der]));
  const trusted = [];
  for (const [pem, cert] of linkedCertificates(ca.caCertificates ?? [], ca.package)) {
    if (cert.der === undefined) continue;
    const der = ders.get(cert.der);
    if (!der) {
      throw new StrataError(
        "IO",
        `the CA bundle of ${ca.package} lacks ${cert.path} that its layer record names`,
        {
          hint: "remove the cache directory's layers/ and build again",
        },
      );
    }
    trusted.push({ alias: javaAlias(pem), der });
  }
  return trusted;
}

/** The certificates of the CA bundle that the layer record names. */
async function bundleCertificates(ca: PackageFacts, store: ContentStore): Promise<Buffer[]> {
  return pemCertificates(
    (await readCaBundle(ca, store)).toString("latin1"),
    `the CA bundle of ${ca.package}`,
  );
}

/** The CA bundle a layer record names, read from the content store and verified. */
export async function readCaBundle(facts: PackageFacts, store: ContentStore): Promise<Buffer> {
  return store.readRecorded(facts.caBundle?.sha256 ?? "", `the CA bundle of ${facts.package}`);
}
