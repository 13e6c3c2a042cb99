import type { KeyObject } from "node:crypto";
import { type Home, homeText } from "../oci/homes/name.js";
import { type Artifact, artifactImages } from "../oci/image.js";
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
  output?: Home;
  platform?: string;
  /** The registry image the build was pushed to. */
  push?: Home;
  /** Attach the SPDX and CycloneDX SBOMs, and the OpenVEX document. */
  sbom: boolean;
  vex: boolean;
  cacheRoot: string;
  registry?: RegistryClientOptions;
  /** Each document attached, and each output that cannot hold them. */
  onNote?: (message: string) => void;
}

interface Target {
  home: Home;
  artifact: Artifact;
}

/**
 * The documents attached to a freshly built artifact where it was written and pushed: SBOMs, the
 * VEX document, signatures with provenance, SBOM attestations. What they need from each layer is
 * kept per layer digest in the cache: a warm build reads no layer and no .deb for them.
 */
export class BuiltDocuments {
  /** The SBOMs attached, by the home they were attached in (signing attests them). */
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
      this.sboms.set(homeText(output), await this.attach({ transport: "oci", path: dir }, artifact, output));
    };
  }

  /** The pushed image's documents, once it is pushed; an archive output is noted as having no place for them. */
  async attachPushed(): Promise<void> {
    if (!this.opts.sbom && !this.opts.vex) return;
    for (const { home, artifact } of this.targets("SBOMs and VEX (strata sbom and strata vex write them)")) {
      if (home === this.opts.output) continue; // attached as it was written
      this.sboms.set(homeText(home), await this.attach(home, artifact, home));
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
    for (const { home, artifact } of this.targets("signatures")) {
      assertSignable(home);
      const report = await signImage(home, key, { artifact, registry, specSha256 });
      onSigned(report);
      reports.push(report);
      for (const a of await attestSboms(home, artifact, this.sboms.get(homeText(home)) ?? [], key, registry))
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
    if (output?.transport === "oci") targets.push({ home: output, artifact: this.layoutArtifact() });
    else if (output) this.opts.onNote?.(`note: ${homeText(output)} cannot hold attached ${what}`);
    if (push) targets.push({ home: push, artifact: this.artifact });
    return targets;
  }

  /** The SBOMs and VEX document of `artifact` attached where `home` keeps it, said as attached to `shown`. */
  private async attach(home: Home, artifact: Artifact, shown: Home): Promise<AttachReport[]> {
    const { registry, cacheRoot, onNote } = this.opts;
    const facts = new ImageFacts({ cacheRoot });
    const sboms = this.opts.sbom ? await attachSboms(home, artifact, { registry, facts }) : [];
    for (const r of sboms)
      onNote?.(`attached ${r.format} SBOM to ${r.platform} ${r.subject} in ${homeText(shown)} (${r.via})`);
    const vexes = this.opts.vex ? await attachBuiltVex(home, artifact, { cacheRoot, registry, facts }) : [];
    for (const r of vexes)
      onNote?.(`attached the VEX document ${r.digest} to ${r.subject} in ${homeText(shown)} (${r.via})`);
    return sboms;
  }
}
