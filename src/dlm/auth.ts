/**
 * Mutual challenge-response authentication with a shared secret (HMAC-SHA256, RFC 2104).
 * The secret never crosses the wire:
 *
 *   server → client  HELLO  serverNonce (32 random bytes)
 *   client → server  AUTH   clientNonce, HMAC(secret, "lvs-dlm/1 client" 0 serverNonce clientNonce)
 *   server → client  REPLY  OK, HMAC(secret, "lvs-dlm/1 server" 0 serverNonce clientNonce)
 *
 * The client checks the server's proof too, so a server without the secret cannot hand out
 * tokens. MACs are compared with crypto.timingSafeEqual.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { MAC_LEN, NONCE_LEN } from './protocol';

const CLIENT_LABEL = Buffer.from('lvs-dlm/1 client\0', 'latin1');
const SERVER_LABEL = Buffer.from('lvs-dlm/1 server\0', 'latin1');
/** Shorter secrets are refused: 16 bytes is the least that resists guessing. */
export const MIN_SECRET_LEN = 16;

export function newNonce(): Buffer {
  return randomBytes(NONCE_LEN);
}

function mac(secret: Buffer, label: Buffer, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return createHmac('sha256', secret).update(label).update(serverNonce).update(clientNonce).digest();
}

export function clientMac(secret: Buffer, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return mac(secret, CLIENT_LABEL, serverNonce, clientNonce);
}

export function serverProof(secret: Buffer, serverNonce: Buffer, clientNonce: Buffer): Buffer {
  return mac(secret, SERVER_LABEL, serverNonce, clientNonce);
}

/** Constant-time comparison of a received MAC with the expected one. */
export function macEqual(expected: Buffer, got: Buffer): boolean {
  return got.length === MAC_LEN && expected.length === MAC_LEN && timingSafeEqual(expected, got);
}

/** Reads a secret file: its bytes with one trailing newline removed. */
export function readSecretFile(path: string): Buffer {
  let b = readFileSync(path);
  if (b.length && b[b.length - 1] === 0x0a) b = b.subarray(0, b.length - 1);
  if (b.length && b[b.length - 1] === 0x0d) b = b.subarray(0, b.length - 1);
  if (b.length < MIN_SECRET_LEN) throw new Error(`secret in ${path} is shorter than ${MIN_SECRET_LEN} bytes`);
  return b;
}
