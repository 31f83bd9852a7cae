/**
 * Loading a keepalived.conf for lvsd: read and interpret it (src/control/keepalived.ts), then
 * validate every table change the health manager can make (validate.ts). Also `lvsd -t`.
 */
import { type KeepalivedConfig, type LoadOptions, ConfigError, formatDiagnostic, loadKeepalivedFile, sortDiagnostics } from '../control/keepalived';
import { validateVirtualServers } from './validate';

/** Throws ConfigError when the file cannot be loaded; otherwise every diagnostic is in the result. */
export async function loadKeepalivedConfig(file: string, opts: LoadOptions = {}): Promise<KeepalivedConfig> {
  const cfg = await loadKeepalivedFile(file, opts);
  const v = validateVirtualServers(cfg.virtualServers);
  for (const p of v.problems) {
    const m = /^(.*):(\d+)$/.exec(p.where);
    cfg.diagnostics.push({ file: m ? m[1] : p.where, line: m ? Number(m[2]) : 0, severity: 'error', message: p.message });
  }
  sortDiagnostics(cfg.diagnostics);
  cfg.warnings = cfg.diagnostics.map(formatDiagnostic);
  cfg.virtualServers = v.specs;
  return cfg;
}

/**
 * Exit codes of `lvsd -t`: the file would load (possibly with diagnostics) / would not.
 * keepalived's own -t exits 0 only for a file without any diagnostic, 4 when it cannot run it,
 * 5 when it would run it with errors, 6 for script-security problems.
 */
export const CONFIG_TEST_OK = 0;
export const CONFIG_TEST_REFUSED = 1;

/** lvsd -t: prints every diagnostic as FILE:LINE: message; touches nothing else. */
export async function configTest(file: string, opts: LoadOptions, write: (line: string) => void): Promise<number> {
  try {
    const cfg = await loadKeepalivedConfig(file, opts);
    for (const w of cfg.warnings) write(w);
    const vs = cfg.virtualServers.length;
    const rs = cfg.virtualServers.reduce((n, v) => n + v.reals.length, 0);
    write(`${file}: configuration would load: ${vs} virtual server${vs === 1 ? '' : 's'}, ${rs} real server${rs === 1 ? '' : 's'}, `
      + `${cfg.vrrpInstances.length} vrrp instance${cfg.vrrpInstances.length === 1 ? '' : 's'}, ${cfg.warnings.length} diagnostic${cfg.warnings.length === 1 ? '' : 's'}`);
    return CONFIG_TEST_OK;
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const d of err.diagnostics) write(formatDiagnostic(d));
      write(err.message);
      write(`${file}: configuration refused`);
      return CONFIG_TEST_REFUSED;
    }
    throw err;
  }
}
