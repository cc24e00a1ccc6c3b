// semver ships no types (and @types/semver is not a dependency): the one function src/cli uses.
declare module "semver/functions/satisfies.js" {
  export default function satisfies(
    version: string,
    range: string,
    options?: { readonly includePrerelease?: boolean; readonly loose?: boolean },
  ): boolean;
}
