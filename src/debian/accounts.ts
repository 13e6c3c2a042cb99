import { StrataError } from "../util/errors.js";

/** The image's accounts: what /etc/passwd, group and shadow list, and the ids scripts may take. */

export interface Accounts {
  users: { name: string; uid: number; gid: number; home: string; shell: string; gecos?: string }[];
  groups: { name: string; gid: number; members?: string[] }[];
}

/**
 * /etc/passwd, /etc/group, /etc/shadow and /etc/gshadow text, sorted by id then name so input order
 * does not matter. `lastChange` is shadow's date of the last password change, in days since
 * 1970-01-01 (what the shadow tools write; left empty without it).
 */
export function accountFiles(
  accounts: Accounts,
  lastChange?: number,
): {
  passwd: string;
  group: string;
  shadow: string;
  gshadow: string;
} {
  const users = [...accounts.users].sort((a, b) => a.uid - b.uid || compare(a.name, b.name));
  const groups = [...accounts.groups].sort((a, b) => a.gid - b.gid || compare(a.name, b.name));
  checkUnique(
    users.map((u) => u.name),
    "user",
  );
  checkUnique(
    groups.map((g) => g.name),
    "group",
  );
  for (const u of users) {
    checkId(u.uid, `user ${u.name} uid`);
    checkId(u.gid, `user ${u.name} gid`);
    for (const field of [u.name, u.home, u.shell, u.gecos ?? ""]) checkField(field, `user ${u.name}`);
  }
  for (const g of groups) {
    checkId(g.gid, `group ${g.name} gid`);
    checkField(g.name, `group ${g.name}`);
    for (const member of g.members ?? []) checkField(member, `group ${g.name} member`, /[:,\n]/);
  }
  return {
    passwd: users
      .map((u) => `${u.name}:x:${u.uid}:${u.gid}:${u.gecos ?? ""}:${u.home}:${u.shell}\n`)
      .join(""),
    group: groups.map((g) => `${g.name}:x:${g.gid}:${(g.members ?? []).join(",")}\n`).join(""),
    shadow: users.map((u) => `${u.name}:*:${lastChange ?? ""}:0:99999:7:::\n`).join(""),
    gshadow: groups.map((g) => `${g.name}:*::${(g.members ?? []).join(",")}\n`).join(""),
  };
}

/**
 * Ids for accounts that maintainer scripts make (adduser, useradd...), so every build gives the same
 * ones: system accounts take the lowest free id of 100–999 (adduser's rule) or, made with useradd -r
 * or groupadd -r, the highest free one (shadow's rule); other accounts the lowest free from 1000.
 * Scripts run in layer order (configure order), so "free" depends only on the package set.
 */
export const SYSTEM_ID_RANGE = { first: 100, last: 999 } as const;
export const USER_ID_RANGE = { first: 1000, last: 59999 } as const;

export function freeId(
  taken: ReadonlySet<number>,
  range: { first: number; last: number },
  from: "lowest" | "highest",
): number | undefined {
  for (let i = 0; i <= range.last - range.first; i++) {
    const id = from === "lowest" ? range.first + i : range.last - i;
    if (!taken.has(id)) return id;
  }
  return undefined;
}

function compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function checkUnique(names: string[], kind: string): void {
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new StrataError("SPEC_INVALID", `accounts: ${kind} ${name} is defined twice`);
    seen.add(name);
  }
}

function checkId(id: number, what: string): void {
  if (!Number.isInteger(id) || id < 0 || id > 0xfffffffe) {
    throw new StrataError("SPEC_INVALID", `accounts: ${what} ${id} is not a valid id`);
  }
}

/** A field that would split a line of passwd/group/shadow corrupts every account after it. */
function checkField(value: string, what: string, forbidden = /[:\n]/): void {
  if (forbidden.test(value)) {
    throw new StrataError(
      "SPEC_INVALID",
      `accounts: ${what}: "${value}" contains a separator (${forbidden.source})`,
    );
  }
}
