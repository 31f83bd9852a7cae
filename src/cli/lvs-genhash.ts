#!/usr/bin/env node
/**
 * lvs-genhash: the digest of a URL as keepalived's genhash computes it, for HTTP_GET/SSL_GET
 * `digest` lines (src/health/http-fetch.ts: keepalived's request, MD5 of the body, cut at
 * Content-Length). Options as genhash's:
 *
 *   lvs-genhash [-S [-I]] -s ADDR -p PORT -u URL [-V VIRTUALHOST] [-P 1.0|1.0c|1.1] [-t SECONDS] [-v]
 *
 * Prints the 32 hex digits and a newline (genhash without -v). -v also prints the status line
 * and header on stderr. Exit 0 with a digest; 1 when no response came (message on stderr);
 * 2 for a usage error.
 */
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { fetchUrl } from '../health/http-fetch';

const USAGE = 'usage: lvs-genhash [-S [-I]] -s ADDR -p PORT -u URL [-V VIRTUALHOST] [-P 1.0|1.0c|1.1] [-t SECONDS] [-v]';

function usage(msg: string): never {
  process.stderr.write(`lvs-genhash: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'use-ssl': { type: 'boolean', short: 'S', default: false },
        'use-sni': { type: 'boolean', short: 'I', default: false },
        server: { type: 'string', short: 's' },
        port: { type: 'string', short: 'p' },
        url: { type: 'string', short: 'u' },
        'use-virtualhost': { type: 'string', short: 'V' },
        protocol: { type: 'string', short: 'P' },
        timeout: { type: 'string', short: 't' },
        verbose: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const addr = values.server;
  if (!addr || isIP(addr) === 0) usage(`server should be an IP, not ${addr ?? '(none)'}`);
  const port = Number(values.port);
  if (!values.port || !/^\d+$/.test(values.port) || port < 1 || port > 65535) usage(`invalid port number '${values.port ?? ''}'`);
  if (!values.url) usage('-u URL is required');
  const p = values.protocol;
  const protocol = p === undefined || p === '1.0' ? '1.0' : p === '1.1' ? '1.1' : p === '1.0c' || p === '1.0C' ? '1.0C' : usage(`invalid HTTP protocol version '${p}'`);
  const timeoutS = values.timeout === undefined ? 5 : Number(values.timeout);
  if (!(timeoutS > 0 && timeoutS <= 3600)) usage(`invalid timeout '${values.timeout ?? ''}'`);
  const host = values['use-virtualhost'];
  try {
    const r = await fetchUrl({
      addr, port, path: values.url, host, protocol, tls: values['use-ssl'],
      servername: values['use-ssl'] && values['use-sni'] ? host : undefined, timeoutMs: timeoutS * 1000,
    });
    if (values.verbose) process.stderr.write(r.header.toString('latin1'));
    process.stdout.write(`${r.digest}\n`);
  } catch (err) {
    process.stderr.write(`lvs-genhash: ${addr}:${port}${values.url}: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

void main();
