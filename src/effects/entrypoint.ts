import type { Accounts } from "../debian/accounts.js";
import { STATIC_USERS } from "../debian/base-passwd.js";
import { baseName, type ImageTree, type TreeError } from "../debian/shell/tree.js";
import { DEFAULT_PATH } from "../oci/default-path.js";
import type { Spec } from "../spec/spec.js";
import { StrataError } from "../util/errors.js";
import { compareText } from "../util/order.js";

/**
 * The program an image starts (entrypoint[0], else cmd[0]) must be there: resolved through the
 * image's symlinks (the base layer's merged-/usr links and the links scripts made included), on
 * PATH when it has no "/", to a file the image's user may execute. Otherwise the build fails naming
 * the path. Which package would provide a missing path is not looked up in the repositories (that
 * needs their multi-megabyte Contents index, fetched and verified on an error path); instead the
 * error names files of the same name that the image does have, and the packages that ship them.
 */
export function checkEntrypoint(tree: ImageTree, spec: Spec, accounts: Accounts, arch: string): void {
  const program = spec.entrypoint?.[0] ?? spec.cmd?.[0];
  if (program === undefined) return;
  const what = spec.entrypoint ? "entrypoint" : "cmd";
  const user = imageUser(spec.user, accounts);
  const candidates = program.includes("/")
    ? [program]
    : (spec.env?.PATH ?? DEFAULT_PATH)
        .split(":")
        .filter((d) => d.startsWith("/"))
        .map((d) => `${d}/${program}`);
  const problems: string[] = [];
  for (const path of candidates) {
    const problem = problemWith(tree, path, user);
    if (problem === undefined) return;
    problems.push(problem);
  }
  const shown = program.includes("/")
    ? problems[0]
    : `${program} is not on PATH (${candidates.map((c) => c.slice(0, -program.length - 1)).join(":")})`;
  throw new StrataError("ENTRYPOINT", `${arch}: ${what} ${shown}`, { hint: hint(tree, program, problems) });
}

/**
 * `user:` names accounts the image has: the spec's, base-passwd's fixed ones a script named, and
 * those the packages' scripts made (postgresql-common's postgres). Numeric ids need none.
 */
export function checkImageUser(spec: Spec, accounts: Accounts, arch: string): void {
  if (spec.user === undefined) return;
  const [user, group] = spec.user.split(":", 2);
  const missing = (kind: "user" | "group", name: string, known: string[]) => {
    const fixed = STATIC_USERS.find((u) => u.name === name);
    throw new StrataError(
      "SPEC_INVALID",
      `${arch}: user: "${name}" is not a ${kind} of the image (${known.join(", ")})`,
      {
        hint: fixed
          ? `${name} is one of base-passwd's fixed accounts (uid ${fixed.uid}); give \`user: "${fixed.uid}:${fixed.gid}"\` or add it under accounts.users`
          : `add it under accounts.${kind}s, or give a numeric uid[:gid]`,
      },
    );
  };
  if (!/^\d+$/.test(user) && !accounts.users.some((u) => u.name === user))
    missing(
      "user",
      user,
      accounts.users.map((u) => u.name),
    );
  if (group !== undefined && !/^\d+$/.test(group) && !accounts.groups.some((g) => g.name === group))
    missing(
      "group",
      group,
      accounts.groups.map((g) => g.name),
    );
}

interface ImageUser {
  uid: number;
  gids: Set<number>;
  name: string;
}

/** The spec's `user:` (a name, or uid[:gid]) as ids; root without one. */
function imageUser(spec: string | undefined, accounts: Accounts): ImageUser {
  const [who = "root", group] = (spec ?? "root").split(":");
  const account = accounts.users.find((u) => u.name === who || (/^\d+$/.test(who) && u.uid === Number(who)));
  const uid = account?.uid ?? (/^\d+$/.test(who) ? Number(who) : 0);
  const gid =
    group !== undefined
      ? (accounts.groups.find((g) => g.name === group)?.gid ?? Number(group))
      : (account?.gid ?? uid);
  const name = account?.name ?? who;
  const gids = new Set([gid, ...accounts.groups.filter((g) => g.members?.includes(name)).map((g) => g.gid)]);
  return { uid, gids, name };
}

/** Why `path` cannot be started by `user`; undefined when it can. */
function problemWith(tree: ImageTree, path: string, user: ImageUser): string | undefined {
  let target: string;
  try {
    target = tree.resolve(path);
  } catch (err) {
    return `${path} cannot be resolved: ${(err as TreeError).message}`;
  }
  const node = tree.at(target);
  const via = `/${target}` === path ? "" : ` (it leads to /${target})`;
  if (!node) return `${path} is not in the image${via}`;
  if (node.type !== "file") return `${path} is a directory, not a program${via}`;
  const bits =
    user.uid === 0 ? 0o111 : node.uid === user.uid ? 0o100 : user.gids.has(node.gid) ? 0o010 : 0o001;
  if ((node.mode & bits) === 0) {
    const mode = node.mode.toString(8).padStart(4, "0");
    return `${path} is not executable for user ${user.name} (mode ${mode}, owner ${node.uid}:${node.gid})${via}`;
  }
  return undefined;
}

function hint(tree: ImageTree, program: string, problems: string[]): string {
  if (problems.some((p) => p.includes(" is not executable for user "))) {
    return `give it an executable mode (files: mode: "0755") or run as a user who may execute it (user:)`;
  }
  if (/\s/.test(program)) {
    return `a program and its arguments are one word here: write it as a list, e.g. [${program.split(/\s+/).join(", ")}]`;
  }
  const name = baseName(program);
  const others = [...tree.entries()]
    .filter(([path, node]) => node.type === "file" && baseName(path) === name && (node.mode & 0o111) !== 0)
    .map(([path, node]) => `/${path}${node.owner ? ` (from ${node.owner})` : ""}`)
    .sort(compareText)
    .slice(0, 3);
  if (others.length > 0)
    return `the image has ${others.join(", ")}: point the entrypoint there, or add the package that ships ${program}`;
  return `add the package that ships ${program} to packages: (apt-file search ${name} tells which)`;
}
