import assert from "node:assert/strict";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { answerReview, webhookDecider } from "../../src/admission/webhook.js";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { writeLocation } from "../../src/oci/locations/locations.js";
import { loadPolicy } from "../../src/policy/policy.js";
import { runStrata } from "../helpers/cli.js";
import { tempDir } from "../helpers/debs.js";
import { strataImage } from "../helpers/fleet-images.js";
import { BASE_FILES, OLD_CURL, OLD_ZLIB, storeTrackerFixture } from "../helpers/page-fleet.js";

/**
 * One policy, a table of images, four ways of asking: `check`, `scan --fail-on` (the policy's
 * severity, as a level), `audit` over running pods and the webhook. They must agree, image by image.
 */

const POLICY = `deny:
  fixable: { severity: high }
  unfixed: { severity: high }
require: { coverage: true }
`;
const NEW_SSL = { name: "libssl3", version: "3.0.17-1~deb12u3", source: "openssl" };
const OLD_SSL = { name: "libssl3", version: "3.0.15-1~deb12u1", source: "openssl" };
const TRIXIE = { name: "base-files", version: "13.8+deb13u1" };

/** name → packages, and what the policy should say. */
const TABLE = [
  { name: "clean", packages: [BASE_FILES, NEW_SSL], allowed: true },
  { name: "fixable-high", packages: [BASE_FILES, OLD_SSL], allowed: false },
  { name: "below-the-bar", packages: [BASE_FILES, OLD_CURL], allowed: true },
  { name: "critical", packages: [BASE_FILES, OLD_ZLIB], allowed: false },
  { name: "uncovered", packages: [TRIXIE, NEW_SSL], allowed: false },
];

function pod(name: string, image: string) {
  const status = { containerStatuses: [{ name: "app", image, imageID: image }] };
  return {
    kind: "Pod",
    metadata: { name, namespace: "shop" },
    spec: { containers: [{ name: "app", image }] },
    status,
  };
}

describe("check, scan --fail-on, audit and the webhook give one verdict per image", {
  timeout: 180_000,
}, () => {
  let dir: string;
  let index: string;
  let policy: string;
  const images = new Map<string, { layout: string; ref: string }>();

  before(async () => {
    dir = await tempDir("one-decider");
    index = join(dir, "index.db");
    policy = join(dir, "policy.yaml");
    await writeFile(policy, POLICY);
    await writeFile(join(dir, "lenient.yaml"), "{}\n");
    const fleet = await FleetIndex.open(index);
    for (const row of TABLE) {
      const { image } = await strataImage(row.packages, { label: row.name });
      const digest = imageDescriptor(image).digest;
      const layout = join(dir, row.name);
      await writeLocation(
        { transport: "oci", path: layout, tag: "1" },
        { kind: "image", image },
        { refName: "1", archiveName: `${row.name}:1` },
      );
      await fleet.add(image, row.name, [
        { registry: "registry.example", repository: `shop/${row.name}`, tag: "", topDigest: digest },
      ]);
      images.set(row.name, { layout, ref: `registry.example/shop/${row.name}@${digest}` });
    }
    await storeTrackerFixture(fleet);
    await fleet.close();
  });

  test("every image gets the same verdict from all four, and the one the table expects", async () => {
    const pods = { items: TABLE.map((row) => pod(row.name, images.get(row.name)!.ref)) };
    await writeFile(join(dir, "pods.json"), JSON.stringify(pods));
    const audit = await runStrata([
      "audit",
      "--pods",
      join(dir, "pods.json"),
      "--policy",
      policy,
      "--index",
      index,
      "--json",
    ]);
    const notes = await runStrata([
      "audit",
      "--pods",
      join(dir, "pods.json"),
      "--policy",
      join(dir, "lenient.yaml"),
      "--index",
      index,
    ]);
    assert.match(
      notes.stdout,
      /^shop\/uncovered: note: containers\[0\] \S+: vulnerabilities unknown: no advisories cover trixie$/m,
    );
    assert.doesNotMatch(notes.stdout, /shop\/clean: note/);
    const audited = new Map<string, boolean>(
      JSON.parse(audit.stdout).pods.map((p: { name: string; rejected: boolean }) => [p.name, !p.rejected]),
    );
    const fleet = await FleetIndex.open(index);
    const decider = webhookDecider({ policy: await loadPolicy(policy), index: fleet });
    try {
      for (const row of TABLE) {
        const { layout, ref } = images.get(row.name)!;
        const check = await runStrata([
          "check",
          `oci:${layout}:1`,
          "--policy",
          policy,
          "--index",
          index,
          "--json",
        ]);
        const scan = await runStrata(["scan", `oci:${layout}:1`, "--index", index, "--fail-on", "high"]);
        const request = {
          uid: row.name,
          kind: { group: "", version: "v1", kind: "Pod" },
          namespace: "shop",
          name: row.name,
          object: pod(row.name, ref),
        };
        const { answer } = await answerReview(decider, request, {
          audit: false,
          failurePolicy: "closed",
          deadlineMs: 10_000,
        });
        const verdicts = {
          check: JSON.parse(check.stdout).decisions[0].allowed,
          scan: scan.code === 0,
          audit: audited.get(row.name),
          webhook: answer.allowed,
        };
        assert.ok([0, 3].includes(scan.code ?? -1), scan.stderr);
        assert.deepEqual(
          verdicts,
          { check: row.allowed, scan: row.allowed, audit: row.allowed, webhook: row.allowed },
          row.name,
        );
      }
    } finally {
      await fleet.close();
    }
  });
});
