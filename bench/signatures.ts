/**
 * The admission webhook with signatures required (`require: signed-by`), beside section 10's rows:
 * 100 images pushed to a loopback docker-registry and signed in cosign's format, then reviewed
 * pinned by digest under the same load. The first review of each digest fetches its `.sig` tag;
 * later ones reuse the verdict cached per (digest, key). The images are indexed first (the webhook
 * indexes nothing) and the registry is given to `--allow-registry`. Runnable alone:
 * `node --import tsx bench/signatures.ts` (BENCH_QUICK=1 for short rows).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { FleetIndex } from "../src/fleet/fleet-index.js";
import { type Image, imageDescriptor } from "../src/oci/image.js";
import { writeLocation } from "../src/oci/locations/locations.js";
import type { ImageLocation } from "../src/oci/locations/name.js";
import { loadPrivateKey, writeSigningKey } from "../src/sign/keys.js";
import { signImage } from "../src/sign/sign-image.js";
import { strataImage } from "../test/helpers/fleet-images.js";
import { startRegistry } from "../test/helpers/registry.js";
import { table } from "./format.js";
import { log } from "./proc.js";
import { serveWebhook, WEBHOOK_COLUMNS, webhookRow } from "./vuln.js";

const IMAGES = 100;

export async function benchSignedWebhook(work: string): Promise<string> {
  const registry = await startRegistry();
  try {
    const { privateFile, publicFile } = await writeSigningKey(join(work, "bench-signing"), "bench", true);
    const key = await loadPrivateKey(privateFile, async () => "bench");
    log(`signatures: pushing and signing ${IMAGES} images`);
    const pinned: string[] = [];
    const images: { image: Image; repository: string }[] = [];
    for (let i = 0; i < IMAGES; i++) {
      // A strata-like image with a package, as section 10's: the webhook decides from the index.
      const { image } = await strataImage([{ name: "libssl3", version: `3.0.${i}-1` }], { label: `app${i}` });
      const ref = { registry: registry.host, repository: `bench/app${i}`, tag: "1" };
      const location: ImageLocation = { transport: "docker", ref, text: `${registry.host}/bench/app${i}:1` };
      await writeLocation(location, { kind: "image", image }, { refName: "1", archiveName: location.text });
      await signImage(location, key, { provenance: false });
      pinned.push(`${registry.host}/bench/app${i}@${imageDescriptor(image).digest}`);
      images.push({ image, repository: `bench/app${i}` });
    }
    // The same images without signatures required, then with: the row beside it is what
    // signatures cost (each policy on a fresh index, so both start from the same state).
    const rows = [];
    for (const [label, policy] of [
      [`${IMAGES} images, no signature required (the baseline)`, "require: {}\n"],
      [
        `${IMAGES} signed images, signed-by required (verdicts cached per digest and key)`,
        `require:\n  signed-by: [${publicFile}]\n`,
      ],
    ] as const) {
      const index = join(work, `index-${rows.length}.db`);
      const fleet = await FleetIndex.open(index);
      for (const { image, repository } of images) {
        const name = {
          registry: registry.host,
          repository,
          tag: "1",
          topDigest: imageDescriptor(image).digest,
        };
        await fleet.add(image, "bench", [name]);
      }
      await fleet.close();
      const { url, ca, stop } = await serveWebhook(work, policy, index, ["--allow-registry", registry.host]);
      try {
        rows.push(await webhookRow(url, ca, label, pinned));
      } finally {
        stop();
      }
    }
    return [
      "### 10b. Admission webhook with signatures required",
      "",
      `As section 10's rows: ${IMAGES} strata-like images in a loopback docker-registry, each signed by the policy's key, reviewed pinned by digest, first without and then with \`require: signed-by\`. Target: p99 < 20 ms, as without signatures.`,
      "",
      table(WEBHOOK_COLUMNS, rows),
    ].join("\n");
  } finally {
    await registry.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const work = await mkdtemp(join(tmpdir(), "strata-bench-signatures-"));
  try {
    process.stdout.write(`${await benchSignedWebhook(work)}\n`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
