import { serializeLock } from "../lock/lock.js";
import { type Artifact, artifactDescriptor, artifactImages } from "../oci/image.js";
import { digestHex } from "../oci/types.js";
import { assertRebuildable, lockOf, type RebuildableImage } from "../record/rebuildable.js";
import { StrataError } from "../util/errors.js";
import { sha256Hex } from "../util/hash.js";
import { STRATA_VERSION } from "../util/version.js";

/**
 * SLSA v1 provenance (slsa.dev/spec/v1.0/provenance) in an in-toto Statement v1, made from what a
 * strata image carries: its build record (lock inputs, InRelease sha256s, options, epoch) and the
 * lock entries on its layers. The lock's digest is the sha256 of the lock strata writes for those
 * entries, so it equals strata.lock's; the spec's digest is known only at build time. Times are
 * the image's epoch: the provenance of a reproducible build is reproducible too.
 */

export const STATEMENT_TYPE = "https://in-toto.io/Statement/v1";
export const SLSA_PROVENANCE_V1 = "https://slsa.dev/provenance/v1";
export const BUILD_TYPE = "urn:strata:build:image:v1";
export const BUILDER_ID = "urn:strata:builder";

export interface ResourceDescriptor {
  uri: string;
  name?: string;
  digest: { sha256: string };
}

export interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  predicate: Record<string, unknown>;
}

async function rebuildableImages(artifact: Artifact, where: string): Promise<RebuildableImage[]> {
  const out: RebuildableImage[] = [];
  for (const image of artifactImages(artifact)) out.push(await assertRebuildable(image, where));
  return out;
}

/** Every .deb the artifact's images hold and every InRelease they were locked from, once each, sorted. */
export async function resolvedDependencies(artifact: Artifact, where: string): Promise<ResourceDescriptor[]> {
  const rebuildable = await rebuildableImages(artifact, where);
  const found = new Map<string, ResourceDescriptor>();
  for (const image of rebuildable) {
    for (const r of image.record.lock.releases)
      found.set(r.inRelease, {
        uri: `${r.url.replace(/\/+$/, "")}/dists/${r.suite}/InRelease`,
        digest: { sha256: r.inRelease },
      });
    for (const p of image.layers.flatMap((l) => l.packages))
      found.set(p.sha256, {
        uri: `${p.repository.replace(/\/+$/, "")}/${p.filename}`,
        name: `${p.name}_${p.version}_${p.architecture}.deb`,
        digest: { sha256: p.sha256 },
      });
  }
  return [...found.values()].sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0));
}

/** The provenance statement of `artifact`, named `name` (its repository or location). */
export async function provenanceStatement(
  artifact: Artifact,
  name: string,
  opts: { specSha256?: string; where: string },
): Promise<Statement> {
  const images = await rebuildableImages(artifact, opts.where);
  const { record } = images[0];
  const when = new Date(record.epoch * 1000).toISOString();
  const externalParameters = {
    ...(opts.specSha256 ? { spec: { digest: { sha256: opts.specSha256 } } } : {}),
    lock: { digest: { sha256: sha256Hex(serializeLock(lockOf(images))) } },
    inputs: record.lock.inputs,
    options: { layers: record.layers, docs: record.docs, epoch: record.epoch },
  };
  return {
    _type: STATEMENT_TYPE,
    subject: [{ name, digest: { sha256: digestHex(artifactDescriptor(artifact).digest) } }],
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: {
        buildType: BUILD_TYPE,
        externalParameters,
        resolvedDependencies: await resolvedDependencies(artifact, opts.where),
      },
      runDetails: {
        builder: { id: BUILDER_ID, version: { strata: STRATA_VERSION } },
        metadata: { startedOn: when, finishedOn: when },
      },
    },
  };
}

/**
 * Why `statement` is not the provenance of `artifact` (its subject is another digest, or its
 * resolved dependencies are not the image's .debs and InReleases), or undefined when it is.
 */
export async function provenanceMismatch(
  statement: Statement,
  artifact: Artifact,
  where: string,
): Promise<string | undefined> {
  const digest = digestHex(artifactDescriptor(artifact).digest);
  if (statement._type !== STATEMENT_TYPE || statement.predicateType !== SLSA_PROVENANCE_V1)
    return "it is not an in-toto statement of SLSA v1 provenance";
  if (!Array.isArray(statement.subject) || !statement.subject.some((s) => s?.digest?.sha256 === digest))
    return `its subject is not ${artifactDescriptor(artifact).digest}`;
  const claimed = (statement.predicate?.buildDefinition as { resolvedDependencies?: unknown })
    ?.resolvedDependencies;
  const key = (d: ResourceDescriptor) => `${d?.uri} ${d?.digest?.sha256}`;
  const want = (await resolvedDependencies(artifact, where)).map(key).sort();
  const got = Array.isArray(claimed) ? (claimed as ResourceDescriptor[]).map(key).sort() : [];
  if (want.length !== got.length || want.some((w, i) => w !== got[i]))
    return "its resolved dependencies are not the image's .debs and InReleases";
  return undefined;
}

/** A statement read from an envelope's payload, its outer shape checked. */
export function parseStatement(bytes: Buffer, where: string): Statement {
  let doc: Statement | undefined;
  try {
    doc = JSON.parse(bytes.toString("utf8"));
  } catch {
    // reported below
  }
  if (
    typeof doc !== "object" ||
    doc === null ||
    typeof doc._type !== "string" ||
    typeof doc.predicate !== "object"
  )
    throw new StrataError(
      "SIGNATURE_INVALID",
      `${where}: the attestation's payload is not an in-toto statement`,
    );
  return doc;
}
