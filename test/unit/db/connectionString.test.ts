// The server address a connection error names, read from DATABASE_URL as pg reads it.
import { describe, expect, it } from "vitest";
import { serverAddress } from "../../../src/db/connectionString.ts";

describe("serverAddress", () => {
  it.each([
    ["postgres://u:secret@db.internal:6432/app", "db.internal:6432"],
    ["postgres://u@db.internal/app", "db.internal:5432"],
    ["postgresql://u@[::1]:5433/app", "[::1]:5433"],
    ["postgres:///app", "localhost:5432"],
    ["postgres://u@ignored:1/app?host=/var/run/postgresql&port=5433", "/var/run/postgresql:5433"],
  ])("%s is %s", (url, address) => {
    expect(serverAddress(url)).toBe(address);
  });

  it("is null for what is not a URL (pg's key=value form), so the message names no address", () => {
    expect(serverAddress("host=db port=5432")).toBeNull();
  });

  it("never includes the user or password", () => {
    expect(serverAddress("postgres://admin:hunter2@db:5432/app")).not.toMatch(/admin|hunter2/);
  });
});
