import { createHash } from "node:crypto";

/**
 * The trusted certificates of a JKS keystore as "alias sha256(DER)" lines, sorted: what two trust
 * stores must agree on to hold the same thing, whatever their entries' order and dates.
 */
export function jksCertificates(store: Buffer): string[] {
  if (store.readUInt32BE(0) !== 0xfeedfeed || store.readUInt32BE(4) !== 2)
    throw new Error("not a JKS v2 keystore");
  const count = store.readUInt32BE(8);
  const out: string[] = [];
  let at = 12;
  const utf = () => {
    const length = store.readUInt16BE(at);
    const text = store.subarray(at + 2, at + 2 + length).toString("utf8");
    at += 2 + length;
    return text;
  };
  for (let i = 0; i < count; i++) {
    const tag = store.readUInt32BE(at);
    at += 4;
    if (tag !== 2) throw new Error(`JKS entry ${i} is not a trusted certificate (tag ${tag})`);
    const alias = utf();
    at += 8; // creation date
    if (utf() !== "X.509") throw new Error(`JKS entry ${alias} is not X.509`);
    const length = store.readUInt32BE(at);
    const der = store.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    out.push(`${alias} ${createHash("sha256").update(der).digest("hex")}`);
  }
  return out.sort();
}
