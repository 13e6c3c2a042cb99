import { type Accounts, freeId, SYSTEM_ID_RANGE, USER_ID_RANGE } from "../accounts.js";
import { STATIC_GROUPS, STATIC_USERS } from "../base-passwd.js";
import type { ImageTree } from "./tree.js";

/**
 * adduser, addgroup, useradd and groupadd, made on the image's accounts (the spec's, plus what
 * earlier scripts added), with the id rule of build/accounts.ts; getent and id answer from them.
 * Home directories a command would create are made in the tree.
 */
type User = Accounts["users"][number];
type Group = Accounts["groups"][number];

export interface AccountsContext {
  tree: ImageTree;
  skip(reason: string): void;
  note(text: string): void;
}

const ACCOUNT_NAME = /^[a-z_][a-z0-9_-]{0,31}\$?$/i;
const NOGROUP = { name: "nogroup", gid: 65534 };

export class ScriptAccounts {
  readonly users: User[];
  readonly groups: Group[];
  /** True once a script added or changed an account. */
  changed = false;

  constructor(accounts: Accounts) {
    this.users = accounts.users.map((u) => ({ ...u }));
    this.groups = accounts.groups.map((g) => ({ ...g, members: [...(g.members ?? [])] }));
  }

  user(name: string): User | undefined {
    const found = this.users.find((u) => u.name === name || (/^\d+$/.test(name) && u.uid === Number(name)));
    return found ?? this.staticUser(name);
  }

  group(name: string): Group | undefined {
    const found = this.groups.find((g) => g.name === name || (/^\d+$/.test(name) && g.gid === Number(name)));
    return found ?? this.staticGroup(name);
  }

  /** A base-passwd account a script names, added with its fixed ids when they are free. */
  private staticUser(name: string): User | undefined {
    const fixed = STATIC_USERS.find((u) => u.name === name);
    if (!fixed || this.users.some((u) => u.uid === fixed.uid)) return undefined;
    const group = this.groups.find((g) => g.gid === fixed.gid) ?? this.staticGroupById(fixed.gid);
    if (!group) return undefined;
    const user = { ...fixed };
    this.users.push(user);
    this.changed = true;
    return user;
  }

  private staticGroup(name: string): Group | undefined {
    const gid = STATIC_GROUPS.get(name);
    if (gid === undefined || this.groups.some((g) => g.gid === gid)) return undefined;
    const group = { name, gid, members: [] };
    this.groups.push(group);
    this.changed = true;
    return group;
  }

  private staticGroupById(gid: number): Group | undefined {
    const name = [...STATIC_GROUPS].find(([, id]) => id === gid)?.[0];
    return name === undefined ? undefined : this.staticGroup(name);
  }

  id(name: string, kind: "user" | "group"): number | undefined {
    if (/^\d+$/.test(name)) return Number(name);
    return kind === "user" ? this.user(name)?.uid : this.group(name)?.gid;
  }

  name(id: number, kind: "user" | "group"): string | undefined {
    return kind === "user"
      ? this.users.find((u) => u.uid === id)?.name
      : this.groups.find((g) => g.gid === id)?.name;
  }

  getent(args: string[]): { status: number; stdout?: string } {
    const [db, key] = args;
    if (db === "passwd" && key !== undefined) {
      const u = this.user(key);
      return u
        ? { status: 0, stdout: `${u.name}:x:${u.uid}:${u.gid}:${u.gecos ?? ""}:${u.home}:${u.shell}\n` }
        : { status: 2 };
    }
    if (db === "group" && key !== undefined) {
      const g = this.group(key);
      return g
        ? { status: 0, stdout: `${g.name}:x:${g.gid}:${(g.members ?? []).join(",")}\n` }
        : { status: 2 };
    }
    return { status: 2 };
  }

  idCommand(args: string[]): { status: number; stdout?: string } {
    const name = args.find((a) => !a.startsWith("-"));
    const u = name === undefined ? this.user("root") : this.user(name);
    if (!u) return { status: 1 };
    if (args.includes("-u")) return { status: 0, stdout: `${u.uid}\n` };
    if (args.includes("-g")) return { status: 0, stdout: `${u.gid}\n` };
    return { status: 0, stdout: `uid=${u.uid}(${u.name}) gid=${u.gid}\n` };
  }

  /** adduser and addgroup (Debian's), in the forms maintainer scripts use. */
  adduser(ctx: AccountsContext, command: "adduser" | "addgroup", args: string[]): number {
    const o = parse(args, "home shell ingroup gid uid gecos comment firstuid lastuid".split(" "));
    const system = o.flags.has("system");
    const [name, second] = o.rest;
    if (!name || !ACCOUNT_NAME.test(name)) return 1;
    if (command === "addgroup" || (o.flags.has("group") && !system)) {
      if (second !== undefined) return this.addMember(name, second);
      return this.makeGroup(ctx, name, system, o.values.get("gid"), "lowest") ? 0 : 1;
    }
    if (second !== undefined) return this.addMember(second, name);
    if (this.user(name)) return system ? 0 : 1;
    let group: Group | undefined;
    if (o.flags.has("group")) group = this.makeGroup(ctx, name, true, o.values.get("gid"), "lowest");
    else if (o.values.has("ingroup")) group = this.group(o.values.get("ingroup")!);
    else if (system) group = this.group(NOGROUP.name) ?? this.addGroupRecord(ctx, NOGROUP.name, NOGROUP.gid);
    else group = this.makeGroup(ctx, name, false, o.values.get("gid"), "lowest");
    if (!group) return 1;
    const home = o.values.get("home") ?? (system ? "/nonexistent" : `/home/${name}`);
    const user = this.addUser(ctx, {
      name,
      uid: this.pickId(
        o.values.get("uid"),
        system,
        "lowest",
        new Set(this.users.map((u) => u.uid)),
        group.gid,
      ),
      gid: group.gid,
      home,
      shell: o.values.get("shell") ?? (system ? "/usr/sbin/nologin" : "/bin/bash"),
      gecos: o.values.get("gecos") ?? o.values.get("comment") ?? "",
    });
    if (!user) return 1;
    if (!o.flags.has("no-create-home")) this.makeHome(ctx, user, system ? 0o755 : 0o700);
    return 0;
  }

  /** useradd and groupadd (shadow's). */
  useradd(ctx: AccountsContext, command: "useradd" | "groupadd", args: string[]): number {
    const o = parse(args, "d home-dir s shell g gid u uid c comment G groups K k p".split(" "));
    const system = o.flags.has("r") || o.flags.has("system");
    const name = o.rest[0];
    if (!name || !ACCOUNT_NAME.test(name)) return 3;
    const value = (short: string, long: string) => o.values.get(short) ?? o.values.get(long);
    if (command === "groupadd") {
      if (this.group(name)) return o.flags.has("f") ? 0 : 9;
      return this.makeGroup(ctx, name, system, value("g", "gid"), "highest") ? 0 : 4;
    }
    if (this.user(name)) return 9;
    const groupName = value("g", "gid");
    const group = groupName ? this.group(groupName) : this.makeGroup(ctx, name, system, undefined, "highest");
    if (!group) return 6;
    const user = this.addUser(ctx, {
      name,
      uid: this.pickId(
        value("u", "uid"),
        system,
        "highest",
        new Set(this.users.map((u) => u.uid)),
        group.gid,
      ),
      gid: group.gid,
      home: value("d", "home-dir") ?? `/home/${name}`,
      shell: value("s", "shell") ?? "/bin/sh",
      gecos: value("c", "comment") ?? "",
    });
    if (!user) return 4;
    if (o.flags.has("m") || o.flags.has("create-home")) this.makeHome(ctx, user, 0o755);
    return 0;
  }

  /** A given id, else the group's gid when free as a uid too (adduser --group), else the rule's. */
  private pickId(
    given: string | undefined,
    system: boolean,
    from: "lowest" | "highest",
    taken: Set<number>,
    preferred?: number,
  ): number | undefined {
    if (given !== undefined)
      return /^\d+$/.test(given) && !taken.has(Number(given)) ? Number(given) : undefined;
    const range = system ? SYSTEM_ID_RANGE : USER_ID_RANGE;
    if (
      preferred !== undefined &&
      preferred >= range.first &&
      preferred <= range.last &&
      !taken.has(preferred)
    )
      return preferred;
    return freeId(taken, range, from);
  }

  private makeGroup(
    ctx: AccountsContext,
    name: string,
    system: boolean,
    gid: string | undefined,
    from: "lowest" | "highest",
  ): Group | undefined {
    const existing = this.group(name);
    if (existing) return existing;
    const id = this.pickId(gid, system, from, new Set(this.groups.map((g) => g.gid)));
    return id === undefined ? undefined : this.addGroupRecord(ctx, name, id);
  }

  private addGroupRecord(ctx: AccountsContext, name: string, gid: number): Group {
    const group = { name, gid, members: [] };
    this.groups.push(group);
    this.changed = true;
    ctx.note(`group ${name} (${gid})`);
    return group;
  }

  private addUser(
    ctx: AccountsContext,
    user: Omit<User, "uid"> & { uid: number | undefined },
  ): User | undefined {
    if (user.uid === undefined || /[:\n]/.test(`${user.home}${user.shell}${user.gecos}`)) return undefined;
    const made = { ...user, uid: user.uid };
    this.users.push(made);
    this.changed = true;
    ctx.note(`user ${made.name} (${made.uid}:${made.gid}, home ${made.home})`);
    return made;
  }

  private addMember(user: string, group: string): number {
    const g = this.group(group);
    if (!this.user(user) || !g) return 1;
    g.members ??= [];
    if (!g.members.includes(user)) g.members.push(user);
    this.changed = true;
    return 0;
  }

  private makeHome(ctx: AccountsContext, user: User, mode: number): void {
    if (user.home === "/nonexistent" || user.home === "/") return;
    const path = ctx.tree.resolve(user.home);
    if (ctx.tree.at(path)) return;
    try {
      ctx.tree.writeParents(path); // as adduser's and useradd's mkdir -p
      ctx.tree.write(path, { type: "dir", mode, uid: user.uid, gid: user.gid });
    } catch {
      ctx.skip(`home ${user.home} of ${user.name}: its parent is not a directory in the image`);
    }
  }
}

/** Long options (--name value or --name=value), and short ones (-x value) named in `valued`. */
function parse(args: string[], valued: string[]) {
  const flags = new Set<string>();
  const values = new Map<string, string>();
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const m = /^--?([A-Za-z][A-Za-z-]*)(?:=(.*))?$/.exec(args[i]);
    if (!m) rest.push(args[i]);
    else if (m[2] !== undefined) values.set(m[1], m[2]);
    else if (valued.includes(m[1])) values.set(m[1], args[++i] ?? "");
    else if (args[i].startsWith("--") || m[1].length === 1) flags.add(m[1]);
    else for (const c of m[1]) flags.add(c);
  }
  return { flags, values, rest };
}
