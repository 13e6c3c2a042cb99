import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, test } from "node:test";
import { baseLayerEntries } from "../../src/debian/base-root.js";
import { buildGroupLayer } from "../../src/layers/group-layer.js";
import { buildPackageLayer, type PackageLayerInput } from "../../src/layers/layer.js";
import { LayerCache } from "../../src/layers/layer-cache.js";
import { OverlapChecker, pathsOf } from "../../src/layers/overlaps.js";
import { resolveCompression } from "../../src/oci/compress.js";
import { isStrataError } from "../../src/util/errors.js";
import { type CraftedFile, craftDeb, craftedControl, tempDir } from "../helpers/debs.js";

const ACCOUNTS = { users: [{ name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" }], groups: [] };

async function layerInput(dir: string, pkg: string, files: CraftedFile[], control?: string) {
  const deb = await craftDeb(dir, pkg, files, control);
  const input: PackageLayerInput = {
    debPath: deb.path,
    debSha256: deb.sha256,
    store: join(dir, "store"),
    epoch: 0,
    compression: resolveCompression("gzip"),
    keepDocs: false,
    locked: deb.locked,
  };
  return input;
}

/** Builds each package's real layer and checks them in order above the amd64 base layer. */
async function checkImage(packages: [string, CraftedFile[], string?][]): Promise<OverlapChecker> {
  const dir = await tempDir("overlaps");
  const checker = new OverlapChecker("amd64", pathsOf(baseLayerEntries("amd64", ACCOUNTS)));
  for (const [pkg, files, control] of packages) {
    const record = await buildPackageLayer(await layerInput(dir, pkg, files, control));
    checker.add(record.members, record);
  }
  return checker;
}

function fileConflict(pattern: RegExp) {
  return (err: unknown) => {
    assert.ok(isStrataError(err, "FILE_CONFLICT"), String(err));
    assert.match(err.message, pattern);
    return true;
  };
}

const dir = (name: string): CraftedFile => ({ name, type: "directory" });

describe("type conflicts between layers", () => {
  test("a directory in an upper package over a lower package's symlink is FILE_CONFLICT naming both", async () => {
    await assert.rejects(
      checkImage([
        [
          "links",
          [dir("./usr/"), dir("./usr/lib/"), { name: "./usr/lib/app", type: "symlink", linkname: "/etc" }],
        ],
        [
          "filler",
          [dir("./usr/"), dir("./usr/lib/"), dir("./usr/lib/app/"), { name: "./usr/lib/app/x", body: "x" }],
        ],
      ]),
      fileConflict(/amd64: \/usr\/lib\/app is not a directory in links but a directory in filler/),
    );
  });

  test("a file in an upper package over a lower package's directory is FILE_CONFLICT, even with Replaces", async () => {
    const replacing = `${craftedControl("flat")}Replaces: tree\n`;
    await assert.rejects(
      checkImage([
        [
          "tree",
          [
            dir("./usr/"),
            dir("./usr/share/"),
            dir("./usr/share/data/"),
            { name: "./usr/share/data/a", body: "a" },
          ],
        ],
        ["flat", [dir("./usr/"), dir("./usr/share/"), { name: "./usr/share/data", body: "flat" }], replacing],
      ]),
      fileConflict(/\/usr\/share\/data is a directory in tree but not a directory in flat/),
    );
  });

  test("a package's symlink over a base-layer directory (/var/tmp) or file (/etc/passwd) is FILE_CONFLICT", async () => {
    await assert.rejects(
      checkImage([
        ["tmplink", [dir("./var/"), { name: "./var/tmp", type: "symlink", linkname: "/dev/shm" }]],
      ]),
      fileConflict(/\/var\/tmp is a directory in the base layer but not a directory in tmplink/),
    );
    await assert.rejects(
      checkImage([["passwd", [dir("./etc/"), { name: "./etc/passwd", body: "evil::0:0::/:/bin/sh\n" }]]]),
      fileConflict(/\/etc\/passwd is shipped by the base layer and passwd, and neither Replaces/),
    );
  });

  test("same-typed overlaps still follow Replaces, and packages that agree on directories pass", async () => {
    const replacing = `${craftedControl("newer")}Replaces: older\n`;
    const checker = await checkImage([
      ["older", [dir("./usr/"), dir("./usr/bin/"), { name: "./usr/bin/tool", body: "1" }]],
      ["newer", [dir("./usr/"), dir("./bin/"), { name: "./bin/tool", body: "2" }], replacing],
    ]);
    assert.deepEqual(checker.notes, [
      "amd64: /usr/bin/tool is shipped by older and newer; newer wins (it Replaces older)",
    ]);
  });

  test("two members of a group layer with a symlink/directory conflict are FILE_CONFLICT naming both", async () => {
    const dir2 = await tempDir("group");
    const inputs = [
      await layerInput(dir2, "alpha", [
        dir("./usr/"),
        { name: "./usr/share", type: "symlink", linkname: "lib" },
      ]),
      await layerInput(dir2, "beta", [
        dir("./usr/"),
        dir("./usr/share/"),
        { name: "./usr/share/b", body: "b" },
      ]),
    ];
    const cache = new LayerCache(join(dir2, "cache"), join(dir2, "store"));
    const key = {
      debSha256: "1".repeat(64),
      epoch: 0,
      keepDocs: false,
      compression: resolveCompression("gzip"),
    };
    await assert.rejects(
      buildGroupLayer(inputs, cache, key, "amd64"),
      fileConflict(/\/usr\/share is not a directory in alpha but a directory in beta/),
    );
  });
});
