import assert from "node:assert/strict";
import { lstat, readdir, readFile, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { followScripts } from "../../src/debian/maintscripts.js";
import { ImageTree } from "../../src/debian/shell/tree.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";
import { realDeb, run, tempDir } from "../helpers/debs.js";

/**
 * base-files' real postinst (network: the host's mirror, once) over its real data: the links it
 * makes of /var/run and /var/lock, and /run/lock as install_directory leaves it.
 */
const TIMEOUT = { timeout: 300_000 };
let dir: string;
let tree: ImageTree;
let skipped: string[];

/** Ships every path of an unpacked package into `t`, with its type, mode, link and bytes. */
async function shipUnpacked(t: ImageTree, root: string, rel = ""): Promise<void> {
  for (const name of await readdir(join(root, rel))) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const st = await lstat(join(root, path));
    const base = { mode: st.mode & 0o7777, uid: 0, gid: 0 };
    if (st.isSymbolicLink())
      t.ship(path, { ...base, type: "symlink", link: await readlink(join(root, path)) });
    else if (st.isDirectory()) {
      t.ship(path, { ...base, type: "dir" });
      await shipUnpacked(t, root, path);
    } else t.ship(path, { ...base, type: "file", body: await readFile(join(root, path)) });
  }
}

before(async () => {
  const deb = await realDeb("base-files");
  dir = await tempDir("base-files");
  await run("dpkg-deb", ["-x", deb.path, join(dir, "data")]);
  await run("dpkg-deb", ["-e", deb.path, join(dir, "control")]);
  tree = new ImageTree();
  await shipUnpacked(tree, join(dir, "data"));
  const postinst = await readFile(join(dir, "control", "postinst"), "utf8");
  const result = followScripts(
    [{ name: "base-files", version: deb.locked.version, architecture: "amd64", postinst }],
    {
      tree,
      architecture: "amd64",
      accounts: DEFAULT_ACCOUNTS,
    },
  );
  skipped = result.skipped.map((s) => `${s.command}: ${s.reason}`);
}, TIMEOUT);
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test("base-files' postinst turns /var/run and /var/lock into links to /run and /run/lock, nothing made inside them", () => {
  assert.deepEqual(tree.at("var/run"), { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: "/run" });
  assert.deepEqual(tree.at("var/lock"), { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: "/run/lock" });
  assert.equal(tree.at("run/run"), undefined, "no link followed into /run");
  assert.equal(tree.at("run/lock/lock"), undefined, "no link followed into /run/lock");
  assert.ok(!skipped.some((s) => /stopped|would have failed|not done/.test(s)), skipped.join("\n"));
});

test("/var/lock resolves to /run/lock, 1777 root:root as install_directory makes it: a non-root user can lock there", () => {
  const lock = tree.resolve("/var/lock");
  assert.equal(lock, "run/lock");
  assert.deepEqual(tree.at(lock), { type: "dir", mode: 0o1777, uid: 0, gid: 0 });
});
