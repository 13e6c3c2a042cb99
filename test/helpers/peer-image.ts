import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";

/** Images strata did not build: a Debian tree made by mmdebstrap, put in an OCI layout by umoci. */

const exec = promisify(execFile);

/** The host's apt source files, handed to mmdebstrap as its mirrors. */
export async function hostSources(): Promise<string[]> {
  const files = existsSync("/etc/apt/sources.list") ? ["/etc/apt/sources.list"] : [];
  const dir = "/etc/apt/sources.list.d";
  for (const name of existsSync(dir) ? (await readdir(dir)).sort() : []) {
    if (name.endsWith(".sources") || name.endsWith(".list")) files.push(join(dir, name));
  }
  return files;
}

/** What dpkg itself says is installed in a tree: dpkg-query over its database, not strata's parser. */
export async function dpkgInstalled(root: string): Promise<string[]> {
  // dpkg-query's own ${field} syntax, not a template.
  const fields = [
    "db:Status-Status",
    "Package",
    "Version",
    "Architecture",
    "source:Package",
    "source:Version",
  ];
  const format = `${fields.map((f) => `\${${f}}`).join("\t")}\n`;
  const { stdout } = await exec("dpkg-query", [`--admindir=${root}/var/lib/dpkg`, "-W", `-f=${format}`], {
    maxBuffer: 16 << 20,
  });
  return stdout
    .split("\n")
    .filter((line) => line.startsWith("installed\t"))
    .map((line) => line.split("\t").slice(1).join(" "))
    .sort();
}

/**
 * An mmdebstrap (essential variant, the host's mirrors) tree of bookworm, with `packages` if given, at `root`,
 * and one umoci layer of it in the layout `layout` under the tag "latest".
 */
export async function peerImage(root: string, layout: string, packages?: string): Promise<void> {
  const include = packages === undefined ? [] : [`--include=${packages}`];
  await exec(
    "mmdebstrap",
    ["--variant=essential", "--quiet", ...include, "bookworm", root, ...(await hostSources())],
    { maxBuffer: 64 << 20 },
  );
  await exec("umoci", ["init", "--layout", layout]);
  await exec("umoci", ["new", "--image", `${layout}:latest`]);
  await exec("umoci", ["insert", "--image", `${layout}:latest`, root, "/"]);
}
