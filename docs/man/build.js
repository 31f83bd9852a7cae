#!/usr/bin/env node
/**
 * Builds the manual pages: docs/man/NAME.SECTION.md (ronn-style markdown, `# name(section) --
 * description`) → docs/man/NAME.SECTION (roff), with marked-man. Run by `npm run build:man`
 * (part of `prepare`, so a checkout install and `npm pack` both have them; the packed tarball
 * ships the roff files, installed by package.json's "man" field).
 *
 * marked-man rather than pandoc: it is an npm package like the rest of the build, so a fresh
 * checkout needs no further system package, and it reads the ronn header format directly.
 * SOURCE_DATE_EPOCH, when set, fixes the date in the page header (reproducible builds).
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { readdirSync, writeFileSync } = require('node:fs');
const { dirname, join } = require('node:path');

const here = __dirname;
const pkg = require(join(here, '..', '..', 'package.json'));
const bin = join(dirname(require.resolve('marked-man/package.json')), 'bin', 'marked-man.js');
const pages = readdirSync(here).filter((f) => /^[a-z-]+\.[1-8]\.md$/.test(f)).sort();
if (pages.length === 0) throw new Error(`no manual pages in ${here}`);
for (const md of pages) {
  const out = md.slice(0, -'.md'.length);
  const roff = execFileSync(process.execPath, [bin, '--no-breaks', '--version', pkg.version, '--manual', 'lvsd', join(here, md)],
    { encoding: 'utf8' });
  if (!roff.startsWith('.TH ')) throw new Error(`${md}: marked-man produced no page`);
  writeFileSync(join(here, out), roff);
}
process.stdout.write(`man: ${pages.map((p) => p.slice(0, -3)).join(' ')}\n`);
