/**
 * eBPF through the lvs_native addon (native/bpf.cc): load a program, create an array map,
 * attach with a BPF link, run a program on a test packet; and a small assembler for the
 * instruction set (Documentation/bpf/standardization/instruction-set.rst).
 */
import { loadNative } from './native';

/** enum bpf_prog_type, bpf_map_type, bpf_attach_type (include/uapi/linux/bpf.h). */
export const BPF_PROG_TYPE_SOCKET_FILTER = 1;
export const BPF_PROG_TYPE_SCHED_CLS = 3;
export const BPF_MAP_TYPE_HASH = 1;
export const BPF_MAP_TYPE_ARRAY = 2;
/** tcx ingress hook (Linux 6.6): attached through a BPF link, detached when it closes. */
export const BPF_TCX_INGRESS = 46;
/** Helper function ids (the order of ___BPF_FUNC_MAPPER). */
export const BPF_FUNC_MAP_LOOKUP_ELEM = 1;
export const BPF_FUNC_SKB_ADJUST_ROOM = 50;
/** bpf_skb_adjust_room mode: room between the layer 2 and layer 3 headers. */
export const BPF_ADJ_ROOM_MAC = 1;

interface BpfAddon {
  bpfProgLoad(progType: number, insns: Buffer, license: string, name: string): number;
  bpfMapCreate(mapType: number, keySize: number, valueSize: number, maxEntries: number, name: string): number;
  bpfMapLookup(fd: number, key: Buffer, value: Buffer): boolean;
  bpfMapUpdate(fd: number, key: Buffer, value: Buffer): void;
  bpfMapDelete(fd: number, key: Buffer): boolean;
  bpfLinkCreate(progFd: number, ifindex: number, attachType: number): number;
  bpfProgTestRun(progFd: number, dataIn: Buffer, dataOut: Buffer): { retval: number; size: number };
  bpfClose(fd: number): void;
}

/** The addon's bpf(2) wrappers; throws ERR_LVS_NATIVE_MISSING when it was built without them. */
export function bpf(): BpfAddon {
  const a = loadNative() as unknown as Partial<BpfAddon>;
  if (typeof a.bpfProgLoad !== 'function') {
    const err = new Error('lvs_native addon without eBPF support: rebuild with `npm run build:native`') as
      NodeJS.ErrnoException;
    err.code = 'ERR_LVS_NATIVE_MISSING';
    throw err;
  }
  return a as BpfAddon;
}

/** Registers r0..r10 (r10: read-only frame pointer). */
export type Reg = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10;
type Size = 'b' | 'h' | 'w' | 'dw';

const SIZE_BITS: Record<Size, number> = { w: 0x00, h: 0x08, b: 0x10, dw: 0x18 };
const CLASS_LD = 0x00;
const CLASS_LDX = 0x01;
const CLASS_ALU = 0x04;
const MODE_ABS = 0x20;
const MODE_IND = 0x40;
const CLASS_STX = 0x03;
const CLASS_JMP = 0x05;
const CLASS_JMP32 = 0x06;
const CLASS_ALU64 = 0x07;
const MODE_MEM = 0x60;
const MODE_ATOMIC = 0xc0;
const SRC_K = 0x00;
const SRC_X = 0x08;
const OP_ADD = 0x00;
const OP_MUL = 0x20;
const OP_LSH = 0x60;
const OP_RSH = 0x70;
const OP_MOD = 0x90;
const OP_AND = 0x50;
const OP_MOV = 0xb0;
const OP_JA = 0x00;
const OP_JEQ = 0x10;
const OP_JGT = 0x20;
const OP_JNE = 0x50;
const OP_CALL = 0x80;
const OP_EXIT = 0x90;
/** src_reg of a 64-bit immediate load that names a map by fd. */
const BPF_PSEUDO_MAP_FD = 1;

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
  /** Jump target, resolved into off by assemble(). */
  target?: string;
}

/** Builds a program instruction by instruction; jumps name labels defined before or after. */
export class BpfAsm {
  private readonly insns: Insn[] = [];
  private readonly labels = new Map<string, number>();

  private op(code: number, dst: number, src: number, off: number, imm: number, target?: string): this {
    this.insns.push({ code, dst, src, off, imm: imm | 0, target });
    return this;
  }

  label(name: string): this {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.insns.length);
    return this;
  }

  /** dst = src (64-bit). */
  mov(dst: Reg, src: Reg): this {
    return this.op(CLASS_ALU64 | OP_MOV | SRC_X, dst, src, 0, 0);
  }

  /** dst = imm (sign-extended to 64 bits). */
  movImm(dst: Reg, imm: number): this {
    return this.op(CLASS_ALU64 | OP_MOV | SRC_K, dst, 0, 0, imm);
  }

  addImm(dst: Reg, imm: number): this {
    return this.op(CLASS_ALU64 | OP_ADD | SRC_K, dst, 0, 0, imm);
  }

  andImm(dst: Reg, imm: number): this {
    return this.op(CLASS_ALU64 | OP_AND | SRC_K, dst, 0, 0, imm);
  }

  /** dst = dst OP imm on the low 32 bits (the upper half is zeroed). */
  alu32Imm(op: 'and' | 'mul' | 'lsh' | 'rsh' | 'mod' | 'mov', dst: Reg, imm: number): this {
    const code = { and: OP_AND, mul: OP_MUL, lsh: OP_LSH, rsh: OP_RSH, mod: OP_MOD, mov: OP_MOV }[op];
    return this.op(CLASS_ALU | code | SRC_K, dst, 0, 0, imm);
  }

  /**
   * r0 = packet bytes [imm, imm+size) in network order converted to host order (legacy
   * BPF_ABS load of socket filters: the context must be in r6; r1..r5 are clobbered; a load
   * beyond the packet ends the program with return value 0).
   */
  ldAbs(size: 'b' | 'h' | 'w', imm: number): this {
    return this.op(CLASS_LD | MODE_ABS | SIZE_BITS[size], 0, 0, 0, imm);
  }

  /** As ldAbs at offset src + imm. */
  ldInd(size: 'b' | 'h' | 'w', src: Reg, imm: number): this {
    return this.op(CLASS_LD | MODE_IND | SIZE_BITS[size], 0, src, 0, imm);
  }

  /** dst = *(size *)(src + off), zero-extended. */
  load(size: Size, dst: Reg, src: Reg, off: number): this {
    return this.op(CLASS_LDX | MODE_MEM | SIZE_BITS[size], dst, src, off, 0);
  }

  /** *(size *)(dst + off) = src. */
  store(size: Size, dst: Reg, off: number, src: Reg): this {
    return this.op(CLASS_STX | MODE_MEM | SIZE_BITS[size], dst, src, off, 0);
  }

  /** *(u64 *)(dst + off) += src, atomically. */
  atomicAdd64(dst: Reg, off: number, src: Reg): this {
    return this.op(CLASS_STX | MODE_ATOMIC | SIZE_BITS.dw, dst, src, off, OP_ADD);
  }

  /** dst = the map with file descriptor fd (a 64-bit immediate load: two instruction slots). */
  loadMapFd(dst: Reg, fd: number): this {
    this.op(0x18, dst, BPF_PSEUDO_MAP_FD, 0, fd);
    return this.op(0, 0, 0, 0, 0);
  }

  /** goto target when dst > src (unsigned, 64-bit). */
  jgt(dst: Reg, src: Reg, target: string): this {
    return this.op(CLASS_JMP | OP_JGT | SRC_X, dst, src, 0, 0, target);
  }

  /** goto target when dst == imm (64-bit, imm sign-extended). */
  jeqImm(dst: Reg, imm: number, target: string): this {
    return this.op(CLASS_JMP | OP_JEQ | SRC_K, dst, 0, 0, imm, target);
  }

  /** goto target when the low 32 bits of dst == imm. */
  jeq32(dst: Reg, imm: number, target: string): this {
    return this.op(CLASS_JMP32 | OP_JEQ | SRC_K, dst, 0, 0, imm, target);
  }

  /** goto target when the low 32 bits of dst != imm. */
  jne32(dst: Reg, imm: number, target: string): this {
    return this.op(CLASS_JMP32 | OP_JNE | SRC_K, dst, 0, 0, imm, target);
  }

  ja(target: string): this {
    return this.op(CLASS_JMP | OP_JA, 0, 0, 0, 0, target);
  }

  /** r0 = helper(r1, .., r5); r1..r5 are clobbered. */
  call(helper: number): this {
    return this.op(CLASS_JMP | OP_CALL, 0, 0, 0, helper);
  }

  exit(): this {
    return this.op(CLASS_JMP | OP_EXIT, 0, 0, 0, 0);
  }

  /** struct bpf_insn records, jump offsets resolved (relative to the next instruction). */
  assemble(): Buffer {
    const out = Buffer.alloc(this.insns.length * 8);
    this.insns.forEach((ins, i) => {
      let off = ins.off;
      if (ins.target !== undefined) {
        const at = this.labels.get(ins.target);
        if (at === undefined) throw new Error(`undefined label ${ins.target}`);
        off = at - i - 1;
        if (off < -32768 || off > 32767) throw new RangeError(`jump to ${ins.target} out of range`);
      }
      out[i * 8] = ins.code;
      out[i * 8 + 1] = (ins.dst & 0x0f) | ((ins.src & 0x0f) << 4);
      out.writeInt16LE(off, i * 8 + 2);
      out.writeInt32LE(ins.imm, i * 8 + 4);
    });
    return out;
  }
}
