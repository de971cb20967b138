import { describe, expect, it } from "vitest";
import { protectTransferIds } from "../../cli/argv";

describe("protectTransferIds", () => {
  const id = "-tj_UvwNIwqlO2h-drZJtA"; // transfer ids may begin with "-"
  it("moves a transfer id that looks like an option behind --", () => {
    expect(protectTransferIds(["get", id, "--dir", "x"])).toEqual(["get", "--dir", "x", "--", id]);
    expect(protectTransferIds(["--server", "http://h", "status", id, "--json"])).toEqual(["--server", "http://h", "status", "--json", "--", id]);
    expect(protectTransferIds(["cancel", id])).toEqual(["cancel", "--", id]);
  });
  it("leaves everything else alone", () => {
    expect(protectTransferIds(["get", "Abc_UvwNIwqlO2h-drZJtA"])).toEqual(["get", "Abc_UvwNIwqlO2h-drZJtA"]);
    expect(protectTransferIds(["send", id, "--to", "1"])).toEqual(["send", id, "--to", "1"]);
    expect(protectTransferIds(["get", "--", id])).toEqual(["get", "--", id]);
    expect(protectTransferIds(["get", "--dir", id, "x"])).toEqual(["get", "--dir", id, "x"]);
    expect(protectTransferIds(["get", "--frobnicate"])).toEqual(["get", "--frobnicate"]);
  });
});
