import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { type Image, imageDescriptor } from "../../src/oci/image.js";
import { writeLayout } from "../../src/oci/layout.js";
import { runStrata } from "../helpers/cli.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { syntheticImage, syntheticIndex, syntheticLayer } from "../helpers/synthetic-image.js";

const run = promisify(execFile);

/** Blob counts of a push line: "N uploaded (…), N already there, N mounted". */
function counts(line: string): number[] {
  const m = /(\d+) (?:blobs )?uploaded .*?, (\d+) (?:already there|skipped), (\d+) mounted/.exec(line);
  assert.ok(m, `not a push line: ${line}`);
  return m.slice(1).map(Number);
}

describe("CLI reports and local names (starts docker-registry on loopback; runs skopeo)", () => {
  let registry: RegistryServer;
  let work: string;
  let amd: Image;
  let arm: Image;
  const strata = (args: string[]) => runStrata(["--cache-dir", join(work, "cache"), ...args]);
  const pullMulti = (out: string, ...args: string[]) =>
    strata(["pull", `${registry.host}/team/multi:1`, "-o", out, ...args]);

  before(async () => {
    registry = await startRegistry();
    work = await mkdtemp(join(tmpdir(), "strata-cli-reports-"));
    // An arch-independent package's layer is the same blob in both images, as in real multi-arch builds.
    const shared = await syntheticLayer();
    amd = syntheticImage([shared, await syntheticLayer()]);
    arm = syntheticImage([shared, await syntheticLayer()], {
      platform: { architecture: "arm64", os: "linux", variant: "v8" },
    });
    await writeLayout(join(work, "multi"), syntheticIndex([amd, arm]), { tag: "latest" });
    const r = await strata(["push", join(work, "multi"), `${registry.host}/team/multi:1`]);
    assert.equal(r.code, 0, r.stderr);
  });
  after(async () => {
    await registry?.close();
    await rm(work, { recursive: true, force: true });
  });

  test("push per-platform lines add up to the totals when platforms share a layer", async () => {
    for (const repo of ["team/other:1", "team/multi:2"]) {
      const r = await strata(["push", join(work, "multi"), `${registry.host}/${repo}`, "--json"]);
      assert.equal(r.code, 0, r.stderr);
      const lines = r.stderr.split("\n").filter((l) => /^pushed |blobs uploaded/.test(l));
      assert.equal(lines.length, 3, r.stderr);
      const [first, second, total] = lines.map(counts);
      assert.deepEqual(
        first.map((n, i) => n + second[i]),
        total,
        r.stderr,
      );
      assert.match(lines[1], /^pushed linux\/arm64\/v8 .*; the rest shared with linux\/amd64$/);
      const report = JSON.parse(r.stdout);
      assert.equal(report.uploaded + report.skipped + report.mounted, 5);
    }
  });

  test("pull --format foo is a usage error naming the valid formats, and so is build --format foo", async () => {
    for (const args of [
      ["pull", `${registry.host}/team/multi:1`, "-o", join(work, "foo"), "--format", "foo"],
      ["build", "-o", join(work, "foo"), "--format", "foo"],
    ]) {
      const r = await strata(args);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, /'foo' is invalid\. Allowed choices are oci, oci-archive, docker-archive/);
    }
  });

  test("a multi-platform docker-archive needs --platform, which takes OCI and Debian names", async () => {
    const out = join(work, "multi.tar");
    const none = await pullMulti(out, "--format", "docker-archive");
    assert.equal(none.code, 2);
    assert.match(
      none.stderr,
      /a docker-archive holds one image, and this artifact has 2: linux\/amd64, linux\/arm64\/v8/,
    );
    for (const platform of ["linux/arm64", "arm64", "linux/arm64/v8"]) {
      const r = await pullMulti(
        out,
        "--format",
        "docker-archive",
        "--platform",
        platform,
        "--force",
        "--json",
      );
      assert.equal(r.code, 0, r.stderr);
      const { stdout } = await run("skopeo", ["inspect", "--raw", `docker-archive:${out}`]);
      assert.equal(JSON.parse(stdout).layers.length, 2);
      const manifest = JSON.parse((await run("tar", ["-xOf", out, "manifest.json"])).stdout);
      assert.deepEqual(manifest[0].RepoTags, [`${registry.host}/team/multi:1`]);
      assert.equal(JSON.parse(r.stdout).digest.startsWith("sha256:"), true);
    }
    const wrong = await pullMulti(out, "--format", "docker-archive", "--platform", "linux/s390x", "--force");
    assert.equal(wrong.code, 2);
    assert.match(
      wrong.stderr,
      /no image for --platform linux\/s390x \(this artifact has linux\/amd64, linux\/arm64\/v8\)/,
    );
  });

  test("pull --json says what was pulled; an oci-archive is named name:tag so loaders show a real name", async () => {
    const out = join(work, "pulled.tar");
    const r = await pullMulti(out, "--format", "oci-archive", "--json");
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.deepEqual(
      report.images.map((i: { platform: string; digest: string }) => [i.platform, i.digest]),
      [
        ["linux/amd64", imageDescriptor(amd).digest],
        ["linux/arm64/v8", imageDescriptor(arm).digest],
      ],
    );
    assert.equal(report.output, out);
    assert.match(r.stderr, /^pull \[3\/3\] [0-9a-f]{12}$/m, "piped progress counts the distinct layers");
    const index = JSON.parse((await run("tar", ["-xOf", out, "index.json"])).stdout);
    assert.equal(
      index.manifests[0].annotations["org.opencontainers.image.ref.name"],
      `${registry.host}/team/multi:1`,
    );
    const layout = JSON.parse(await readFile(join(work, "multi", "index.json"), "utf8"));
    assert.equal(layout.manifests[0].annotations["org.opencontainers.image.ref.name"], "latest");
  });
});
