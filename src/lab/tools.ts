// The demo and the lab need a few Debian tools; a fresh machine may lack iperf3. Install what
// is missing (as root), or say exactly what to install.
import { execFileSync } from 'node:child_process';

const PACKAGE: Record<string, string> = { ip: 'iproute2', ping: 'iputils-ping', iperf3: 'iperf3', tshark: 'tshark' };

function have(tool: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function ensureTools(tools: string[], log: (line: string) => void): void {
  const missing = tools.filter((t) => !have(t)).map((t) => PACKAGE[t] ?? t);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing tools: install ${missing.join(' ')} (apt-get install), or run as root`);
  log(`installing ${missing.join(' ')} (apt-get)`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: 'inherit', env });
}
