/**
 * keepalived.conf reader: the line-level semantics of keepalived's lib/parser.c (2.2.x),
 * producing statement lines with their file and line number.
 *
 * Per physical line, in keepalived's order (read_line):
 *  1. Leading/trailing blanks go; a comment starts at the first `!` or `#` outside double
 *     quotes, wherever it is (`auth_pass Test123!` is `Test123`); `\!` and `\#` outside quotes
 *     stand for the characters themselves (decomment).
 *  2. `@ID rest` keeps `rest` only when ID is the config id (--config-id); `@^ID rest` only when
 *     it is not. Without a config id, `@ID` lines are dropped and `@^ID` lines kept.
 *  3. `$NAME=value` defines NAME (a value ending in `\` continues on the next lines: a
 *     multi-line definition). `$NAME` (followed by a blank, `,`, `)` or the end) and `${NAME}`
 *     expand anywhere; the built-ins are ${_PWD} (directory of the file being read), ${_INSTANCE}
 *     (the config id), ${_RANDOM [MIN [MAX]]}, ${_HASH} (`#`) and ${_BANG} (`!`). A line changed by
 *     expansion is decommented again (so `${_BANG}` yields a literal `!` only through `\${_BANG}`...
 *     as in keepalived: an expanded `!` starts a comment).
 *  4. `~SEQ(VAR, [START,] [STEP,] END) TEXT` repeats TEXT with $VAR = each value (`~SEQx` in hex).
 *  5. `include PATTERN` splices in the files PATTERN matches (glob(3) with braces, relative to
 *     the including file's directory, sorted). A pattern with no match and a file that is not a
 *     regular, non-executable file are reported and skipped, as keepalived does.
 *  6. `{` and `}` outside quotes are statements of their own (`a b { c }` is `a b`, `{`, `c`, `}`).
 *  7. Words split at blanks; "a quoted string" is one word without its quotes.
 *
 * lvsd's own limits (keepalived has none; lvsd refuses instead of exhausting memory or the
 * stack): a file larger than MAX_FILE_BYTES, more than MAX_TOTAL_BYTES in all, an include of a
 * file already being read (a loop), includes nested deeper than MAX_INCLUDE_DEPTH, more than
 * MAX_LINES statements produced by definitions and ~SEQ (a file's own lines are bounded by its size).
 */
import { constants as fsc } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';

export const MAX_FILE_BYTES = 4 << 20;
export const MAX_TOTAL_BYTES = 8 << 20;
export const MAX_INCLUDE_DEPTH = 16;
export const MAX_LINES = 250_000;
/** keepalived's MAXBUF: longer lines are cut there by fgets. */
export const MAX_LINE_CHARS = 1024 * 4;

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  file: string;
  line: number;
  severity: Severity;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return d.line > 0 ? `${d.file}:${d.line}: ${d.message}` : `${d.file}: ${d.message}`;
}

/** A configuration that cannot be loaded at all (lvsd -t exits 1). */
export class ConfigError extends Error {
  readonly code = 'ECONFIG';
  /** Diagnostics reported before the refusal. */
  diagnostics: Diagnostic[] = [];
  constructor(readonly file: string, readonly line: number, message: string) {
    super(line > 0 ? `${file}:${line}: ${message}` : `${file}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** Errors after which a file is given up (keepalived has no limit; lvsd refuses garbage). */
export const MAX_ERRORS = 200;

/** Collects what a configuration says about itself, in file order. */
export class Diagnostics {
  readonly list: Diagnostic[] = [];
  private errors = 0;
  add(file: string, line: number, severity: Severity, message: string): void {
    if (severity === 'error' && ++this.errors > MAX_ERRORS) {
      throw new ConfigError(file, line, `more than ${MAX_ERRORS} errors; giving up`);
    }
    this.list.push({ file, line, severity, message });
  }
  warn(at: { file: string; line: number }, message: string): void {
    this.add(at.file, at.line, 'warning', message);
  }
  error(at: { file: string; line: number }, message: string): void {
    this.add(at.file, at.line, 'error', message);
  }
}

/** One statement: its words, where it is. */
export interface Line {
  words: string[];
  file: string;
  line: number;
}

/** What the reader needs of the file system (tests substitute it). */
export interface FileAccess {
  /** Regular-file check, size, whether executable; undefined when it does not exist. */
  stat(path: string): Promise<{ regular: boolean; size: number; executable: boolean; key: string } | undefined>;
  /** Reads at most `max` bytes; resolves with more than max bytes' length to say "too big". */
  read(path: string, max: number): Promise<string>;
  readdir(path: string): Promise<string[]>;
}

export const NODE_FILES: FileAccess = {
  async stat(path) {
    try {
      const s = await stat(path);
      return {
        regular: s.isFile(), size: s.size, key: `${s.dev}:${s.ino}`,
        executable: (s.mode & (fsc.S_IXUSR | fsc.S_IXGRP | fsc.S_IXOTH)) !== 0,
      };
    } catch {
      return undefined;
    }
  },
  async read(path, max) {
    // Never more than max + 1 bytes, whatever the file claims (a /proc file, a growing file).
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(max + 1);
      let n = 0;
      while (n < buf.length) {
        const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
        if (bytesRead === 0) break;
        n += bytesRead;
      }
      return buf.subarray(0, n).toString('utf8');
    } finally {
      await fh.close();
    }
  },
  readdir: (p) => readdir(p),
};

export interface ReaderOptions {
  /** --config-id: selects `@ID` lines; also ${_INSTANCE}. */
  configId?: string;
  files?: FileAccess;
  /** For ${_RANDOM}; Math.random by default. */
  random?: () => number;
}

// ---------------------------------------------------------------------------------------------
// Comments, quotes, words

/** keepalived's decomment(): the text without its comment, and whether it ends in `\`. */
export function decomment(s: string): { text: string; cont: boolean } {
  let out = '';
  let quote = false;
  let i = 0;
  const str = s.replace(/^[ \t]+/, '');
  let cont = false;
  while (i < str.length) {
    const c = str[i];
    if (c === '"') {
      quote = !quote;
      out += c;
      i++;
      continue;
    }
    if (c === '\\') {
      if (i + 1 < str.length) {
        const n = str[i + 1];
        if (!quote && (n === '#' || n === '!')) {
          out += n;
        } else {
          out += c + n;
        }
        i += 2;
        continue;
      }
      cont = true;
      i++;
      break;
    }
    if (!quote && (c === '!' || c === '#')) break;
    out += c;
    i++;
  }
  out = out.replace(/[ \t]+$/, '');
  return { text: cont ? out + '\\' : out, cont };
}

/** Splits a statement into words (alloc_strvec): blanks separate, "..." is one word. */
export function splitWords(s: string): { words: string[]; unterminated: boolean } {
  const words: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) break;
    if (s[i] === '"') {
      const end = s.indexOf('"', i + 1);
      if (end < 0) return { words, unterminated: true };
      words.push(s.slice(i + 1, end));
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] !== ' ' && s[j] !== '\t' && s[j] !== '"') j++;
    words.push(s.slice(i, j));
    i = j;
  }
  return { words, unterminated: false };
}

/** Splits a line at `{` and `}` outside quotes: each brace is a statement of its own. */
export function splitBraces(s: string): string[] {
  const out: string[] = [];
  let rest = s;
  while (rest.length > 0) {
    let p = -1;
    let q = false;
    for (let i = 0; i < rest.length; i++) {
      const c = rest[i];
      if (c === '"') q = !q;
      else if (!q && (c === '{' || c === '}')) {
        p = i;
        break;
      }
    }
    if (p < 0) {
      out.push(rest.trim());
      break;
    }
    if (p === 0) {
      out.push(rest[0]);
      rest = rest.slice(1).trim();
    } else {
      out.push(rest.slice(0, p).trim());
      rest = rest.slice(p).trim();
    }
  }
  return out.filter((x) => x.length > 0);
}

// ---------------------------------------------------------------------------------------------
// Globbing (glob(3) with GLOB_BRACE: * ? [...] {a,b}), one path segment at a time

function expandBraces(p: string): string[] {
  let depth = 0;
  let start = -1;
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '\\') { i++; continue; }
    if (p[i] === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (p[i] === '}' && depth > 0) {
      depth--;
      if (depth === 0) {
        const inner = p.slice(start + 1, i);
        const alts: string[] = [];
        let d = 0;
        let from = 0;
        for (let j = 0; j < inner.length; j++) {
          if (inner[j] === '{') d++;
          else if (inner[j] === '}') d--;
          else if (inner[j] === ',' && d === 0) {
            alts.push(inner.slice(from, j));
            from = j + 1;
          }
        }
        alts.push(inner.slice(from));
        if (alts.length === 1) return [p];
        const pre = p.slice(0, start);
        const post = p.slice(i + 1);
        return alts.flatMap((a) => expandBraces(pre + a + post));
      }
    }
  }
  return [p];
}

const hasMagic = (s: string): boolean => /[*?[]/.test(s);

function segmentRegex(seg: string): RegExp {
  let re = '^';
  for (let i = 0; i < seg.length; i++) {
    const c = seg[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = seg.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        let cls = seg.slice(i + 1, end);
        if (cls.startsWith('!')) cls = '^' + cls.slice(1);
        re += '[' + cls.replace(/\\/g, '\\\\') + ']';
        i = end;
      }
    } else if (c === '\\' && i + 1 < seg.length) {
      re += seg[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    } else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(re + '$');
}

/** Files matching an absolute pattern, sorted as glob(3) sorts them. */
export async function glob(pattern: string, fs: FileAccess): Promise<string[]> {
  const out: string[] = [];
  for (const p of expandBraces(pattern)) {
    if (!hasMagic(p)) {
      out.push(p);
      continue;
    }
    const segs = p.split('/');
    let bases = [segs[0] === '' ? '/' : segs[0]];
    for (let k = 1; k < segs.length; k++) {
      const seg = segs[k];
      if (seg === '') continue;
      const next: string[] = [];
      for (const b of bases) {
        if (!hasMagic(seg)) {
          next.push(join(b, seg));
          continue;
        }
        let names: string[];
        try {
          names = await fs.readdir(b);
        } catch {
          continue;
        }
        const re = segmentRegex(seg);
        for (const n of names.sort()) {
          if (n.startsWith('.') && !seg.startsWith('.')) continue;
          if (re.test(n)) next.push(join(b, n));
        }
      }
      bases = next;
    }
    out.push(...bases);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Definitions

interface Def {
  value: string;
  /** Multi-line definition: value lines. */
  lines?: string[];
  fn?: (params: number[]) => string;
}

interface Seq {
  name: string;
  next: number;
  step: number;
  last: number;
  hex: boolean;
  text: string;
}

interface Source {
  file: string;
  line: number;
  text: string;
  /** Came from a file (decomment applies) rather than from an expansion. */
  physical: boolean;
}

/** One file being read, or one an include matched that is read when reached. */
interface Frame {
  file: string;
  lines: string[];
  idx: number;
  key: string;
}
interface ToOpen {
  toOpen: string;
  from: { file: string; line: number };
}

/** Reads `path` and what it includes into statement lines; diagnostics go to `diags`. */
export async function readStatements(path: string, diags: Diagnostics, opts: ReaderOptions = {}): Promise<Line[]> {
  const fs = opts.files ?? NODE_FILES;
  const random = opts.random ?? Math.random;
  const defs = new Map<string, Def>();
  let curFile = path;
  defs.set('_PWD', { value: '', fn: () => resolve(dirname(curFile)) });
  defs.set('_INSTANCE', { value: '', fn: () => opts.configId ?? '' });
  defs.set('_RANDOM', {
    value: '',
    fn: (p) => {
      const min = p[0] ?? 0;
      const max = p[1] ?? 32767;
      return String(min + Math.floor(random() * (max - min + 1)));
    },
  });
  defs.set('_HASH', { value: '#' });
  defs.set('_BANG', { value: '!' });

  let totalBytes = 0;
  let expanded = 0;
  const out: Line[] = [];
  const stack: Array<Frame | ToOpen> = [];
  const opened = (): Frame[] => stack.filter((f): f is Frame => !('toOpen' in f));
  /** Lines waiting to be processed before the next physical line (expansions), last first. */
  const pending: Source[] = [];
  const seqs: Array<Seq & { file: string; line: number }> = [];
  let multiDef: Def | undefined;

  async function openFile(file: string, from: { file: string; line: number } | undefined): Promise<void> {
    const st = await fs.stat(file);
    if (!st) {
      if (!from) throw new ConfigError(file, 0, 'cannot open: no such file');
      diags.error(from, `Config files missing '${file}'; skipped`);
      return;
    }
    if (!st.regular || st.executable) {
      const msg = `Configuration file '${file}' is not a regular non-executable file`;
      if (!from) throw new ConfigError(file, 0, msg);
      diags.error(from, `${msg} - skipping`);
      return;
    }
    const at = from ?? { file, line: 0 };
    if (opened().some((f) => f.key === st.key)) throw new ConfigError(at.file, at.line, `include loop: ${file} is already being read`);
    if (opened().length >= MAX_INCLUDE_DEPTH) throw new ConfigError(at.file, at.line, `includes nested deeper than ${MAX_INCLUDE_DEPTH}`);
    if (st.size > MAX_FILE_BYTES) throw new ConfigError(file, 0, `file is larger than ${MAX_FILE_BYTES} bytes`);
    let text: string;
    try {
      text = await fs.read(file, MAX_FILE_BYTES);
    } catch (err) {
      const msg = `cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`;
      if (!from) throw new ConfigError(file, 0, msg);
      diags.error(from, `${file}: ${msg} - skipping`);
      return;
    }
    if (Buffer.byteLength(text) > MAX_FILE_BYTES) throw new ConfigError(file, 0, `file is larger than ${MAX_FILE_BYTES} bytes`);
    totalBytes += Buffer.byteLength(text);
    if (totalBytes > MAX_TOTAL_BYTES) throw new ConfigError(at.file, at.line, `configuration larger than ${MAX_TOTAL_BYTES} bytes in all`);
    if (text.includes('\0')) throw new ConfigError(file, 0, 'binary file (contains NUL bytes)');
    stack.push({ file, lines: text.split('\n'), idx: 0, key: st.key });
  }

  /** Finds the definition referred to at s[i] (just after `$`); its length in s and value. */
  function lookup(s: string, i: number, wholeLine: boolean): { len: number; def: Def; params: number[] } | undefined {
    let braces = false;
    let j = i;
    if (s[j] === '{') {
      braces = true;
      j++;
    }
    if (!/[A-Za-z_]/.test(s[j] ?? '')) return undefined;
    const start = j;
    while (j < s.length && /[A-Za-z0-9_]/.test(s[j])) j++;
    const name = s.slice(start, j);
    const params: number[] = [];
    if (braces) {
      const m = /^((?: +\d+)*)\}/.exec(s.slice(j));
      if (!m) return undefined;
      if (m[1]) params.push(...m[1].trim().split(/ +/).map(Number));
      j += m[0].length;
    } else if (j < s.length && !' \t,)'.includes(s[j])) return undefined;
    const def = defs.get(name);
    if (!def) return undefined;
    if (def.lines && !(wholeLine && j === s.length)) return undefined;
    if (params.length > 0 && name !== '_RANDOM') return undefined;
    return { len: j - i + 1, def, params };
  }

  /** replace_param(): expands definitions; the first line and, for a multi-line one, the rest. */
  function expand(s: string): { text: string; more: string[] } | undefined {
    let changed = false;
    let more: string[] = [];
    let i = 0;
    let guard = 0;
    while ((i = s.indexOf('$', i)) >= 0 && i + 1 < s.length) {
      const hit = lookup(s, i + 1, true);
      if (!hit) {
        i++;
        continue;
      }
      if (++guard > 1000 || s.length > MAX_LINE_CHARS * 4) return undefined;
      changed = true;
      let value = hit.def.fn ? hit.def.fn(hit.params) : hit.def.value;
      if (hit.def.lines) {
        value = hit.def.lines[0] ?? '';
        more = hit.def.lines.slice(1);
      }
      s = s.slice(0, i) + value + s.slice(i + hit.len);
      // keepalived stops at a value starting with '~' (a ~SEQ in a definition).
      if (value.trimStart().startsWith('~')) break;
      i += value.length;
    }
    return changed ? { text: s, more } : undefined;
  }

  function addSeq(src: Source): boolean {
    const m = /^~SEQ(x?)[ \t]*\([ \t]*([^ \t,)]+)[ \t]*,([^)]*)\)[ \t]*(.*)$/.exec(src.text);
    if (!m) return false;
    const args = (expand(m[3])?.text ?? m[3]).split(',').map((x) => x.trim());
    if (args.length > 3 || args.some((a) => !/^[-+]?(0x[0-9a-fA-F]+|\d+)$/.test(a))) return false;
    const nums = args.map((a) => Number(a.replace(/^\+/, '')));
    let start: number;
    let step: number;
    let end: number;
    if (nums.length === 1) {
      end = nums[0];
      step = end < 1 ? -1 : 1;
      start = end < 0 ? -1 : 1;
    } else if (nums.length === 2) {
      [start, end] = nums;
      step = start <= end ? 1 : -1;
    } else {
      [start, step, end] = nums;
      if (step === 0 || (start < end && step < 0) || (start > end && step > 0)) return false;
    }
    const hex = m[1] === 'x';
    if (hex && (start < 0 || end < 0)) return false;
    if (Math.abs((end - start) / step) > MAX_LINES) {
      throw new ConfigError(src.file, src.line, `~SEQ of more than ${MAX_LINES} values`);
    }
    seqs.push({ name: m[2], next: start, step, last: end, hex, text: m[4], file: src.file, line: src.line });
    return true;
  }

  /** The next line to process: a pending expansion, a ~SEQ iteration, or a physical line. */
  async function nextSource(): Promise<Source | undefined> {
    const p = pending.pop();
    if (p) return p;
    const seq = seqs[seqs.length - 1];
    if (seq) {
      defs.set(seq.name, { value: seq.hex ? seq.next.toString(16) : String(seq.next) });
      const src = { file: seq.file, line: seq.line, text: seq.text, physical: false };
      seq.next += seq.step;
      if ((seq.step > 0 && seq.next > seq.last) || (seq.step < 0 && seq.next < seq.last)) seqs.pop();
      return src;
    }
    for (;;) {
      const f = stack[stack.length - 1];
      if (!f) return undefined;
      if ('toOpen' in f) {
        stack.pop();
        await openFile(f.toOpen, f.from);
        continue;
      }
      if (f.idx >= f.lines.length) {
        stack.pop();
        if (multiDef) multiDef = undefined;
        continue;
      }
      curFile = f.file;
      let text = f.lines[f.idx++];
      if (text.endsWith('\r')) text = text.replace(/\r+$/, '');
      if (text.length > MAX_LINE_CHARS) {
        diags.error({ file: f.file, line: f.idx }, `line longer than ${MAX_LINE_CHARS} characters; cut there`);
        text = text.slice(0, MAX_LINE_CHARS);
      }
      return { file: f.file, line: f.idx, text, physical: true };
    }
  }

  await openFile(path, undefined);
  for (;;) {
    const src = await nextSource();
    if (!src) break;
    let buf = src.text;
    if (src.physical) {
      if (buf.length === 0) {
        if (multiDef) multiDef = undefined;
        continue;
      }
      const d = decomment(buf);
      buf = d.text;
      if (multiDef) {
        const cont = buf.endsWith('\\');
        const piece = cont ? buf.slice(0, -1).replace(/[ \t]+$/, '') : buf;
        if (piece.length > 0) multiDef.lines!.push(piece);
        if (!cont) multiDef = undefined;
        continue;
      }
      if (buf.length === 0) continue;
    }
    let recheck: boolean;
    let keep = true;
    do {
      recheck = false;
      if (buf[0] === '@') {
        const rev = buf[1] === '^';
        const ofs = rev ? 2 : 1;
        const m = /[ \t]/.exec(buf.slice(ofs));
        if (!m) {
          keep = false;
          break;
        }
        const id = buf.slice(ofs, ofs + m.index);
        const match = opts.configId !== undefined && id === opts.configId;
        if (match === rev) {
          keep = false;
          break;
        }
        buf = buf.slice(ofs + m.index).replace(/^[ \t]+/, '');
      }
      if (buf[0] === '$') {
        const m = /^\$([A-Za-z_][A-Za-z0-9_]*)[ \t]*=[ \t]*(.*)$/.exec(buf);
        if (m) {
          const value = m[2];
          if (value.endsWith('\\')) {
            const first = value.slice(0, -1).replace(/[ \t]+$/, '');
            const def: Def = { value: '', lines: first ? [first] : [] };
            defs.set(m[1], def);
            multiDef = def;
          } else defs.set(m[1], { value });
          keep = false;
          break;
        }
      }
      if (buf.startsWith('~SEQ')) {
        if (!addSeq({ ...src, text: buf })) diags.error(src, `Invalid ~SEQ specification '${buf}'`);
        keep = false;
        break;
      }
      if (buf.startsWith('~LST')) {
        diags.error(src, `~LST is not supported by lvsd; the line is ignored`);
        keep = false;
        break;
      }
      if (buf[0] === '~') break;
      if (buf.includes('$')) {
        const e = expand(buf);
        if (e === undefined) {
          if (buf.length > MAX_LINE_CHARS * 4) throw new ConfigError(src.file, src.line, 'definition expansion too long');
          break;
        }
        for (let k = e.more.length - 1; k >= 0; k--) pending.push({ file: src.file, line: src.line, text: e.more[k], physical: false });
        buf = decomment(e.text).text;
        if (buf[0] === '@' || buf.includes('$')) recheck = true;
      }
    } while (recheck);
    if (!keep || buf.length === 0) continue;

    const inc = /^include([rmwba]?)[ \t]+(.*)$/.exec(buf);
    if (inc) {
      const arg = inc[2].trim().replace(/^"(.*)"$/, '$1');
      const base = dirname(src.file);
      const pattern = isAbsolute(arg) ? arg : join(base, arg);
      const files = await glob(pattern, fs);
      const found: string[] = [];
      for (const f of files) if (await fs.stat(f)) found.push(f);
      if (found.length === 0) {
        diags.error(src, hasMagic(basename(arg)) || arg.includes('{')
          ? `No config files matched '${arg}'` : `Config files missing '${arg}'; include skipped`);
        continue;
      }
      // Opened when reached, in glob order (a later match may include nothing read yet).
      for (let k = found.length - 1; k >= 0; k--) stack.push({ toOpen: found[k], from: { file: src.file, line: src.line } });
      continue;
    }

    for (const piece of splitBraces(buf)) {
      const w = splitWords(piece);
      if (w.unterminated) diags.error(src, `Unmatched quote: '${piece}'`);
      if (w.words.length === 0) continue;
      if (!src.physical && ++expanded > MAX_LINES) {
        throw new ConfigError(src.file, src.line, `more than ${MAX_LINES} statements from definitions and ~SEQ`);
      }
      out.push({ words: w.words, file: src.file, line: src.line });
    }
  }
  return out;
}

/** Starts reading: the main file must exist and be a readable regular file. */
export async function readConfigFile(path: string, diags: Diagnostics, opts: ReaderOptions = {}): Promise<Line[]> {
  return readStatements(path, diags, opts);
}

export const __testing = { expandBraces, segmentRegex };
