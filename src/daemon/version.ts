/** The package version, as every command's --version prints it (package.json's `version`). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** package.json relative to this file compiled (dist/src/daemon) or not (src/daemon). */
const CANDIDATES = ['../../../package.json', '../../package.json'];

let cached: string | undefined;

export function packageVersion(): string {
  if (cached !== undefined) return cached;
  for (const rel of CANDIDATES) {
    try {
      const j = JSON.parse(readFileSync(join(__dirname, rel), 'utf8')) as { name?: unknown; version?: unknown };
      if (j.name === 'lvsd' && typeof j.version === 'string') return (cached = j.version);
    } catch {
      /* next candidate */
    }
  }
  return (cached = 'unknown');
}

/** `NAME VERSION` line for --version. */
export function versionLine(command: string): string {
  return `${command} ${packageVersion()}\n`;
}
