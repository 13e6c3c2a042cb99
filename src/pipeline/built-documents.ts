import type { KeyObject } from "node:crypto";
import { type Artifact, artifactImages } from "../oci/image.js";
import { type ImageLocation, locationText } from "../oci/locations/name.js";
import { chooseImage } from "../oci/platform.js";
import type { RegistryClientOptions } from "../oci/registry/client.js";
import { type AttachReport, attachSboms } from "../sbom/attach.js";
import { ImageFacts } from "../sbom/subject.js";
import { attestSboms } from "../sign/attestations.js";
import { assertSignable, type SignReport, signImage } from "../sign/sign-image.js";
import { sha256File } from "../util/hash.js";
import { attachBuiltVex } from "../vex/vex-image.js";

export interface BuiltDocumentsOptions {
  /** Where the build was written, and which platform of it (a docker-archive holds one). */
  output?: ImageLocation;
  platform?: string;
  /** The registry image the build was pushed to. */
  push?: ImageLocation;
  /** Attach the SPDX and CycloneDX SBOMs, and the OpenVEX document. */
  sbom: boolean;
  vex: boolean;
  cacheRoot: string;
  registry?: RegistryClientOptions;
  /** Each document attached, and each output that cannot hold them. */
  onNote?: (message: string) => void;
}

interface Target {
  location: ImageLocation;
  artifact: Artifact;
}

/**
 * The documents attached to a freshly built artifact where it was written and pushed: SBOMs, the
 * VEX document, signatures with provenance, SBOM attestations. What they need from each layer is
 * kept per layer digest in the cache: a warm build reads no layer and no .deb for them.
 */
export class BuiltDocuments {
  /** The SBOMs attached, by the image location they were attached in (signing attests them). */
  private readonly sboms = new Map<string, AttachReport[]>();

  constructor(
    private readonly artifact: Artifact,
    private readonly opts: BuiltDocumentsOptions,
  ) {}

  /** Every SBOM attached so far. */
  attachedSboms(): AttachReport[] {
    return [...this.sboms.values()].flat();
  }

  /**
   * For the OCI layout being written: attaches its documents to the layout in `dir` before it is put
   * in place, so that it appears whole with them or not at all. Undefined when there is nothing to do.
   */
  layoutCompleter(): ((dir: string) => Promise<void>) | undefined {
    const { output } = this.opts;
    if (output?.transport !== "oci" || (!this.opts.sbom && !this.opts.vex)) return undefined;
    const artifact = this.layoutArtifact();
    return async (dir) => {
      this.sboms.set(
        locationText(output),
        await this.attach({ transport: "oci", path: dir }, artifact, output),
      );
    };
  }

  /** The pushed image's documents, once it is pushed; an archive output is noted as having no place for them. */
  async attachPushed(): Promise<void> {
    if (!this.opts.sbom && !this.opts.vex) return;
    for (const { location, artifact } of this.targets(
      "SBOMs and VEX (strata sbom and strata vex write them)",
    )) {
      if (location === this.opts.output) continue; // attached as it was written
      this.sboms.set(locationText(location), await this.attach(location, artifact, location));
    }
  }

  /**
   * Signs each target with `key` and attaches its signed provenance (naming the sha256 of the spec at
   * `specPath`), then attests the SBOMs attached there; `onSigned` hears each signing as it is done.
   */
  async sign(
    key: KeyObject,
    specPath: string,
    onSigned: (report: SignReport) => void,
  ): Promise<SignReport[]> {
    const specSha256 = (await sha256File(specPath)).hex;
    const registry = this.opts.registry ?? {};
    const reports: SignReport[] = [];
    for (const { location, artifact } of this.targets("signatures")) {
      assertSignable(location);
      const report = await signImage(location, key, { artifact, registry, specSha256 });
      onSigned(report);
      reports.push(report);
      for (const a of await attestSboms(
        location,
        artifact,
        this.sboms.get(locationText(location)) ?? [],
        key,
        registry,
      ))
        this.opts.onNote?.(`attested the ${a.format} SBOM of ${a.subject} (${a.via})`);
    }
    return reports;
  }

  /** The layout's artifact: the platform chosen of it, else all of it. */
  private layoutArtifact(): Artifact {
    if (this.opts.platform === undefined) return this.artifact;
    const image = chooseImage(artifactImages(this.artifact), this.opts.platform, "--platform");
    return { kind: "image", image };
  }

  /** Where `what` goes: the OCI layout written and the registry pushed to (an archive holds none: noted). */
  private targets(what: string): Target[] {
    const { output, push } = this.opts;
    const targets: Target[] = [];
    if (output?.transport === "oci") targets.push({ location: output, artifact: this.layoutArtifact() });
    else if (output) this.opts.onNote?.(`note: ${locationText(output)} cannot hold attached ${what}`);
    if (push) targets.push({ location: push, artifact: this.artifact });
    return targets;
  }

  /** The SBOMs and VEX document of `artifact` attached where `location` keeps it, said as attached to `shown`. */
  private async attach(
    location: ImageLocation,
    artifact: Artifact,
    shown: ImageLocation,
  ): Promise<AttachReport[]> {
    const { registry, cacheRoot, onNote } = this.opts;
    const facts = new ImageFacts({ cacheRoot });
    const sboms = this.opts.sbom ? await attachSboms(location, artifact, { registry, facts }) : [];
    for (const r of sboms)
      onNote?.(
        `attached ${r.format} SBOM to ${r.platform} ${r.subject} in ${locationText(shown)} (${r.via})`,
      );
    const vexes = this.opts.vex
      ? await attachBuiltVex(location, artifact, { cacheRoot, registry, facts })
      : [];
    for (const r of vexes)
      onNote?.(`attached the VEX document ${r.digest} to ${r.subject} in ${locationText(shown)} (${r.via})`);
    return sboms;
  }
}
