import assert from "node:assert/strict";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readInventory } from "../../src/inventory/inventory.js";
import { type Artifact, artifactImages, imageDescriptor, jsonBytes } from "../../src/oci/image.js";
import { archiveKind } from "../../src/oci/locations/docker-archive.js";
import { readLocation, writeLocation } from "../../src/oci/locations/locations.js";
import {
  type ImageLocation,
  outputLocation,
  parseLocationName,
  referenceLocation,
  sourceLocation,
} from "../../src/oci/locations/name.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { dpkgStanza, layerOf, type TestEntry, tarBytes } from "../helpers/layer-tar.js";
import { startRegistry } from "../helpers/registry.js";
import { freshImage, imageArtifact, syntheticImage, syntheticIndex } from "../helpers/synthetic-image.js";

const DIGEST = `sha256:${"a".repeat(64)}`;
const NAMES = { refName: "latest", archiveName: "strata/image:latest" };

function usage(pattern: RegExp) {
  return (err: unknown) => isStrataError(err, "USAGE") && pattern.test(err.message);
}

async function layerDigests(artifact: Artifact): Promise<string[][]> {
  const out: string[][] = [];
  for (const image of artifactImages(artifact)) {
    for (const layer of image.manifest.layers) for await (const _ of await image.blobs.open(layer.digest)); // verified
    out.push(image.manifest.layers.map((l) => l.digest));
  }
  return out;
}

describe("image image locations are named in one place", () => {
  test("every transport parses: oci, oci-archive, docker-archive, docker:// and a bare registry reference", () => {
    const cases: [string, ImageLocation | undefined][] = [
      ["oci:/tmp/out", { transport: "oci", path: "/tmp/out", tag: undefined }],
      ["oci:/tmp/out:v1", { transport: "oci", path: "/tmp/out", tag: "v1" }],
      ["oci:out:myapp:v1", { transport: "oci", path: "out", tag: "myapp:v1" }],
      ["oci-archive:/tmp/a.tar:latest", { transport: "oci-archive", path: "/tmp/a.tar", tag: "latest" }],
      ["docker-archive:/tmp/d.tar", { transport: "docker-archive", path: "/tmp/d.tar", name: undefined }],
      [
        "docker-archive:/tmp/d.tar:myapp:v1",
        { transport: "docker-archive", path: "/tmp/d.tar", name: "myapp:v1" },
      ],
      ["out/python3", undefined],
      ["127.0.0.1:5000/team/app:1", undefined],
    ];
    for (const [text, want] of cases) assert.deepEqual(parseLocationName(text), want, text);
    const remote = parseLocationName(`docker://127.0.0.1:5000/team/app@${DIGEST}`);
    assert.deepEqual(remote?.transport === "docker" && remote.ref, {
      registry: "127.0.0.1:5000",
      repository: "team/app",
      digest: DIGEST,
    });
    const hub = referenceLocation("debian:bookworm");
    assert.deepEqual(hub.transport === "docker" && hub.ref, {
      registry: "docker.io",
      repository: "library/debian",
      tag: "bookworm",
    });
    const bare = referenceLocation("localhost:5000/app:2");
    assert.deepEqual(bare.transport === "docker" && [bare.ref.registry, bare.ref.tag], [
      "localhost:5000",
      "2",
    ]);
  });

  test("an unknown transport or a malformed name is refused with a message that names the image locations", () => {
    const cases: [string, RegExp][] = [
      ["dir:/tmp/x", /"dir:" is not a transport strata knows/],
      ["docker-daemon:app:1", /"docker-daemon:" is not a transport strata knows/],
      ["oci:", /no path after oci:/],
      ["docker://", /no registry reference after docker:\/\//],
      ["docker-archive:/tmp/d.tar:notag", /"notag" is not NAME:TAG/],
      ["oci:/tmp/x:bad tag!", /"bad tag!" is not a valid tag/],
    ];
    for (const [text, pattern] of cases) {
      assert.throws(
        () => parseLocationName(text),
        (err) => usage(pattern)(err) && /oci:DIR\[:TAG\]/.test((err as { hint: string }).hint),
        text,
      );
    }
    assert.throws(() => parseLocationName("docker://Team/App"), usage(/must be lowercase/));
  });

  test("-o takes a bare path in --format (oci by default) or a transport name, and a contradiction is refused", () => {
    assert.deepEqual(outputLocation("out/app"), { transport: "oci", path: "out/app" });
    assert.deepEqual(outputLocation("app.tar", "docker-archive"), {
      transport: "docker-archive",
      path: "app.tar",
    });
    assert.deepEqual(outputLocation("oci-archive:app.tar", "oci-archive"), {
      transport: "oci-archive",
      path: "app.tar",
      tag: undefined,
    });
    assert.throws(
      () => outputLocation("oci-archive:app.tar", "docker-archive"),
      usage(/--format docker-archive contradicts the oci-archive: in the name/),
    );
  });
});

describe("one reader and one writer for each image location", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-image locations-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("a layout, an oci-archive and a docker-archive are written and read back with their tags", async () => {
    const { image } = await freshImage(3);
    const artifact = imageArtifact(image);
    const digest = imageDescriptor(image).digest;
    const names = [
      `oci:${join(work, "layout")}:v1`,
      `oci-archive:${join(work, "a.tar")}:v2`,
      `docker-archive:${join(work, "d.tar")}:myapp:v3`,
    ];
    for (const text of names) await writeLocation(parseLocationName(text)!, artifact, NAMES);
    for (const text of names.slice(0, 2)) {
      const back = await readLocation(parseLocationName(text)!);
      assert.equal(back.kind === "image" && imageDescriptor(back.image).digest, digest, text);
    }
    const docker = await readLocation(parseLocationName(names[2])!);
    assert.deepEqual(await layerDigests(docker), [image.manifest.layers.map((l) => l.digest)]);
    assert.ok(docker.kind === "image" && docker.image.configBytes.equals(image.configBytes));
    await assert.rejects(
      readLocation(parseLocationName(`oci:${join(work, "layout")}:v9`)!),
      usage(/has no entry "v9"/),
    );
    await assert.rejects(
      readLocation(parseLocationName(`oci:${join(work, "layout")}:v1`)!, { tag: "v2" }),
      usage(/--tag v2 contradicts the tag "v1" in oci:.*layout:v1/),
    );
    const agreed = await readLocation(parseLocationName(`oci:${join(work, "layout")}:v1`)!, { tag: "v1" });
    assert.equal(agreed.kind === "image" && imageDescriptor(agreed.image).digest, digest);
    await assert.rejects(
      readLocation(parseLocationName(`docker-archive:${join(work, "d.tar")}:other:v3`)!),
      usage(/has no image "other:v3" \(tags: myapp:v3\)/),
    );
  });

  test("a bare path is read as what it holds: a directory is a layout, a file an oci- or docker-archive", async () => {
    const { image } = await freshImage(1);
    await writeLocation({ transport: "oci", path: join(work, "bare-layout") }, imageArtifact(image), NAMES);
    await writeLocation(
      { transport: "oci-archive", path: join(work, "bare-oci.tar") },
      imageArtifact(image),
      NAMES,
    );
    await writeLocation(
      { transport: "docker-archive", path: join(work, "bare-docker.tar") },
      imageArtifact(image),
      NAMES,
    );
    await writeFile(join(work, "junk.tar"), await tarBytes([{ path: "hello", body: "hi" }]));
    const kinds = [];
    for (const name of ["bare-layout", "bare-oci.tar", "bare-docker.tar"]) {
      kinds.push((await sourceLocation(join(work, name), archiveKind)).transport);
    }
    assert.deepEqual(kinds, ["oci", "oci-archive", "docker-archive"]);
    await assert.rejects(
      sourceLocation(join(work, "junk.tar"), archiveKind),
      usage(/is neither an oci-archive nor a docker-archive/),
    );
    const remote = await sourceLocation("127.0.0.1:5000/app:1", archiveKind);
    assert.equal(remote.transport, "docker");
    await assert.rejects(
      sourceLocation("no/such/place", archiveKind),
      usage(/no such layout or archive, and not a registry/),
    );
  });

  test("a multi-platform index goes to a docker-archive only with a platform, which picks its image", async () => {
    const amd = await freshImage(1);
    const arm = await freshImage(1, { platform: { architecture: "arm64", os: "linux" } });
    const index = syntheticIndex([amd.image, arm.image]);
    const location = parseLocationName(`docker-archive:${join(work, "multi.tar")}`)!;
    await assert.rejects(writeLocation(location, index, NAMES), usage(/a docker-archive holds one image/));
    await writeLocation(location, index, { ...NAMES, platform: "arm64" });
    const back = await readLocation(location);
    assert.deepEqual(await layerDigests(back), [arm.image.manifest.layers.map((l) => l.digest)]);
  });

  test("--platform picks one image of an index for a layout and an oci-archive too, never ignored", async () => {
    const amd = await freshImage(1);
    const arm = await freshImage(1, { platform: { architecture: "arm64", os: "linux" } });
    const index = syntheticIndex([amd.image, arm.image]);
    for (const name of [
      `oci:${join(work, "one-platform")}`,
      `oci-archive:${join(work, "one-platform.tar")}`,
    ]) {
      const location = parseLocationName(name)!;
      await writeLocation(location, index, { ...NAMES, platform: "linux/arm64" });
      const back = await readLocation(location);
      assert.equal(back.kind, "image", name);
      assert.deepEqual(await layerDigests(back), [arm.image.manifest.layers.map((l) => l.digest)]);
    }
  });

  test("a registry is an image location like the others: written (pushed) and read (pulled) through the same two functions", async () => {
    const registry = await startRegistry();
    try {
      const { image } = await freshImage(2);
      const location = parseLocationName(`docker://${registry.host}/team/app:1`)!;
      const report = await writeLocation(location, imageArtifact(image), NAMES);
      assert.equal(report?.uploaded, 3);
      const back = await readLocation(location);
      assert.equal(
        back.kind === "image" && imageDescriptor(back.image).digest,
        imageDescriptor(image).digest,
      );
      assert.deepEqual(await layerDigests(back), [image.manifest.layers.map((l) => l.digest)]);
    } finally {
      await registry.close();
    }
  });

  test("a docker-archive written by strata is read back, and the inventory reads its packages from status.d", async () => {
    const layers = [
      await layerOf([
        {
          path: "var/lib/dpkg/status.d/libc6",
          body: dpkgStanza({ name: "libc6", version: "2.36-9", source: "glibc" }),
        },
      ]),
      await layerOf(
        [
          {
            path: "var/lib/dpkg/status.d/zlib1g",
            body: dpkgStanza({ name: "zlib1g", version: "1:1.2.13-1" }),
          },
        ],
        { compression: "zstd" },
      ),
    ];
    const image = syntheticImage(layers);
    const location = parseLocationName(`docker-archive:${join(work, "pkgs.tar")}`)!;
    await writeLocation(location, imageArtifact(image), NAMES);
    const back = await readLocation(location);
    assert.ok(back.kind === "image");
    assert.deepEqual(
      back.image.manifest.layers.map((l) => [l.digest, l.mediaType]),
      image.manifest.layers.map((l) => [l.digest, l.mediaType]),
    );
    const inventory = await readInventory(back.image, "pkgs.tar");
    assert.deepEqual(
      inventory.packages.map((p) => [p.name, p.version, p.source]),
      [
        ["libc6", "2.36-9", "glibc"],
        ["zlib1g", "1:1.2.13-1", "zlib1g"],
      ],
    );
  });
});

/** A `podman save`-style archive: `<hex>.json` config, uncompressed `<diffid>.tar` layers, manifest.json. */
async function podmanArchive(
  file: string,
  opts: { layers: TestEntry[][]; edit?: (m: Record<string, unknown>[], files: TestEntry[]) => void },
) {
  const tars = await Promise.all(opts.layers.map(tarBytes));
  const diffIds = tars.map((t) => sha256Hex(t));
  const config = jsonBytes({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: diffIds.map((h) => `sha256:${h}`) },
  });
  const configName = `${sha256Hex(config)}.json`;
  const manifest = [
    { Config: configName, RepoTags: ["localhost/app:1"], Layers: diffIds.map((h) => `${h}.tar`) },
  ];
  const files: TestEntry[] = [
    { path: configName, body: config },
    ...tars.map((t, i) => ({ path: `${diffIds[i]}.tar`, body: t })),
  ];
  opts.edit?.(manifest, files);
  files.push({ path: "manifest.json", body: JSON.stringify(manifest) });
  await writeFile(file, await tarBytes(files));
}

describe("docker-archives from elsewhere are validated like every other home", () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-docker-archive-"));
    await mkdir(work, { recursive: true });
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const status = (name: string, version: string): TestEntry[] => [
    { path: `var/lib/dpkg/status.d/${name}`, body: dpkgStanza({ name, version }) },
  ];

  test("a podman-style archive with uncompressed layers is read: each layer's digest is its diff ID", async () => {
    const file = join(work, "podman.tar");
    await podmanArchive(file, { layers: [status("a", "1"), status("b", "2")] });
    const artifact = await readLocation({ transport: "docker-archive", path: file, name: "localhost/app:1" });
    assert.ok(artifact.kind === "image");
    const { manifest, config } = artifact.image;
    assert.deepEqual(
      manifest.layers.map((l) => l.digest),
      config.rootfs.diff_ids,
    );
    assert.deepEqual(
      manifest.layers.map((l) => l.mediaType),
      ["application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar"],
    );
    const inventory = await readInventory(artifact.image, file);
    assert.deepEqual(
      inventory.packages.map((p) => `${p.name}=${p.version}`),
      ["a=1", "b=2"],
    );
  });

  test("crafted archives are refused before anything is used: paths out, missing members, wrong hashes, counts", async () => {
    const cases: [string, (m: Record<string, unknown>[], files: TestEntry[]) => void, RegExp][] = [
      [
        "escape",
        (m) => {
          (m[0].Layers as string[])[0] = "../../etc/passwd";
        },
        /Layers.0: must be a relative path inside the archive/,
      ],
      [
        "missing",
        (m) => {
          (m[0].Layers as string[])[0] = "nope.tar";
        },
        /nope.tar is not a file in it/,
      ],
      [
        "count",
        (m) => {
          (m[0].Layers as string[]).pop();
        },
        /1 layers, but its config lists 2 diff IDs/,
      ],
      [
        "reordered",
        (m) => {
          (m[0].Layers as string[]).reverse();
        },
        /layer [a-f0-9]{64}\.tar is not the diff ID sha256:[a-f0-9]{64} its config names/,
      ],
      [
        "lying name",
        (_m, files) => {
          [files[1].body, files[2].body] = [files[2].body, files[1].body];
        },
        /[a-f0-9]{64}\.tar hashes to sha256:/,
      ],
      [
        "no images",
        (m) => {
          m.length = 0;
        },
        /not a well-formed docker-archive: manifest.json: : /,
      ],
    ];
    for (const [name, edit, pattern] of cases) {
      const file = join(work, `${name}.tar`);
      await podmanArchive(file, { layers: [status("a", "1"), status("b", "2")], edit });
      await assert.rejects(
        readLocation({ transport: "docker-archive", path: file }),
        (err) => isStrataError(err) && pattern.test(err.message),
        name,
      );
    }
  });

  test("an uncompressed layer that is not the diff ID its config names is refused", async () => {
    const file = join(work, "diffid.tar");
    await podmanArchive(file, {
      layers: [status("a", "1")],
      edit: (m, files) => {
        const other = files[1];
        other.path = "layer.tar";
        (m[0].Layers as string[])[0] = "layer.tar";
        other.body = Buffer.concat([Buffer.from(other.body!), Buffer.alloc(1024)]);
      },
    });
    await assert.rejects(
      readLocation({ transport: "docker-archive", path: file }),
      (err) => isStrataError(err, "HASH_MISMATCH") && /is not the diff ID/.test(err.message),
    );
  });

  test("a manifest.json that is not JSON is refused", async () => {
    const file = join(work, "not-json.tar");
    await writeFile(file, await tarBytes([{ path: "manifest.json", body: "{" }]));
    await assert.rejects(
      readLocation({ transport: "docker-archive", path: file }),
      /manifest.json is not valid JSON/,
    );
  });

  test("a manifest.json larger than any manifest may be is refused before it is read", async () => {
    const file = join(work, "huge.tar");
    await writeFile(file, await tarBytes([{ path: "manifest.json", body: Buffer.alloc(9 << 20, 0x20) }]));
    await assert.rejects(
      readLocation({ transport: "docker-archive", path: file }),
      /manifests, indexes and configs over 8 MiB are refused/,
    );
  });

  test("a layout layer whose bytes were swapped fails the inventory's read with HASH_MISMATCH", async () => {
    const layer = await layerOf(status("a", "1"));
    const dir = join(work, "tampered");
    await writeLocation({ transport: "oci", path: dir }, imageArtifact(syntheticImage([layer])), NAMES);
    const blob = join(dir, "blobs/sha256", layer.descriptor.digest.slice(7));
    const evil = await layerOf(status("evil", "1"));
    await writeFile(blob, evil.bytes);
    assert.notDeepEqual(await readFile(blob), layer.bytes);
    const back = await readLocation({ transport: "oci", path: dir });
    assert.ok(back.kind === "image");
    await assert.rejects(
      readInventory(back.image, dir),
      (err) => isStrataError(err, "HASH_MISMATCH") || isStrataError(err, "SIZE_MISMATCH"),
    );
  });
});
