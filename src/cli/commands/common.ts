/** Options every command takes (declared once on the program). */
export interface CommonOptions {
  mirror?: string;
  cacheDir?: string;
  quiet?: boolean;
}

export function specArgument(path: string | undefined): string {
  return path ?? "strata.yaml";
}
