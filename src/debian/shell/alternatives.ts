import type { ImageTree } from "./tree.js";

/**
 * update-alternatives, as its automatic mode leaves the links: per name, the registered choice of
 * the highest priority wins (ties: the first registered), and LINK -> /etc/alternatives/NAME ->
 * PATH is made right away, so later scripts see it. A choice whose path is not in the image is
 * refused (as update-alternatives does); a slave whose path is not in the image (a man page dropped
 * with the docs) gets no link.
 */
interface Choice {
  path: string;
  priority: number;
  slaves: { link: string; name: string; path: string }[];
}

interface Group {
  link: string;
  choices: Choice[];
  /** Set with --set: the chosen path, whatever the priorities. */
  manual?: string;
}

export interface AlternativesContext {
  tree: ImageTree;
  skip(reason: string): void;
  note(text: string): void;
}

const NAME = /^[A-Za-z0-9_.+@-][A-Za-z0-9_.+@:-]*$/;

export class Alternatives {
  private readonly groups = new Map<string, Group>();

  run(ctx: AlternativesContext, args: string[]): { status: number; stdout?: string } {
    const rest = args.filter(
      (a) => a !== "--quiet" && a !== "--verbose" && !a.startsWith("--altdir") && !a.startsWith("--admindir"),
    );
    const [action, ...operands] = rest;
    switch (action) {
      case "--install":
        return { status: this.install(ctx, operands) };
      case "--remove":
        return { status: this.remove(ctx, operands[0], operands[1]) };
      case "--set":
        return { status: this.set(ctx, operands[0], operands[1]) };
      case "--auto":
      case "--config":
      case "--remove-all":
        if (action === "--remove-all") this.groups.delete(operands[0]);
        return { status: 0 };
      case "--list":
        return this.list(operands[0]);
      case "--query":
      case "--display":
        return this.query(operands[0]);
      default:
        ctx.skip(`update-alternatives ${action ?? ""} is not supported`);
        return { status: 0 };
    }
  }

  private install(ctx: AlternativesContext, operands: string[]): number {
    const [link, name, path, priorityText, ...rest] = operands;
    if (
      !link?.startsWith("/") ||
      !path?.startsWith("/") ||
      !NAME.test(name ?? "") ||
      !/^-?\d+$/.test(priorityText ?? "")
    )
      return 2;
    if (ctx.tree.lookup(path) === undefined) {
      ctx.skip(`${path} is not in the image, so ${name} gets no link`);
      return 2;
    }
    const slaves: Choice["slaves"] = [];
    for (let i = 0; i < rest.length; i += 4) {
      if (rest[i] !== "--slave" || rest.length < i + 4) return 2;
      const [slink, sname, spath] = rest.slice(i + 1, i + 4);
      if (!slink.startsWith("/") || !spath.startsWith("/") || !NAME.test(sname)) return 2;
      slaves.push({ link: slink, name: sname, path: spath });
    }
    const group = this.groups.get(name) ?? { link, choices: [] };
    group.choices = group.choices.filter((c) => c.path !== path);
    group.choices.push({ path, priority: Number(priorityText), slaves });
    this.groups.set(name, group);
    this.apply(ctx, name);
    return 0;
  }

  private remove(ctx: AlternativesContext, name: string | undefined, path: string | undefined): number {
    const group = name === undefined ? undefined : this.groups.get(name);
    if (!group || !name) return 0;
    group.choices = group.choices.filter((c) => c.path !== path);
    if (group.manual === path) group.manual = undefined;
    this.apply(ctx, name);
    return 0;
  }

  private set(ctx: AlternativesContext, name: string | undefined, path: string | undefined): number {
    const group = name === undefined ? undefined : this.groups.get(name);
    if (!group || !name || !group.choices.some((c) => c.path === path)) return 2;
    group.manual = path;
    this.apply(ctx, name);
    return 0;
  }

  private best(group: Group): Choice | undefined {
    const manual = group.choices.find((c) => c.path === group.manual);
    if (manual) return manual;
    return group.choices.reduce<Choice | undefined>(
      (best, c) => (!best || c.priority > best.priority ? c : best),
      undefined,
    );
  }

  /** Makes the links of a group's best choice (or removes them when there is none). */
  private apply(ctx: AlternativesContext, name: string): void {
    const group = this.groups.get(name)!;
    const best = this.best(group);
    const allSlaves = new Map(group.choices.flatMap((c) => c.slaves).map((s) => [s.name, s.link]));
    if (!best) {
      this.unlink(ctx, group.link, name);
      for (const [sname, slink] of allSlaves) this.unlink(ctx, slink, sname);
      return;
    }
    this.link(ctx, group.link, name, best.path);
    for (const [sname, slink] of allSlaves) {
      const slave = best.slaves.find((s) => s.name === sname);
      if (slave && ctx.tree.lookup(slave.path) !== undefined) this.link(ctx, slave.link, sname, slave.path);
      else {
        this.unlink(ctx, slink, sname);
        if (slave) ctx.note(`alternative ${sname}: no link, ${slave.path} is not in the image`);
      }
    }
  }

  private link(ctx: AlternativesContext, link: string, name: string, path: string): void {
    const { tree } = ctx;
    this.place(tree, `/etc/alternatives/${name}`, path);
    const at = tree.resolve(link, false);
    const existing = tree.at(at);
    if (existing && existing.type !== "symlink") {
      ctx.skip(`${link} is not a symlink in the image, so it stays (alternative ${name})`);
      return;
    }
    this.place(tree, link, `/etc/alternatives/${name}`);
  }

  private place(tree: ImageTree, link: string, target: string): void {
    const at = tree.resolve(link, false);
    tree.writeParents(at);
    tree.write(at, { type: "symlink", mode: 0o777, uid: 0, gid: 0, link: target });
  }

  private unlink(ctx: AlternativesContext, link: string, name: string): void {
    for (const path of [link, `/etc/alternatives/${name}`]) {
      const at = ctx.tree.resolve(path, false);
      if (ctx.tree.changed.has(at) && ctx.tree.at(at)?.type === "symlink") ctx.tree.remove(at);
    }
  }

  private list(name: string | undefined): { status: number; stdout?: string } {
    const group = name === undefined ? undefined : this.groups.get(name);
    if (!group || group.choices.length === 0) return { status: 2 };
    return { status: 0, stdout: group.choices.map((c) => `${c.path}\n`).join("") };
  }

  private query(name: string | undefined): { status: number; stdout?: string } {
    const group = name === undefined ? undefined : this.groups.get(name);
    if (!group || !name) return { status: 2 };
    const best = this.best(group);
    const head = `Name: ${name}\nLink: ${group.link}\nStatus: ${group.manual ? "manual" : "auto"}\nBest: ${best?.path ?? ""}\nValue: ${best?.path ?? "none"}\n`;
    const choices = group.choices.map((c) => `\nAlternative: ${c.path}\nPriority: ${c.priority}\n`).join("");
    return { status: 0, stdout: head + choices };
  }
}
