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
 * data: base-files' links of /var/run and /var/lock, debianutils' /etc/shells, ssl-cert's and
 * postgresql-common's owners and modes.
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

/** Packages' postinsts followed in order over `tree`, with the packages' data shipped in it. */
async function followReal(names: string[], tree: ImageTree) {
  const packages = [];
  for (const name of names) {
    const deb = await realDeb(name);
    const into = join(dir, name);
    await mkdir(into);
    await run("dpkg-deb", ["-x", deb.path, join(into, "data")]);
    await run("dpkg-deb", ["-e", deb.path, join(into, "control")]);
    await shipUnpacked(tree, join(into, "data"));
    const postinst = await readFile(join(into, "control", "postinst"), "utf8");
    packages.push({ name, version: deb.locked.version, architecture: "amd64", postinst });
  }
  const result = followScripts(packages, { tree, architecture: "amd64", accounts: DEFAULT_ACCOUNTS });
  return { ...result, reasons: result.skipped.map((s) => `${s.command}: ${s.reason}`) };
}

/** The skeleton of strata's base layer that scripts meet: merged /usr and the top directories. */
function skeleton(): ImageTree {
  const tree = new ImageTree();
  for (const link of ["bin", "sbin", "lib"]) {
    tree.ship(link, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: `usr/${link}` });
    tree.ship(`usr/${link}`, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  }
  for (const path of ["etc", "var/lib", "tmp"]) tree.ship(path, { type: "dir", mode: 0o755, uid: 0, gid: 0 });
  return tree;
}

describe("base-files' postinst", TIMEOUT, () => {
  const tree = new ImageTree();
  let reasons: string[];
  before(async () => {
    reasons = (await followReal(["base-files"], tree)).reasons;
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
    assert.ok(!reasons.some((r) => /stopped|would have failed|: not done:/.test(r)), reasons.join("\n"));
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
    const tree = skeleton();
    // As dash ships it.
    tree.ship("usr/share/debianutils/shells.d/dash", {
      type: "file",
      mode: 0o644,
      uid: 0,
      gid: 0,
      body: Buffer.from("/bin/dash\n"),
    });
    const { reasons } = await followReal(["debianutils"], tree);
    const text = (path: string) => tree.at(path)?.body?.toString();
    const shells = ["/bin/sh", "/usr/bin/sh", "/bin/dash", "/usr/bin/dash"];
    assert.equal(
      text("etc/shells"),
      ["# /etc/shells: valid login shells", ...shells, ""].join("\n"),
      reasons.join("\n"),
    );
    assert.equal(text("var/lib/shells.state"), [...shells, ""].join("\n"));
    assert.equal(tree.at("etc/shells")?.mode, 0o644);
  },
);

test(
  "ssl-cert and postgresql-common: /etc/ssl/private 0710 root:ssl-cert, postgres owns its home and /etc/postgresql",
  TIMEOUT,
  async () => {
    const tree = skeleton();
    const { accounts, reasons } = await followReal(["ssl-cert", "postgresql-common"], tree);
    const sslCert = accounts.groups.find((g) => g.name === "ssl-cert")?.gid;
    const postgres = accounts.users.find((u) => u.name === "postgres");
    assert.ok(sslCert !== undefined && postgres !== undefined, reasons.join("\n"));
    const owner = (path: string) => {
      const node = tree.at(path);
      return [node?.mode, node?.uid, node?.gid];
    };
    assert.deepEqual(owner("etc/ssl/private"), [0o710, 0, sslCert]);
    assert.deepEqual(owner("var/lib/postgresql"), [0o755, postgres.uid, postgres.gid]);
    assert.deepEqual(owner("etc/postgresql"), [0o755, postgres.uid, postgres.gid]);
    assert.ok(!reasons.some((r) => /: not done:|would have failed/.test(r)), reasons.join("\n"));
  },
);
