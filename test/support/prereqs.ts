/**
 * Tests against the running kernel need root and the built addon (and sometimes more): without
 * them they are skipped, except under CI=true where a missing prerequisite is a failure.
 */
import type { TestContext } from 'node:test';
import * as assert from 'node:assert/strict';

import { nativeAddonPath } from '../../src/phy/native';

/**
 * True when the test may run: root, the lvs_native addon and nothing listed in `missing`
 * (further prerequisites the caller found absent). Otherwise skips t, or fails it under CI.
 */
export function kernelPrereqs(t: TestContext, what: string, missing: string[] = []): boolean {
  const all = [...missing];
  if (process.getuid?.() !== 0) all.unshift('root');
  if (nativeAddonPath() === undefined) all.push('lvs_native addon (npm run build:native)');
  if (all.length === 0) return true;
  if (process.env.CI === 'true') assert.fail(`${what} prerequisites missing under CI: ${all.join(', ')}`);
  t.skip(`needs ${all.join(', ')}`);
  return false;
}
