/**
 * Every fuzz target over its seed corpus and over every input that once made it fail
 * (test/fuzz/regressions/TARGET/): deterministic, so a fixed bug stays fixed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { regressionsFor, seedsFor, TARGETS } from './seeds';

for (const t of TARGETS) {
  test(`fuzz target ${t}: seeds and kept regressions pass`, async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(`./targets/${t}`) as { fuzz(b: Buffer): void | Promise<void>; close?(): Promise<void> };
    const inputs = [...seedsFor(t).map((data, i) => ({ name: `seed-${i}`, data })), ...regressionsFor(t)];
    assert.ok(inputs.length > 0);
    for (const { name, data } of inputs) {
      await assert.doesNotReject(async () => mod.fuzz(data), `${t} ${name}`);
    }
    await mod.close?.();
  });
}
