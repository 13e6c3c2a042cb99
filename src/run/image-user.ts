import { open, realpath } from "node:fs/promises";
import { join, sep } from "node:path";
import { StrataError } from "../util/errors.js";

/**
 * The uid, gid and home a run's process gets, from a user as images and `--user` write it (`name`,
 * `uid`, `name:group`, `uid:gid`, empty for root), names looked up in the image's own /etc/passwd and
 * /etc/group, as runtimes do. The files are read inside the root file system only: a link that
 * leads out of it is not followed.
 */

export interface ProcessUser {
  uid: number;
  gid: number;
  home: string;
}

const MAX_ACCOUNTS_BYTES = 1 << 20;
const MAX_ID = 2 ** 32 - 2;

/** The text of `path` inside `rootfs`, or "" when it is missing, too large, or leads outside. */
async function imageFile(rootfs: string, path: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(join(rootfs, path));
  } catch {
    return "";
  }
  const root = await realpath(rootfs);
  if (!real.startsWith(root + sep)) return "";
  const handle = await open(real, "r").catch(() => undefined);
  if (handle === undefined) return "";
  try {
    const buf = Buffer.alloc(MAX_ACCOUNTS_BYTES + 1);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return bytesRead > MAX_ACCOUNTS_BYTES ? "" : buf.subarray(0, bytesRead).toString("utf8");
  } catch {
    return "";
  } finally {
    await handle.close();
  }
}

function records(text: string): string[][] {
  return text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.split(":"));
}

function numeric(text: string): number | undefined {
  if (!/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

function unknown(what: string, name: string, file: string): StrataError {
  return new StrataError("USAGE", `${what} "${name}" is not in the image's ${file}`, {
    hint: "give a name the image has, or a number: --user UID[:GID]",
  });
}

export async function resolveUser(rootfs: string, user: string): Promise<ProcessUser> {
  const [name, group] = user === "" ? ["0", undefined] : user.split(":", 2);
  if (name === "" || group === "") {
    throw new StrataError("USAGE", `user "${user}": empty name`, {
      hint: "write NAME, UID, NAME:GROUP or UID:GID",
    });
  }
  const passwd = records(await imageFile(rootfs, "etc/passwd"));
  const byName = passwd.find((r) => r[0] === name);
  const uid = numeric(name) ?? numeric(byName?.[2] ?? "");
  if (uid === undefined) throw unknown("user", name, "/etc/passwd");
  const entry = byName ?? passwd.find((r) => numeric(r[2] ?? "") === uid);
  let gid = numeric(entry?.[3] ?? "") ?? 0;
  if (group !== undefined) {
    const found =
      numeric(group) ??
      numeric(records(await imageFile(rootfs, "etc/group")).find((r) => r[0] === group)?.[2] ?? "");
    if (found === undefined) throw unknown("group", group, "/etc/group");
    gid = found;
  }
  return { uid, gid, home: entry?.[5] || "/" };
}
