/**
 * One of the processes of the concurrent-adders test: adds `count` strata-like images to the index
 * at `location`, each holding two packages every image shares and one of its own.
 * Usage: node --import tsx test/helpers/fleet-adder.ts LOCATION WRITER COUNT
 */
import { FleetIndex } from "../../src/fleet/fleet-index.js";
import { imageDescriptor } from "../../src/oci/image.js";
import { strataImage } from "./fleet-images.js";

const [location, writer, count] = process.argv.slice(2);
const index = await FleetIndex.open(location);
try {
  for (let i = 0; i < Number(count); i++) {
    const { image } = await strataImage([
      { name: "libc6", version: "2.36-9+deb12u4", source: "glibc" },
      { name: "zlib1g", version: "1:1.2.13.dfsg-1", source: "zlib" },
      { name: `app-${writer}-${i}`, version: "1.0" },
    ]);
    const digest = imageDescriptor(image).digest;
    await index.add(image, `writer ${writer}`, [
      { registry: "registry.test", repository: `app-${writer}`, tag: String(i), topDigest: digest },
    ]);
  }
} finally {
  await index.close();
}
