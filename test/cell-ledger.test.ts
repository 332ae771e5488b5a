import { expect, test } from "vitest";
import { CellLedger } from "../lib/cell-ledger.js";

test("a fork shares cells; a cell is free when no sequence holds it", () => {
  const ledger = new CellLedger();
  ledger.add(0, [0, 1, 2, 3]);
  ledger.copy(0, 1);
  expect(ledger.used).toBe(4);
  ledger.add(1, [4, 5]);
  ledger.add(0, [4]);
  expect(ledger.used).toBe(7);
  ledger.remove(0);
  expect(ledger.used).toBe(6); // the prefix is still held by 1
  ledger.remove(1, 2);
  expect(ledger.used).toBe(2);
  expect(ledger.heldBy(1)).toBe(2);
  ledger.remove(1);
  expect(ledger.used).toBe(0);
});

test("freed cell ids are reused", () => {
  const ledger = new CellLedger();
  for (let i = 0; i < 100; i++) {
    ledger.add(0, [0, 1, 2]);
    ledger.remove(0);
  }
  expect(ledger.used).toBe(0);
  ledger.add(3, [0]);
  expect(ledger.used).toBe(1);
});

test("the peak is the most cells in use at once since the last reset", () => {
  const ledger = new CellLedger();
  ledger.add(0, [0, 1, 2]);
  ledger.copy(0, 1);
  ledger.add(1, [3, 4]);
  expect(ledger.peak).toBe(5); // a fork adds no cells
  ledger.remove(1);
  expect(ledger.peak).toBe(5);
  ledger.resetPeak();
  expect(ledger.peak).toBe(3);
  ledger.add(0, [3]);
  expect(ledger.peak).toBe(4);
});
