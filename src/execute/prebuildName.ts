// Prebuild workspace names: `prebuild-` and 72 random bits in lowercase base32 (reference §6), so a
// collision with another prebuild's name is practically impossible.
import { randomBytes } from "node:crypto";
import { base32nopad } from "@scure/base";

/** `prebuild-` and 15 characters of lowercase RFC 4648 base32 (9 random bytes, no padding). */
export function newPrebuildName(): string {
  return `prebuild-${base32nopad.encode(randomBytes(9)).toLowerCase()}`;
}
