/**
 * The Examples section every command's --help ends with (test/unit/cli-help.test.ts holds every
 * registered command to it); addCommand writes it from a command's `examples`.
 */
export function examples(...lines: string[]): string {
  return ["", "Examples:", ...lines.map((l) => `  ${l}`)].join("\n");
}
