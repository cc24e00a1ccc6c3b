// Imported by main.ts before the program loads: under a Node.js outside package.json's
// `engines.node`, print one line naming the versions and the fix, and exit 2 (a bad setup, like a
// bad setting). Nothing has started yet, so exiting at once loses nothing.
import { writeSync } from "node:fs";
import { EXIT_USAGE } from "./exitCodes.ts";
import { supportedNodeRange, unsupportedNodeMessage } from "./supportedNode.ts";

const unsupported = unsupportedNodeMessage(process.version, supportedNodeRange());
if (unsupported !== null) {
  writeSync(2, `prebuildsd: ${unsupported}\n`);
  process.exit(EXIT_USAGE);
}
