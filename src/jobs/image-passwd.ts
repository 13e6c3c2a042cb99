import { visitLayer } from "../inventory/layer-entries.js";
import type { Image } from "../oci/image.js";
import { StrataError } from "../util/errors.js";

/**
 * The numeric uid and gid of an image's user, as Kubernetes needs them to check `runAsNonRoot`
 * (a name cannot be checked by the kubelet). A name is looked up in the image's /etc/passwd, read
 * from the top-most layer that ships it, streamed, never unpacked.
 */

const MAX_PASSWD_BYTES = 1 << 20;

async function imagePasswd(image: Image, where: string): Promise<string> {
  for (const layer of [...image.manifest.layers].reverse()) {
    let text: string | undefined;
    await visitLayer(image, layer, where, async (entry) => {
      if (entry.path === "etc/passwd" && entry.type === "file")
        text = (await entry.body(MAX_PASSWD_BYTES)).toString("utf8");
    });
    if (text !== undefined) return text;
  }
  return "";
}

export async function numericUser(image: Image, where: string): Promise<{ uid: number; gid?: number }> {
  const user = image.config.config?.User ?? "";
  const [name, group] = user.split(":", 2);
  if (name === "") return { uid: 0, gid: 0 };
  const numeric = (s: string | undefined) =>
    s !== undefined && /^\d{1,10}$/.test(s) ? Number(s) : undefined;
  const gid = numeric(group);
  if (numeric(name) !== undefined) return { uid: numeric(name)!, ...(gid === undefined ? {} : { gid }) };
  const entry = (await imagePasswd(image, where))
    .split("\n")
    .map((l) => l.split(":"))
    .find((r) => r[0] === name);
  const uid = numeric(entry?.[2]);
  if (uid === undefined) {
    throw new StrataError(
      "IMAGE_NOT_REBUILDABLE",
      `${where}: the image's user "${name}" is not in its /etc/passwd`,
      {
        hint: "build the image with a user it has (strata.yaml user:), or a numeric uid",
      },
    );
  }
  const primary = gid ?? numeric(entry?.[3]);
  return { uid, ...(primary === undefined ? {} : { gid: primary }) };
}
