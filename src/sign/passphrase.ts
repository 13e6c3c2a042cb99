import { StrataError } from "../util/errors.js";

/**
 * The signing key's passphrase: STRATA_SIGNING_PASSPHRASE, else asked on the terminal without
 * echo. Without a terminal there is no one to ask, so it is an error rather than a hang.
 */
export const PASSPHRASE_ENV = "STRATA_SIGNING_PASSPHRASE";

async function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  let text = "";
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString("utf8")) {
        if (ch === "\r" || ch === "\n") return text;
        if (ch === "\u0003") throw new StrataError("ABORTED", "interrupted");
        if (ch === "\u007f") text = text.slice(0, -1);
        else text += ch;
      }
    }
    return text;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write("\n");
  }
}

/** The passphrase, from the environment or the terminal; `confirm` asks twice (for a new key). */
export async function signingPassphrase(opts: { confirm?: boolean } = {}): Promise<string> {
  const fromEnv = process.env[PASSPHRASE_ENV];
  if (fromEnv !== undefined) return fromEnv;
  if (!process.stdin.isTTY)
    throw new StrataError("USAGE", "the signing key's passphrase is needed and there is no terminal to ask", {
      hint: `set ${PASSPHRASE_ENV}`,
    });
  const first = await prompt("Passphrase for the signing key: ");
  if (opts.confirm && (await prompt("Again: ")) !== first)
    throw new StrataError("USAGE", "the passphrases differ", { hint: "run the command again" });
  return first;
}
