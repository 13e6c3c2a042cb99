import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readOciArchive } from "../../src/oci/archive.js";
import { attachedPayloads } from "../../src/oci/attached.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { readLayout, writeLayout } from "../../src/oci/layout.js";
import { attachToLayout, referrerOf } from "../../src/oci/referrers.js";
import { TAR_END, tarHeader, tarPadding } from "../../src/oci/tar.js";
import { isStrataError } from "../../src/util/errors.js";
import { sha256Hex } from "../../src/util/hash.js";
import { runStrata } from "../helpers/cli.js";
import { freshImage, imageArtifact } from "../helpers/synthetic-image.js";

const GiB = 1024 ** 3;

/** A tar member: its ustar header, its body and the padding. */
function member(path: string, body: Buffer): Buffer {
  const header = tarHeader({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: body.length });
  return Buffer.concat([header, body, tarPadding(body.length)]);
}

/** A header block with its type flag and size field rewritten (and its checksum made right again). */
function craftedHeader(path: string, type: string, size: number): Buffer {
  const block = tarHeader({ path, type: "file", mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0 });
  block.write(type, 156, "latin1");
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124, "latin1");
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148, "latin1");
  return block;
}

/** The files of a layout directory as tar members (what an oci-archive holds). */
async function layoutMembers(dir: string): Promise<Buffer[]> {
  const out = [member("oci-layout", await readFile(join(dir, "oci-layout")))];
  out.push(member("index.json", await readFile(join(dir, "index.json"))));
  for (const name of await readdir(join(dir, "blobs/sha256"))) {
    out.push(member(`blobs/sha256/${name}`, await readFile(join(dir, "blobs/sha256", name))));
  }
  return out;
}

/** Rewrites the layout's only manifest with `edit`, stores it under its new digest and points index.json at it. */
async function editManifest(dir: string, edit: (m: Record<string, unknown>) => void): Promise<void> {
  const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
  const entry = index.manifests[0];
  const manifest = JSON.parse(await readFile(join(dir, "blobs/sha256", entry.digest.slice(7)), "utf8"));
  edit(manifest);
  const bytes = Buffer.from(JSON.stringify(manifest));
  await writeFile(join(dir, "blobs/sha256", sha256Hex(bytes)), bytes);
  entry.digest = `sha256:${sha256Hex(bytes)}`;
  entry.size = bytes.length;
  await writeFile(join(dir, "index.json"), JSON.stringify(index));
}

function refused(pattern: RegExp) {
  return (err: unknown) => isStrataError(err) && pattern.test(err.message);
}

describe("local image locations refuse hostile input with a clear error", () => {
  let work: string;
  let n = 0;
  const layout = async () => {
    const dir = join(work, `layout-${n++}`);
    await writeLayout(dir, imageArtifact((await freshImage(2)).image));
    return dir;
  };
  before(async () => {
    work = await mkdtemp(join(tmpdir(), "strata-hostile-"));
  });
  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  test("attached artifacts listed thousands of times are read once each, and too many distinct ones are refused", async () => {
    const dir = join(work, `layout-${n++}`);
    const image = (await freshImage(2)).image;
    await writeLayout(dir, imageArtifact(image));
    const subject = imageDescriptor(image);
    const type = "application/example+json";
    const referrer = referrerOf(subject, type, { bytes: Buffer.from("{}"), title: "x.json" }, {});
    await attachToLayout(dir, referrer);
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    const entry = index.manifests.find((d: { artifactType?: string }) => d.artifactType === type);
    index.manifests.push(...Array.from({ length: 4000 }, () => entry));
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    const location = { transport: "oci" as const, path: dir };
    const found = await attachedPayloads(location, subject.digest, type, { max: 1024, count: 10 });
    assert.deepEqual(
      found.map((f) => f.bytes.toString()),
      ["{}"],
      "the one artifact, read once",
    );
    index.manifests = [
      index.manifests[0],
      ...Array.from({ length: 1001 }, (_, i) => ({ ...entry, digest: `sha256:${sha256Hex(String(i))}` })),
    ];
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    await assert.rejects(
      attachedPayloads(location, subject.digest, type, { max: 1024, count: 10 }),
      refused(/more than 1000 attached artifacts/),
    );
  });

  test("an index.json digest that is not sha256:<64 hex> is refused before it becomes a path", async () => {
    const dir = await layout();
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    index.manifests[0].digest = "sha256:../../../../etc/passwd";
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    await assert.rejects(
      readLayout(dir),
      refused(/index\.json: index is malformed \(manifests\.0\.digest: must be sha256:<64 lowercase hex>\)/),
    );
  });

  test("a manifest naming a layer by a malformed digest or a negative size is refused", async () => {
    const dir = await layout();
    await editManifest(dir, (m) => {
      (m.layers as { digest: string }[])[1].digest = "sha256:../config";
    });
    await assert.rejects(
      readLayout(dir),
      refused(/sha256:[0-9a-f]{64}: manifest is malformed \(layers\.1\.digest: must be sha256/),
    );
    await editManifest(dir, (m) => {
      (m.layers as { digest: string; size: number }[])[1] = { ...(m.config as object), size: -1 } as never;
    });
    await assert.rejects(readLayout(dir), refused(/manifest is malformed \(layers\.1\.size: /));
  });

  test("a config over 8 MiB is refused before it is read", async () => {
    const dir = await layout();
    const big = Buffer.alloc(9 << 20, 0x20);
    await writeFile(join(dir, "blobs/sha256", sha256Hex(big)), big);
    await editManifest(dir, (m) => {
      m.config = { ...(m.config as object), digest: `sha256:${sha256Hex(big)}`, size: big.length };
    });
    await assert.rejects(
      readLayout(dir),
      refused(/is 9437184 bytes; manifests, indexes and configs over 8 MiB are refused/),
    );
  });

  test("an index.json over 4 MiB is refused before it is parsed, and one over 8 MiB before it is read", async () => {
    const dir = await layout();
    const index = await readFile(join(dir, "index.json"), "utf8");
    await writeFile(join(dir, "index.json"), index + " ".repeat(5 << 20));
    await assert.rejects(
      readLayout(dir),
      refused(/index\.json: index is \d+ bytes, more than the 4194304 allowed/),
    );
    await writeFile(join(dir, "index.json"), index + " ".repeat(9 << 20));
    await assert.rejects(readLayout(dir), refused(/index\.json is \d+ bytes; .* over 8 MiB are refused/));
  });

  test("a blob whose size on disk differs from its descriptor is refused before it is read", async () => {
    const dir = await layout();
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    index.manifests[0].size = 3 * GiB;
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    await assert.rejects(readLayout(dir), (err) => isStrataError(err, "SIZE_MISMATCH"));
  });

  test("an oci-archive with a malformed digest in its index.json is refused", async () => {
    const dir = await layout();
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8"));
    index.manifests[0].digest = "sha512:abc";
    await writeFile(join(dir, "index.json"), JSON.stringify(index));
    const file = join(work, "bad-digest.tar");
    await writeFile(file, Buffer.concat([...(await layoutMembers(dir)), TAR_END]));
    await assert.rejects(
      readOciArchive(file),
      refused(/bad-digest\.tar: index\.json: index is malformed \(manifests\.0\.digest/),
    );
  });

  test("an oci-archive with a 3 GiB PAX header is refused without allocating it", async () => {
    const dir = await layout();
    const file = join(work, "pax-3g.tar");
    const pax = craftedHeader("PaxHeaders/x", "x", 3 * GiB);
    await writeFile(file, Buffer.concat([...(await layoutMembers(dir)), pax, Buffer.alloc(4096), TAR_END]));
    const before = process.memoryUsage().arrayBuffers;
    await assert.rejects(readOciArchive(file), refused(/not a well-formed tar: .* claims 3221225472 bytes/));
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 << 20, "nothing near 3 GiB was allocated");
  });

  test("a text file given as an archive is 'not a tar archive', without its contents in the message", async () => {
    const file = join(work, "notes.md");
    await writeFile(
      file,
      "# notes\n\nnot an archive at all, but long enough to fill a header block\n".repeat(20),
    );
    await assert.rejects(readOciArchive(file), (err) => {
      assert.ok(isStrataError(err, "IO"));
      assert.match(err.message, /this is not a tar archive$/);
      assert.doesNotMatch(err.message, /# notes/);
      return true;
    });
  });

  test("a PAX size record larger than the archive is refused, and so is a small but oversized PAX header", async () => {
    const dir = await layout();
    const records = "19 size=3221225472\n";
    const pax = Buffer.concat([craftedHeader("PaxHeaders/blob", "x", records.length), Buffer.from(records)]);
    const padded = Buffer.concat([pax, tarPadding(records.length)]);
    const file = join(work, "pax-size.tar");
    const members = await layoutMembers(dir);
    await writeFile(file, Buffer.concat([...members.slice(0, 2), padded, ...members.slice(2), TAR_END]));
    await assert.rejects(readOciArchive(file), refused(/claims 3221225472 bytes, more than the file holds/));

    const big = join(work, "pax-2m.tar");
    const huge = craftedHeader("PaxHeaders/x", "x", 2 << 20);
    await writeFile(big, Buffer.concat([...members, huge, Buffer.alloc(2 << 20), TAR_END]));
    await assert.rejects(readOciArchive(big), refused(/an extended header of 2097152 bytes/));
  });

  test("push of a crafted oci-archive exits 1 with one error line, never a stack trace (runs the CLI)", async () => {
    const dir = await layout();
    const file = join(work, "push-crafted.tar");
    const pax = craftedHeader("PaxHeaders/x", "x", 3 * GiB);
    await writeFile(file, Buffer.concat([...(await layoutMembers(dir)), pax, TAR_END]));
    const r = await runStrata(["push", file, "127.0.0.1:9/crafted:1"]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^strata: error: .*push-crafted\.tar: not a well-formed tar/m);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
  });
});
