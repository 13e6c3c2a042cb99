import { StrataError } from "../util/errors.js";
import type { Image } from "./image.js";

/**
 * Naming one platform of a multi-platform artifact, as `--platform` takes it: OCI style
 * (`linux/arm64`, `linux/arm/v7`, `arm64/v8`) or a Debian architecture (`arm64`, `armhf`, `amd64`).
 */

export interface PlatformChoice {
  architecture: string;
  variant?: string;
}

/** Debian architecture → OCI platform architecture and variant. */
export function ociPlatform(debianArch: string): { architecture: string; variant?: string } {
  const map: Record<string, { architecture: string; variant?: string }> = {
    amd64: { architecture: "amd64" },
    arm64: { architecture: "arm64", variant: "v8" },
    armhf: { architecture: "arm", variant: "v7" },
    armel: { architecture: "arm", variant: "v5" },
    i386: { architecture: "386" },
    ppc64el: { architecture: "ppc64le" },
    s390x: { architecture: "s390x" },
    riscv64: { architecture: "riscv64" },
    mips64el: { architecture: "mips64le" },
  };
  return map[debianArch] ?? { architecture: debianArch };
}

/** OCI's default variants: an arm64 image without one is v8 (image-index.md). */
export const DEFAULT_VARIANT: Record<string, string> = { arm64: "v8" };

function badPlatform(text: string): StrataError {
  return new StrataError("USAGE", `--platform ${text}: not a platform`, {
    hint: "write it as linux/ARCH[/VARIANT] (linux/arm64, linux/arm/v7) or a Debian architecture (arm64, armhf)",
  });
}

export function parsePlatform(text: string): PlatformChoice {
  const parts = text.split("/");
  if (parts[0] === "linux" && parts.length > 1) parts.shift();
  if (parts.length > 2 || parts.some((p) => !/^[a-z0-9_]+$/.test(p))) throw badPlatform(text);
  if (parts.length === 2) return { architecture: parts[0], variant: parts[1] };
  return ociPlatform(parts[0]); // a Debian name (armhf → arm/v7) or an OCI one (arm64, 386) as it is
}

/** "linux/arm64/v8", as people read platforms. */
export function platformText(image: Image): string {
  const { os, architecture, variant } = image.config;
  return [os, architecture, variant].filter(Boolean).join("/");
}

function matches(image: Image, want: PlatformChoice): boolean {
  const { architecture } = image.config;
  if (architecture !== want.architecture) return false;
  if (want.variant === undefined) return true;
  return (image.config.variant ?? DEFAULT_VARIANT[architecture]) === want.variant;
}

/**
 * The one image of `images` that `platform` names; without `platform`, the only image. Several
 * images and no choice is an error that lists them, never a silent pick.
 */
export function chooseImage(images: Image[], platform: string | undefined, why: string): Image {
  const have = images.map(platformText).join(", ");
  if (platform === undefined) {
    if (images.length === 1) return images[0];
    throw new StrataError("USAGE", `${why}, and this artifact has ${images.length}: ${have}`, {
      hint: "pick one with --platform, e.g. --platform linux/amd64",
    });
  }
  const found = images.find((image) => matches(image, parsePlatform(platform)));
  if (found === undefined) {
    throw new StrataError("USAGE", `no image for --platform ${platform} (this artifact has ${have})`, {
      hint: "pick one of those with --platform",
    });
  }
  return found;
}
