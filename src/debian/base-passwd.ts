/**
 * The accounts base-passwd (Essential: every dpkg-made Debian system has it) defines with fixed
 * ids, from bookworm's base-passwd 3.6.1 `passwd.master` and `group.master`. Maintainer scripts
 * assume them (`chown www-data:adm`, nginx's `user www-data`); strata's images start with the
 * spec's accounts only, and add one of these when a script names it.
 */
export interface StaticUser {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

const NOLOGIN = "/usr/sbin/nologin";

export const STATIC_USERS: readonly StaticUser[] = [
  { name: "daemon", uid: 1, gid: 1, gecos: "daemon", home: "/usr/sbin", shell: NOLOGIN },
  { name: "bin", uid: 2, gid: 2, gecos: "bin", home: "/bin", shell: NOLOGIN },
  { name: "sys", uid: 3, gid: 3, gecos: "sys", home: "/dev", shell: NOLOGIN },
  { name: "sync", uid: 4, gid: 65534, gecos: "sync", home: "/bin", shell: "/bin/sync" },
  { name: "games", uid: 5, gid: 60, gecos: "games", home: "/usr/games", shell: NOLOGIN },
  { name: "man", uid: 6, gid: 12, gecos: "man", home: "/var/cache/man", shell: NOLOGIN },
  { name: "lp", uid: 7, gid: 7, gecos: "lp", home: "/var/spool/lpd", shell: NOLOGIN },
  { name: "mail", uid: 8, gid: 8, gecos: "mail", home: "/var/mail", shell: NOLOGIN },
  { name: "news", uid: 9, gid: 9, gecos: "news", home: "/var/spool/news", shell: NOLOGIN },
  { name: "uucp", uid: 10, gid: 10, gecos: "uucp", home: "/var/spool/uucp", shell: NOLOGIN },
  { name: "proxy", uid: 13, gid: 13, gecos: "proxy", home: "/bin", shell: NOLOGIN },
  { name: "www-data", uid: 33, gid: 33, gecos: "www-data", home: "/var/www", shell: NOLOGIN },
  { name: "backup", uid: 34, gid: 34, gecos: "backup", home: "/var/backups", shell: NOLOGIN },
  { name: "list", uid: 38, gid: 38, gecos: "Mailing List Manager", home: "/var/list", shell: NOLOGIN },
  { name: "irc", uid: 39, gid: 39, gecos: "ircd", home: "/run/ircd", shell: NOLOGIN },
  { name: "nobody", uid: 65534, gid: 65534, gecos: "nobody", home: "/nonexistent", shell: NOLOGIN },
];

export const STATIC_GROUPS: ReadonlyMap<string, number> = new Map([
  ["daemon", 1],
  ["bin", 2],
  ["sys", 3],
  ["adm", 4],
  ["tty", 5],
  ["disk", 6],
  ["lp", 7],
  ["mail", 8],
  ["news", 9],
  ["uucp", 10],
  ["man", 12],
  ["proxy", 13],
  ["kmem", 15],
  ["dialout", 20],
  ["fax", 21],
  ["voice", 22],
  ["cdrom", 24],
  ["floppy", 25],
  ["tape", 26],
  ["sudo", 27],
  ["audio", 29],
  ["dip", 30],
  ["www-data", 33],
  ["backup", 34],
  ["operator", 37],
  ["list", 38],
  ["irc", 39],
  ["src", 40],
  ["shadow", 42],
  ["utmp", 43],
  ["video", 44],
  ["sasl", 45],
  ["plugdev", 46],
  ["staff", 50],
  ["games", 60],
  ["users", 100],
  ["nogroup", 65534],
]);
