import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, afterEach, before, describe, it } from "node:test";
import { hostAptSources, type RepositorySource } from "../../src/debian/sources.js";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import type { Descriptor } from "../../src/oci/types.js";
import { readImageRecord } from "../../src/record/record.js";
import { runStrata } from "../helpers/cli.js";
import { run } from "../helpers/debs.js";
import { buildExample, EXAMPLES, exampleCopy, SHARED_CACHE } from "../helpers/examples.js";
import { droppingProxy } from "../helpers/fleet-registry.js";
import { layerOf } from "../helpers/layer-tar.js";
import { replaceLayer } from "../helpers/mutate.js";
import { withRecord } from "../helpers/record.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";
import { runImage } from "../helpers/runtime.js";
import { imageArtifact } from "../helpers/synthetic-image.js";
import { parseDebPurl, trivyComponents } from "../helpers/trivy.js";

const IS_SECURITY = (s: RepositorySource) => s.suites.some((suite) => suite.endsWith("-security"));

/** The host's apt sources as the spec's `repositories:`, with or without the security suites. */
function repositoriesYaml(withSecurity: boolean): string {
  const sources = hostAptSources().filter((s) => withSecurity || !IS_SECURITY(s));
  const entries = sources.map((s) =>
    [
      `  - url: ${s.url}`,
      `    suites: [${s.suites.join(", ")}]`,
      `    components: [${s.components.join(", ")}]`,
    ].join("\n"),
  );
  return `repositories:\n${entries.join("\n")}\n`;
}

/** python3 for amd64 with base-files (so Trivy names the distribution), from the given repositories. */
function pythonSpec(withSecurity: boolean) {
  return (spec: string) =>
    `${repositoriesYaml(withSecurity)}${spec
      .replace(/^archs: .*$/m, "archs: [amd64]")
      .replace(/^packages:\n/m, "packages:\n  - base-files\n")}`;
}

interface Change {
  name: string;
  from: string | null;
  to: string | null;
}

async function layersOf(layout: string): Promise<Descriptor[]> {
  const artifact = await readLayout(layout);
  assert.equal(artifact.kind, "image");
  return artifact.kind === "image" ? artifact.image.manifest.layers : [];
}

const heldBy = (l: Descriptor) => (l.annotations?.["dev.strata.packages"] ?? "").split(" ").filter(Boolean);

async function strata(args: string[], cache = SHARED_CACHE) {
  const r = await runStrata(["--cache-dir", cache, ...args]);
  assert.equal(r.code, 0, r.stderr);
  return { json: JSON.parse(r.stdout.trim().split("\n").at(-1) ?? "null"), stderr: r.stderr };
}

describe("strata update of the python3 example from bookworm to bookworm + security (network: host's mirror; root: runc, umoci; docker-registry; Trivy)", () => {
  let work: string;
  let spec: string;
  let old: string;
  let oldLock: string;
  /** The digest of the updated image, as the first test made it. */
  let updatedDigest: string;
  /** The "name=version" of the packages the first test's update changed. */
  let changed: Set<string> | undefined;
  before(async () => {
    assert.ok(hostAptSources().some(IS_SECURITY), "the host's apt sources have no security suite");
    work = await exampleCopy("python3", pythonSpec(false));
    spec = join(work, "strata.yaml");
    old = (await buildExample(work)).out;
    oldLock = await readFile(join(work, "strata.lock"), "utf8");
    await writeFile(spec, pythonSpec(true)(await readFile(join(EXAMPLES, "python3", "strata.yaml"), "utf8")));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it("swaps the updated packages in place, keeps every other layer, equals a fresh build, runs, and Trivy lists the new versions", async () => {
    const updated = join(work, "updated");
    const { json: report, stderr } = await strata([
      "update",
      `oci:${old}`,
      "--spec",
      spec,
      "--all",
      "-o",
      updated,
      "--json",
    ]);
    const changes: Change[] = report.changes;
    // This depends on today's archive: the host's security suite must carry a newer version of some
    // package in python3's closure (openssl's, in 2025-2026). No package is named: the changes are
    // what the archive offers, and the openssl check below runs only when openssl is among them.
    assert.ok(changes.length > 0, "the host's security suite updates nothing in python3's closure today");
    assert.ok(
      changes.every((c) => c.from && c.to),
      "a point update adds or drops no package",
    );
    const changedHere = new Set(changes.map((c) => `${c.name}=${c.from}`));
    changed = changedHere;
    const [before, after] = [await layersOf(old), await layersOf(updated)];
    assert.equal(after.length, before.length);
    for (const [i, l] of before.entries()) {
      const swapped =
        heldBy(l).some((p) => changedHere.has(p)) || l.annotations?.["dev.strata.layer.kind"] === "files";
      if (!swapped) assert.equal(after[i].digest, l.digest, `layer ${i + 1} (${heldBy(l).join(" ")}) kept`);
      else if (heldBy(l).length > 0) assert.notEqual(after[i].digest, l.digest);
    }
    for (const c of changes)
      assert.match(stderr, new RegExp(`${c.name} \\S+ → ${c.to!.replace(/[.+~]/g, "\\$&")} \\(layer \\d+`));
    const fresh = await strata(["build", "-o", join(work, "fresh"), "--json", spec]);
    assert.equal(fresh.json.digest, report.digest);
    updatedDigest = report.digest;

    const ran = await runImage(updated, "latest", {
      args: ["/usr/bin/python3", "-c", "import ssl, zoneinfo; print(ssl.OPENSSL_VERSION)"],
    });
    assert.equal(ran.code, 0, ran.stderr);
    const ssl = changes.find((c) => c.name === "libssl3");
    if (ssl) assert.match(ran.stdout, new RegExp(`OpenSSL ${ssl.to!.split("-")[0].replace(/\./g, "\\.")}`));

    const bundle = join(work, "bundle");
    await run("umoci", ["unpack", "--image", `${updated}:latest`, bundle]);
    const scanned = (await trivyComponents(join(bundle, "rootfs"), work))
      .filter((c) => c.purl?.startsWith("pkg:deb/"))
      .map((c) => parseDebPurl(c.purl!));
    for (const c of changes)
      assert.ok(
        scanned.some((p) => p.name === c.name && p.version === c.to),
        `Trivy lists ${c.name} ${c.to}`,
      );
  });

  it("keeps unchanged layers on trust and says so; --verify makes them and refuses a layer its record does not account for", async () => {
    assert.ok(changed, "runs after the first test, which finds what the archive updates");
    // The attack: a layer of a package the update leaves alone holds a setuid file no .deb has,
    // while its annotations and the record its manifest names still name the .deb (as anyone with
    // push access can arrange: the record is believed because the manifest names it).
    const artifact = await readLayout(old);
    assert.equal(artifact.kind, "image");
    if (artifact.kind !== "image") return;
    const at = artifact.image.manifest.layers.findIndex(
      (l) =>
        l.annotations?.["dev.strata.layer.kind"] === "package" && !heldBy(l).some((p) => changed!.has(p)),
    );
    const honest = artifact.image.manifest.layers[at];
    const forged = await layerOf([{ path: "usr/bin/backdoor", body: "#!/bin/sh\nid\n" }], {
      annotations: honest.annotations,
    });
    const layer = {
      descriptor: forged.descriptor,
      diffId: forged.diffId,
      open: async () => Readable.from([forged.bytes]),
    };
    const crafted = join(work, "crafted");
    const record = await readImageRecord(artifact.image, old);
    const forgedRecord = {
      ...record,
      layers: record.layers.map((l, i) =>
        i === at ? { ...l, digest: forged.descriptor.digest, diffId: forged.diffId } : l,
      ),
    };
    const tampered = withRecord(replaceLayer(artifact.image, at, layer), forgedRecord);
    await writeLayout(crafted, imageArtifact(tampered), { tag: "latest" });
    const empty = join(work, "verify-cache");
    const update = ["update", `oci:${crafted}`, "--spec", spec, "--all"];
    const trusted = await strata([...update, "-o", join(work, "trusted"), "--json"], empty);
    assert.equal(trusted.json.layersTrusted > 0, true);
    assert.match(
      trusted.stderr,
      /kept from oci:\S+ unread, trusted to be what its record says \(--verify proves them\)/,
    );

    const r = await runStrata(["--cache-dir", empty, ...update, "-o", join(work, "verified"), "--verify"]);
    assert.equal(r.code, 1, r.stderr);
    const what = heldBy(honest).join(" ").replace(/[.+~]/g, "\\$&");
    assert.match(
      r.stderr,
      new RegExp(
        `^strata: error: .*: layer ${at + 1} \\(${what}\\) is ${forged.descriptor.digest}, but what its record names makes ${honest.digest}`,
        "m",
      ),
    );
    assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
    await assert.rejects(readLayout(join(work, "verified")), "nothing written");
    const proven = await strata(
      ["update", `oci:${old}`, "--spec", spec, "--all", "-o", join(work, "proven"), "--verify", "--json"],
      empty,
    );
    assert.equal(proven.json.digest, updatedDigest, "a proven update is the same image");
    assert.equal(proven.json.layersTrusted, 0);
    assert.match(proven.stderr, /every layer the image keeps equals the one strata made/);
  });

  describe("in a registry on loopback", () => {
    let registry: RegistryServer | undefined;
    afterEach(() => registry?.close());

    /** A fresh registry holding the old image under `repo:tag`, and the old lock beside the spec. */
    async function oldImageAt(repoTag: string): Promise<{ ref: string; oldDigest: string }> {
      registry = await startRegistry();
      const ref = `${registry.host}/${repoTag}`;
      await writeFile(join(work, "strata.lock"), oldLock);
      return { ref, oldDigest: (await strata(["push", old, ref, "--json"])).json.digest };
    }

    it("updates the tag in place from an empty cache: downloads only the changed .debs, sends only the new layers, config and manifest", async () => {
      const { ref, oldDigest } = await oldImageAt("py:1");
      const empty = join(work, "empty-cache");
      const update = ["update", `docker://${ref}`, "--spec", spec, "--all", "--json"];
      const { json: report } = await strata(update, empty);
      assert.notEqual(report.digest, oldDigest);
      assert.equal(report.digest, updatedDigest);
      assert.deepEqual(
        [...report.downloaded].sort(),
        report.changes.map((c: Change) => `${c.name}=${c.to}`).sort(),
      );
      const newBytes = report.newLayers.reduce((n: number, l: { size: number }) => n + l.size, 0);
      assert.ok(report.bytesSent >= newBytes, `${report.bytesSent} bytes sent, new layers are ${newBytes}`);
      assert.ok(
        report.bytesSent <= newBytes + 64 * 1024,
        `${report.bytesSent} bytes sent for ${newBytes} of new layers`,
      );
      const pulled = await strata(["pull", ref, "-o", join(work, "pulled"), "--json"]);
      assert.equal(pulled.json.digest, report.digest);
    });

    it("leaves the tag on a whole image when the registry dies after the layers and before the manifest", {
      timeout: 300_000,
    }, async () => {
      const { ref, oldDigest } = await oldImageAt("py:2");
      // The update goes through a proxy that forwards everything but hangs up on every manifest
      // PUT: the layers and config always land, the manifest and the tag never do.
      const seen: string[] = [];
      const proxy = await droppingProxy(registry!.host, (req) => {
        seen.push(`${req.method} ${req.url?.replace(/\?.*$/, "")}`);
        return req.method === "PUT" && /\/manifests\//.test(req.url ?? "");
      });
      try {
        const r = await runStrata([
          ...["--cache-dir", SHARED_CACHE, "update", `docker://${proxy.host}/py:2`],
          ...["--spec", spec, "--all", "--json"],
        ]);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, /^strata: error: .*manifest/m);
        assert.doesNotMatch(r.stderr, /^\s+at /m, "no stack trace");
        const firstManifestPut = seen.findIndex((s) => /^PUT .*\/manifests\//.test(s));
        assert.ok(firstManifestPut >= 0, `the update tried to put its manifest: ${seen.join(", ")}`);
        assert.ok(
          seen.slice(0, firstManifestPut).some((s) => /^(PUT|PATCH|POST) .*\/blobs\/uploads\//.test(s)),
          "new layers were sent before the manifest",
        );
      } finally {
        await proxy.close();
      }
      const pulled = await strata(["pull", ref, "-o", join(work, "after-kill"), "--json"]);
      assert.equal(pulled.json.digest, oldDigest, "the tag still names the old, whole image");
    });
  });
});
