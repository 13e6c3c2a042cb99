import assert from "node:assert/strict";
import { lstat, mkdir, readdir, readFile, readlink, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { followScripts } from "../../src/debian/maintscripts.js";
import { ImageTree } from "../../src/debian/shell/tree.js";
import { DEFAULT_ACCOUNTS } from "../../src/spec/accounts.js";
import { realDeb, run, tempDir } from "../helpers/debs.js";

/**
 * Real bookworm packages' postinsts (network: the host's mirror, once) followed over their real
 * data: base-files' links of /var/run and /var/lock, debianutils' /etc/shells.
 */
const TIMEOUT = { timeout: 300_000 };
let dir: string;

before(async () => {
  dir = await tempDir("real-scripts");
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * Ships every path of an unpacked package into `t`, with its type, mode, link and bytes; under a
 * top-level link of `t` (merged /usr: /bin -> usr/bin) where the link leads, as strata's layers do.
 */
async function shipUnpacked(t: ImageTree, root: string, rel = ""): Promise<void> {
  for (const name of await readdir(join(root, rel))) {
    const path = rel === "" ? name : `${rel}/${name}`;
    const [first, ...below] = path.split("/");
    const link = t.at(first);
    const into = link?.type === "symlink" ? [link.link, ...below].join("/") : path;
    const st = await lstat(join(root, path));
    const base = { mode: st.mode & 0o7777, uid: 0, gid: 0 };
    if (st.isSymbolicLink())
      t.ship(into, { ...base, type: "symlink", link: await readlink(join(root, path)) });
    else if (st.isDirectory()) {
      if (into === path) t.ship(path, { ...base, type: "dir" });
      await shipUnpacked(t, root, path);
    } else t.ship(into, { ...base, type: "file", body: await readFile(join(root, path)) });
  }
}

/** A package's postinst followed over `tree` with the package's data shipped in it. */
async function followReal(name: string, tree: ImageTree): Promise<string[]> {
  const deb = await realDeb(name);
  const into = join(dir, name);
  await mkdir(into);
  await run("dpkg-deb", ["-x", deb.path, join(into, "data")]);
  await run("dpkg-deb", ["-e", deb.path, join(into, "control")]);
  await shipUnpacked(tree, join(into, "data"));
  const postinst = await readFile(join(into, "control", "postinst"), "utf8");
  const result = followScripts([{ name, version: deb.locked.version, architecture: "amd64", postinst }], {
    tree,
    architecture: "amd64",
    accounts: DEFAULT_ACCOUNTS,
  });
  return result.skipped.map((s) => `${s.command}: ${s.reason}`);
}

describe("base-files' postinst", TIMEOUT, () => {
  const tree = new ImageTree();
  let skipped: string[];
  before(async () => {
    skipped = await followReal("base-files", tree);
  });

  test("turns /var/run and /var/lock into links to /run and /run/lock, nothing made inside them", () => {
    assert.deepEqual(tree.at("var/run"), { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: "/run" });
    assert.deepEqual(tree.at("var/lock"), {
      type: "symlink",
      mode: 0o777,
      uid: 0,
      gid: 0,
      link: "/run/lock",
    });
    assert.equal(tree.at("run/run"), undefined, "no link followed into /run");
    assert.equal(tree.at("run/lock/lock"), undefined, "no link followed into /run/lock");
    assert.ok(!skipped.some((s) => /stopped|would have failed|not done/.test(s)), skipped.join("\n"));
  });

  test("/var/lock resolves to /run/lock, 1777 root:root as install_directory makes it: any user can lock there", () => {
    const lock = tree.resolve("/var/lock");
    assert.equal(lock, "run/lock");
    assert.deepEqual(tree.at(lock), { type: "dir", mode: 0o1777, uid: 0, gid: 0 });
  });
});

test(
  "debianutils' update-shells writes /etc/shells and its state as on a merged-/usr system",
  TIMEOUT,
  async () => {
    const tree = new ImageTree();
    for (const link of ["bin", "sbin", "lib"]) {
      tree.ship(link, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: `usr/${link}` });
      tree.ship(`usr/${link}`, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
    }
    for (const path of ["etc", "var/lib"]) tree.ship(path, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
    // As dash ships it.
    tree.ship("usr/share/debianutils/shells.d/dash", {
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      body: Buffer.from("/bin/dash\n"),
    });
    const skipped = await followReal("debianutils", tree);
    const text = (path: string) => tree.at(path)?.body?.toString();
    const shells = ["/bin/sh", "/usr/bin/sh", "/bin/dash", "/usr/bin/dash"];
    assert.equal(
      text("etc/shells"),
      ["# /etc/shells: valid login shells", ...shells, ""].join("\n"),
      skipped.join("\n"),
    );
    assert.equal(text("var/lib/shells.state"), [...shells, ""].join("\n"));
    assert.equal(tree.at("etc/shells")?.mode, 0o644);
  },
);
