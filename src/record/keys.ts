/**
 * The names strata gives what it writes into images (README "Image annotations"): the annotations
 * on layer descriptors and on the manifest, and the types of the record blob and the artifact that
 * carries it. OCI's own annotation keys are in src/oci/types.ts.
 */
export const StrataAnnotation = {
  /** On a layer: space-separated "name=version" of the Debian packages it holds. */
  packages: "dev.strata.packages",
  /** On a layer: what it is: "base", "package", "group" or "files". */
  layerKind: "dev.strata.layer.kind",
  /** On a layer: strata's LAYER_FORMAT_VERSION it was written with (decimal). */
  layerFormat: "dev.strata.layer.format",
  /** On the manifest: "sha256:<hex>" of the image's record blob (src/record/record.ts). */
  record: "dev.strata.record",
} as const;

/** The media type of the record blob: canonical JSON. */
export const RECORD_MEDIA_TYPE = "application/vnd.dev.strata.record.v1+json";

/** The artifactType of the OCI 1.1 artifact that carries the record beside its image. */
export const RECORD_ARTIFACT_TYPE = "application/vnd.dev.strata.record.v1";
