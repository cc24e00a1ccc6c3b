import { describe, expect, it } from "vitest";
import { invalidatesConnections } from "../../../src/db/connectionHealth.ts";

function pgError(code: string, message = "server said no"): Error {
  return Object.assign(new Error(message), { code });
}

describe("invalidatesConnections (issue #11)", () => {
  it.each([
    ["read-only transaction", pgError("25006")],
    ["administrator shutdown (pg_terminate_backend)", pgError("57P01")],
    ["crash shutdown", pgError("57P02")],
    ["cannot connect now", pgError("57P03")],
    ["idle-in-transaction timeout", pgError("25P03")],
    ["connection failure", pgError("08006")],
    ["a reset socket", pgError("ECONNRESET", "read ECONNRESET")],
    ["pg's client-side query_timeout", new Error("Query read timeout")],
    ["a connection that ended", new Error("Connection terminated unexpectedly")],
    [
      "a client that errored before",
      new Error("Client has encountered a connection error and is not queryable"),
    ],
  ])("retires connections after %s", (_what, error) => {
    expect(invalidatesConnections(error)).toBe(true);
  });

  it.each([
    ["a unique violation (a lost race)", pgError("23505")],
    ["a lock timeout", pgError("55P03")],
    ["a statement timeout or cancel", pgError("57014")],
    ["a serialization failure", pgError("40001")],
    ["a bug in our code", new TypeError("x is undefined")],
    ["not an Error", "boom"],
  ])("keeps connections after %s", (_what, error) => {
    expect(invalidatesConnections(error)).toBe(false);
  });
});
