import assert from "node:assert/strict";
import { rm } from "node:fs/promises";
import { request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http";
import { join } from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { type Artifact, artifactImages, type Image, imageDescriptor } from "../../src/oci/image.js";
import { readLocation, writeLocation } from "../../src/oci/locations/locations.js";
import type { ImageLocation } from "../../src/oci/locations/name.js";
import { composeImage, imageParts } from "../../src/oci/mutate.js";
import { digestHex } from "../../src/oci/types.js";
import { StrataAnnotation } from "../../src/record/keys.js";
import { readImageRecord, readRecordBytes } from "../../src/record/record.js";
import { withRecords } from "../../src/record/travel.js";
import { StrataError } from "../../src/util/errors.js";
import { runStrata } from "../helpers/cli.js";
import { run, tempDir } from "../helpers/debs.js";
import { strataImage, type TestPackage } from "../helpers/fleet-images.js";
import { serve } from "../helpers/loopback.js";
import { recordOf, withRecord } from "../helpers/record.js";
import { type RegistryServer, startRegistry } from "../helpers/registry.js";

/**
 * The image record attacked as a hostile registry or image author would, and copied or indexed
 * without it as tools that drop referrers leave it (README "Image annotations").
 */

const LIBC: TestPackage = { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" };
const OPENSSL: TestPackage = { name: "libssl3", version: "3.0.11-1~deb12u2", source: "openssl" };
const names = { refName: "latest", archiveName: "strata/record:latest" };

let dir: string;
let registry: RegistryServer;
before(async () => {
  dir = await tempDir("record-hostile");
  registry = await startRegistry();
});
after(async () => {
  await registry.close();
  await rm(dir, { recursive: true, force: true });
});

const recordNamed = (image: Image) => image.manifest.annotations![StrataAnnotation.record];

/** A strata image written to a layout whose record blob was then deleted, read back. */
async function layoutWithoutRecord(label: string): Promise<{ image: Image; artifact: Artifact }> {
  const { image } = await strataImage([LIBC, OPENSSL], { label });
  const layout = join(dir, label);
  await writeLocation({ transport: "oci", path: layout } as ImageLocation, { kind: "image", image }, names);
  await rm(join(layout, "blobs", "sha256", digestHex(recordNamed(image))));
  const artifact = await readLocation({ transport: "oci", path: layout } as ImageLocation);
  return { image: artifactImages(artifact)[0], artifact };
}

/** `image` whose blob source serves `open` for every blob but its layers and config. */
function serving(image: Image, open: (digest: string) => Promise<Readable>): Image {
  return composeImage({ ...imageParts(image), others: { open } });
}

/** Pushes `image` to the registry and answers its record's GETs through a loopback proxy with `answer`. */
async function behindProxy(
  image: Image,
  repository: string,
  answer: (res: ServerResponse) => void,
): Promise<{ ref: string; close: () => Promise<void> }> {
  const location = {
    transport: "docker",
    ref: { registry: registry.host, repository, tag: "1" },
    text: `${registry.host}/${repository}:1`,
  } as ImageLocation;
  await writeLocation(location, { kind: "image", image }, { ...names, registry: { knownBlobs: false } });
  const record = recordNamed(image);
  const proxy = await serve((req: IncomingMessage, res: ServerResponse) => {
    if (req.method === "GET" && req.url?.endsWith(`/blobs/${record}`)) return answer(res);
    const upstream = httpRequest(
      `http://${registry.host}${req.url}`,
      { method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  return { ref: `${new URL(proxy.url).host}/${repository}:1`, close: proxy.close };
}

/** A proxy that trickles the record one byte every 50 ms, forever; `dropped` resolves when the client hangs up. */
async function tricklingProxy(image: Image, repository: string) {
  let dropped: () => void = () => {};
  const hungUp = new Promise<void>((resolve) => {
    dropped = resolve;
  });
  const proxy = await behindProxy(image, repository, (res) => {
    res.writeHead(200, { "content-type": "application/octet-stream" });
    const timer = setInterval(() => res.write("{"), 50);
    res.on("close", () => {
      clearInterval(timer);
      dropped();
    });
  });
  return { ...proxy, dropped: hungUp };
}

async function readThrough(ref: string): Promise<Artifact> {
  const [registryHost, ...rest] = ref.split("/");
  const [repository, tag] = rest.join("/").split(":");
  const location = {
    transport: "docker",
    ref: { registry: registryHost, repository, tag },
    text: ref,
  } as ImageLocation;
  return readLocation(location, { registry: { retry: { attempts: 2, baseDelayMs: 10, maxDelayMs: 10 } } });
}

/** `work` with STRATA_HTTP_TIMEOUT set to `seconds`. */
async function withIdleTimeout<T>(seconds: string, work: () => Promise<T>): Promise<T> {
  const before = process.env.STRATA_HTTP_TIMEOUT;
  process.env.STRATA_HTTP_TIMEOUT = seconds;
  try {
    return await work();
  } finally {
    if (before === undefined) delete process.env.STRATA_HTTP_TIMEOUT;
    else process.env.STRATA_HTTP_TIMEOUT = before;
  }
}

function oneLine(err: unknown, code: string, pattern: RegExp): boolean {
  assert.ok(err instanceof StrataError, String(err));
  assert.equal(err.code, code, err.message);
  assert.doesNotMatch(err.message, /\n/);
  assert.match(err.message, pattern);
  assert.ok(err.hint, "a hint");
  return true;
}

describe("copying an image whose record cannot be read", () => {
  test("absent from its source: copied without it, and the copy says so in one line", async () => {
    const { image, artifact } = await layoutWithoutRecord("absent-copy");
    const notes: string[] = [];
    const copied = await withRecords(artifact, (line) => notes.push(line));
    assert.equal(notes.length, 1);
    assert.match(
      notes[0],
      /^note: sha256:[0-9a-f]{64}: its record sha256:[0-9a-f]{64} is missing .*; copied without it$/,
    );
    assert.equal(artifactImages(copied)[0].attached, undefined);
    const again = join(dir, "absent-copy-again");
    await writeLocation({ transport: "oci", path: again } as ImageLocation, copied, names);
    const [read] = artifactImages(await readLocation({ transport: "oci", path: again } as ImageLocation));
    assert.equal(imageDescriptor(read).digest, imageDescriptor(image).digest);
  });

  test("a registry that fails with 500 fails the copy with one line and a hint, not a silent drop", async () => {
    const { image } = await strataImage([LIBC], { label: "five-hundred" });
    const proxy = await behindProxy(image, "record/five-hundred", (res) => {
      res.writeHead(500);
      res.end("down");
    });
    try {
      const notes: string[] = [];
      await assert.rejects(
        withRecords(await readThrough(proxy.ref), (l) => notes.push(l)),
        (err) => oneLine(err, "REGISTRY", /its record sha256:[0-9a-f]{64} could not be read: .*HTTP 500/),
      );
      assert.deepEqual(notes, []);
    } finally {
      await proxy.close();
    }
  });

  test("a registry serving other bytes for the record fails the copy as not matching its manifest", async () => {
    const { image } = await strataImage([LIBC], { label: "other-bytes" });
    const proxy = await behindProxy(image, "record/other-bytes", (res) => {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(Buffer.from('{"version":1}'));
    });
    try {
      await assert.rejects(withRecords(await readThrough(proxy.ref)), (err) =>
        oneLine(err, "IMAGE_NOT_REBUILDABLE", /its record sha256:[0-9a-f]{64} does not match its manifest/),
      );
    } finally {
      await proxy.close();
    }
  });

  test("a registry that trickles the record, each byte within the idle timeout, is cut at the record deadline, its connection dropped", async () => {
    const { image } = await strataImage([LIBC], { label: "trickle" });
    const proxy = await tricklingProxy(image, "record/trickle");
    try {
      await withIdleTimeout("0.25", async () => {
        const artifact = await readThrough(proxy.ref);
        await assert.rejects(withRecords(artifact), (err) =>
          oneLine(err, "NETWORK", /its record sha256:[0-9a-f]{64} could not be read: not read within 2 s/),
        );
      });
      await proxy.dropped;
    } finally {
      await proxy.close();
    }
  });
});

describe("a hostile record is refused before it is believed", () => {
  test("a record digest that names the image's config or one of its layers is refused without reading it", async () => {
    const { image } = await strataImage([LIBC], { label: "self-named" });
    const opened: string[] = [];
    const counted: Image = {
      ...image,
      blobs: {
        open: (digest, limit) => {
          opened.push(digest);
          return image.blobs.open(digest, limit);
        },
      },
    };
    for (const named of [image.manifest.config.digest, image.manifest.layers[1].digest]) {
      const crafted = {
        ...counted,
        manifest: { ...image.manifest, annotations: { [StrataAnnotation.record]: named } },
      };
      await assert.rejects(readRecordBytes(crafted, "oci:x"), (err) =>
        oneLine(
          err,
          "IMAGE_NOT_REBUILDABLE",
          /^oci:x: its dev\.strata\.record names its own config or a layer$/,
        ),
      );
    }
    assert.deepEqual(opened, []);
  });

  test("a record listing the manifest's layers in another order, or one more or one fewer, is refused", async () => {
    const { image } = await strataImage([LIBC, OPENSSL], { label: "reordered" });
    const record = await recordOf(image);
    const [base, ...rest] = record.layers;
    for (const layers of [
      [...rest.reverse(), base],
      [...record.layers, record.layers[1]],
      record.layers.slice(0, -1),
    ])
      await assert.rejects(readImageRecord(withRecord(image, { ...record, layers }), "oci:x"), (err) =>
        oneLine(err, "IMAGE_NOT_REBUILDABLE", /the record's layers are not the manifest's layers/),
      );
  });

  test("another platform's record, for the same layers, is refused", async () => {
    const { image } = await strataImage([LIBC], { label: "platform" });
    const record = await recordOf(image);
    const crafted = withRecord(image, { ...record, build: { ...record.build, arch: "arm64" } });
    await assert.rejects(readImageRecord(crafted, "oci:x"), (err) =>
      oneLine(
        err,
        "IMAGE_NOT_REBUILDABLE",
        /^oci:x: its record does not match its manifest: the record is of arm64, the image of amd64$/,
      ),
    );
  });

  test("a build record naming a spec file by a path with '..' or a newline, or too many files, is refused in one line", async () => {
    const { image } = await strataImage([LIBC], { label: "files" });
    const record = await recordOf(image);
    const file = { path: "/etc/motd", mode: 0o644, uid: 0, gid: 0, sha256: "a".repeat(64), size: 1 };
    const files = (...list: unknown[]) =>
      withRecord(image, { ...record, build: { ...record.build, files: list } });
    await readImageRecord(files(file), "oci:x");
    for (const path of ["/../etc/passwd", "/etc/motd\nstrata: error: forged", "etc/motd", "/etc//motd", "/"])
      await assert.rejects(readImageRecord(files({ ...file, path }), "oci:x"), (err) =>
        oneLine(
          err,
          "IMAGE_NOT_REBUILDABLE",
          /^oci:x: the build record is malformed at files\.0\.path: must be \/ and a normalised/,
        ),
      );
    await assert.rejects(readImageRecord(files(...Array(10_001).fill(file)), "oci:x"), (err) =>
      oneLine(err, "IMAGE_NOT_REBUILDABLE", /malformed at files: /),
    );
  });

  test("another image's record, named by a manifest of other layers, is refused", async () => {
    const { image } = await strataImage([LIBC], { label: "mine" });
    const { image: other } = await strataImage([OPENSSL], { label: "theirs" });
    const borrowed = serving(image, async () => Readable.from([]));
    const theirs = await readRecordBytes(other, "test");
    const crafted = withRecord(borrowed, theirs);
    await assert.rejects(readImageRecord(crafted, "oci:x"), (err) =>
      oneLine(err, "IMAGE_NOT_REBUILDABLE", /not the manifest's layers/),
    );
  });

  test("a source that serves the record endlessly slowly is cut at the deadline, its stream destroyed", async () => {
    const { image } = await strataImage([LIBC], { label: "slow-local" });
    let stream: Readable | undefined;
    const slow = serving(image, async () => {
      stream = new Readable({ read() {} });
      const timer = setInterval(() => stream!.push("{"), 20);
      stream.on("close", () => clearInterval(timer));
      return stream;
    });
    await withIdleTimeout("0.1", () =>
      assert.rejects(readRecordBytes(slow, "oci:x"), (err) =>
        oneLine(
          err,
          "NETWORK",
          /^oci:x: its record sha256:[0-9a-f]{64} could not be read: not read within 0\.8 s$/,
        ),
      ),
    );
    assert.ok(stream?.destroyed, "the stream is destroyed");
  });
});

describe("the fleet index and an image without its record", () => {
  let index: FleetIndex;
  before(async () => {
    index = await FleetIndex.open(join(dir, "index.db"));
  });
  after(async () => {
    await index.close();
  });

  const ref = (repository: string, topDigest: string) => ({ registry: "", repository, tag: "1", topDigest });

  test("a strata image copied without its record is indexed from its layers, and the add says so", async () => {
    const { image } = await layoutWithoutRecord("absent-index");
    const result = await index.add(image, "oci:absent", [ref("absent", imageDescriptor(image).digest)]);
    assert.equal(result.added, true);
    assert.equal(result.layersRead, 3, "every layer read, as for an image strata did not build");
    assert.match(
      result.note ?? "",
      /^oci:absent: its record sha256:[0-9a-f]{64} is missing \(.*\); its packages were read from its layers$/,
    );
    const packages = await index.packagesOf(imageDescriptor(image).digest);
    assert.deepEqual(
      packages.map((p) => [p.name, p.version, p.source]),
      [
        ["libc6", "2.36-9+deb12u4", "glibc"],
        ["libssl3", "3.0.11-1~deb12u2", "openssl"],
      ],
    );
  });

  test("a record that does not match its manifest is never believed: the image is indexed from its layers, and why", async () => {
    const { image } = await strataImage([LIBC, OPENSSL], { label: "lying" });
    const record = await recordOf(image);
    // The record of another image of the same layer digests: its diff IDs are not this config's.
    const other = {
      ...record,
      layers: record.layers.map((l, i) => (i === 2 ? { ...l, diffId: l.digest } : l)),
    };
    const lying = withRecord(image, other);
    const result = await index.add(lying, "oci:lying", [ref("lying", imageDescriptor(lying).digest)]);
    assert.match(
      result.note ?? "",
      /^oci:lying: its record does not match its manifest: .*; not believed, so its packages were read from its layers$/,
    );
    assert.deepEqual(
      (await index.packagesOf(imageDescriptor(lying).digest)).map((p) => p.name),
      ["libc6", "libssl3"],
    );
  });

  test("a record a registry trickles fails the add (a failure to read, not a refusal), and the connection is dropped", async () => {
    const { image } = await strataImage([LIBC], { label: "trickle-index" });
    const proxy = await tricklingProxy(image, "record/trickle-index");
    try {
      await withIdleTimeout("0.25", async () => {
        const [read] = artifactImages(await readThrough(proxy.ref));
        await assert.rejects(
          index.add(read, "trickled", [ref("trickled", imageDescriptor(read).digest)]),
          (err) =>
            oneLine(
              err,
              "NETWORK",
              /^trickled: its record sha256:[0-9a-f]{64} could not be read: not read within 2 s$/,
            ),
        );
        assert.deepEqual(await index.packagesOf(imageDescriptor(read).digest), []);
      });
      await proxy.dropped;
    } finally {
      await proxy.close();
    }
  });

  test("a record whose build record is malformed is not believed either: indexed from the layers", async () => {
    const { image } = await strataImage([LIBC], { label: "bad-build" });
    const record = await recordOf(image);
    const bad = withRecord(image, { ...record, build: { ...record.build, epoch: -1 } });
    const result = await index.add(bad, "oci:bad", [ref("bad", imageDescriptor(bad).digest)]);
    assert.match(
      result.note ?? "",
      /^oci:bad: the build record is malformed at epoch: .*; not believed, so its packages/,
    );
  });

  test("a strata image copied registry to registry by skopeo (which drops referrers) is indexed (runs skopeo)", async () => {
    const { image } = await strataImage([LIBC], { label: "skopeo" });
    const location = {
      transport: "docker",
      ref: { registry: registry.host, repository: "record/by-strata", tag: "1" },
      text: `${registry.host}/record/by-strata:1`,
    } as ImageLocation;
    await writeLocation(location, { kind: "image", image }, { ...names, registry: { knownBlobs: false } });
    await run("skopeo", [
      "copy",
      "--src-tls-verify=false",
      "--dest-tls-verify=false",
      "--preserve-digests",
      `docker://${registry.host}/record/by-strata:1`,
      `docker://${registry.host}/record/by-skopeo:1`,
    ]);
    const copy = {
      transport: "docker",
      ref: { registry: registry.host, repository: "record/by-skopeo", tag: "1" },
      text: `${registry.host}/record/by-skopeo:1`,
    } as ImageLocation;
    const [copied] = artifactImages(await readLocation(copy));
    const result = await index.add(copied, "by-skopeo", [ref("by-skopeo", imageDescriptor(copied).digest)]);
    assert.match(result.note ?? "", /is missing \(.*404.*\); its packages were read from its layers$/);
    assert.deepEqual(
      (await index.packagesOf(imageDescriptor(copied).digest)).map((p) => p.name),
      ["libc6"],
    );
  });
});

describe("an image without its record on the command line (runs the built CLI)", () => {
  test("index add and push each succeed and say so in one line", async () => {
    const layout = join(dir, "absent-cli");
    await layoutWithoutRecord("absent-cli");
    const env = { XDG_DATA_HOME: join(dir, "cli-data"), STRATA_INDEX: "" };
    const added = await runStrata(["index", "add", `oci:${layout}:latest`], { env });
    assert.equal(added.code, 0, added.stderr);
    assert.match(
      added.stderr,
      /^note: oci:.*absent-cli:latest \(linux\/amd64\): its record sha256:[0-9a-f]{64} is missing \(.*\); its packages were read from its layers$/m,
    );
    assert.match(
      added.stderr,
      /^indexed oci:.*absent-cli:latest \(linux\/amd64\): sha256:[0-9a-f]{64}, 2 packages$/m,
    );
    const pushed = await runStrata(["push", `oci:${layout}:latest`, `oci:${join(dir, "absent-cli-copy")}`], {
      env,
    });
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(
      pushed.stderr,
      /^note: sha256:[0-9a-f]{64}: its record sha256:[0-9a-f]{64} is missing .*; copied without it$/m,
    );
  });
});
