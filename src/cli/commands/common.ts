import { InvalidArgumentError } from "commander";
import type { ArgumentDef } from "../command.js";

/** Options every command takes (declared once on the program). */
export interface CommonOptions {
  mirror?: string;
  cacheDir?: string;
  quiet?: boolean;
}

/** A flag's worker count: a whole number from 1 to 64, else a usage error before any work. */
export function workerCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) {
    throw new InvalidArgumentError("It must be a whole number from 1 to 64.");
  }
  return Number(value);
}

/** --mirror: an http(s) URL, checked before any download is tried. */
export function mirrorUrl(value: string): string {
  if (!/^https?:\/\/[^/\s]+(\/\S*)?$/.test(value)) {
    throw new InvalidArgumentError(
      "It must be an http:// or https:// URL, e.g. http://mirror.example/debian.",
    );
  }
  return value;
}

/** The [spec] argument of the commands that read a spec. */
export const SPEC_ARGUMENT: ArgumentDef = {
  name: "[spec]",
  description: "the spec file",
  default: "strata.yaml",
};

export function specArgument(path: string | undefined): string {
  return path ?? "strata.yaml";
}

/** A flag's count of answers (--limit, --offset): a whole number in range, else a usage error before any work. */
export function countFlag(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`It must be a whole number from ${min} to ${max}.`);
    }
    return Number(value);
  };
}

/** A repeatable flag's values, in the order given. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
