import type { Accounts } from "../debian/accounts.js";
import type { Spec } from "./spec.js";

/** Without `accounts:` in the spec: root, and the distroless-style unprivileged user nonroot (65532). */
export const DEFAULT_ACCOUNTS: Accounts = {
  users: [
    { name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" },
    { name: "nonroot", uid: 65532, gid: 65532, home: "/home/nonroot", shell: "/sbin/nologin" },
  ],
  groups: [
    { name: "root", gid: 0 },
    { name: "tty", gid: 5 },
    { name: "staff", gid: 50 },
    { name: "nonroot", gid: 65532 },
  ],
};

/** The spec's accounts with defaults filled in: root always exists, each user has a primary group. */
export function specAccounts(spec: Spec): Accounts {
  if (!spec.accounts) return DEFAULT_ACCOUNTS;
  const groups = spec.accounts.groups.map((g) => ({ name: g.name, gid: g.gid, members: g.members }));
  if (!groups.some((g) => g.gid === 0)) groups.unshift({ name: "root", gid: 0, members: [] });
  const users = spec.accounts.users.map((u) => ({
    name: u.name,
    uid: u.uid,
    gid: u.gid ?? u.uid,
    home: u.home ?? (u.uid === 0 ? "/root" : `/home/${u.name}`),
    shell: u.shell,
    gecos: u.gecos,
  }));
  if (!users.some((u) => u.uid === 0))
    users.unshift({ name: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh", gecos: undefined });
  for (const u of users) {
    if (!groups.some((g) => g.gid === u.gid)) groups.push({ name: u.name, gid: u.gid, members: [] });
  }
  return { users, groups };
}
