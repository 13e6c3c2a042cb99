/**
 * Peak memory of building one package layer, as a layer worker does it (same code, main thread):
 * `node --import tsx bench/layer-memory.ts DEB [bomb-gz-files]`. With a second argument, DEB is
 * first written as a gzip bomb of that many 1 MiB files of zeros. Prints the outcome, the peak RSS
 * and the peak RSS of the same process before the build (modules loaded), in MiB.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { buildPackageLayer } from "../src/layers/layer.js";
import { resolveCompression } from "../src/oci/compress.js";
import { sha256File } from "../src/util/hash.js";
import { gzipBombTar, rawDeb } from "../test/helpers/debs.js";

const [debArg, bombFiles] = process.argv.slice(2);
const path = debArg;
if (bombFiles) {
  const deb = await rawDeb(dirname(debArg), basename(debArg), {
    name: "data.tar.gz",
    body: await gzipBombTar("usr/zeros", 1 << 20, Number(bombFiles)),
  });
  console.log(deb.path); // measured by a second run, so that making the bomb is not counted
  process.exit(0);
}
const field = (f: string) => execFileSync("dpkg-deb", ["-f", path, f]).toString().trim();
const locked = { name: field("Package"), version: field("Version"), architecture: field("Architecture") };
const mib = (kib: number) => Math.round(kib / 1024);
const before = process.resourceUsage().maxRSS;
const started = Date.now();
let outcome: string;
try {
  const record = await buildPackageLayer({
    debPath: path,
    debSha256: (await sha256File(path)).hex,
    store: await mkdtemp(join(tmpdir(), "strata-mem-")),
    epoch: 0,
    compression: resolveCompression("gzip"),
    keepDocs: false,
    locked,
  });
  outcome = `layer ${record.size} bytes, ${record.files.length} files`;
} catch (err) {
  outcome = `refused: ${(err as Error).message}`;
}
console.log(
  JSON.stringify({
    deb: basename(path),
    outcome,
    seconds: (Date.now() - started) / 1000,
    peakRssMiB: mib(process.resourceUsage().maxRSS),
    rssBeforeMiB: mib(before),
  }),
);
