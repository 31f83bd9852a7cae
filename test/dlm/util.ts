/** Shared helpers for the DLM tests: servers on 127.0.0.1 with ephemeral ports, raw sockets. */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DlmClient, DlmClientOptions } from '../../src/dlm/client';
import { DlmServer, DlmServerOptions } from '../../src/dlm/server';

export const SECRET = Buffer.from('test-secret-0123456789abcdef');

export function tempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lvs-dlm-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Running {
  server: DlmServer;
  addr: string;
  port: number;
  dir: string;
  stop(): Promise<void>;
}

export async function startServer(opts: Partial<DlmServerOptions> = {}, dir?: string): Promise<Running> {
  const t = dir ? { dir, cleanup: () => undefined } : tempDir();
  const server = new DlmServer({ host: '127.0.0.1', port: 0, secret: SECRET, dataDir: t.dir, ...opts });
  const a = await server.start();
  return {
    server,
    addr: `127.0.0.1:${a.port}`,
    port: a.port,
    dir: t.dir,
    stop: async () => {
      await server.close();
      t.cleanup();
    },
  };
}

export function client(addr: string | string[], opts: Partial<DlmClientOptions> = {}): DlmClient {
  return new DlmClient({ servers: Array.isArray(addr) ? addr : [addr], secret: SECRET, leaseMs: 2000, ...opts });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 10 ms until true or `ms` pass; returns whether it became true. */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(10);
  }
  return cond();
}

/** A raw TCP connection collecting everything the server sends. */
export async function rawConnect(port: number): Promise<{ sock: Socket; data(): Buffer; closed(): Promise<void> }> {
  const sock = connect({ host: '127.0.0.1', port });
  const chunks: Buffer[] = [];
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  sock.on('data', (c) => chunks.push(c));
  sock.on('error', () => undefined);
  await new Promise<void>((r, j) => {
    sock.once('connect', () => r());
    sock.once('error', j);
  });
  return { sock, data: () => Buffer.concat(chunks), closed: () => closed };
}
