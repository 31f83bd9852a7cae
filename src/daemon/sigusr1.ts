/**
 * Imported first by lvsd: from the moment this module loads, SIGUSR1 is JavaScript's (a
 * listener replaces Node's inspector-opening handler; see instance.ts guardSigusr1, which
 * also closes an inspector opened by a signal that arrived before this ran). Until a handler
 * is set, the signal is ignored.
 */
let handler: (() => void) | undefined;
process.on('SIGUSR1', () => handler?.());

export function onSigusr1(fn: () => void): void {
  handler = fn;
}
