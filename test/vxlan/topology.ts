// Namespaces and veth pairs for the VXLAN interop and multi-node tests, all named qv-<id>...,
// addresses from 198.18.0.0/15 and 2001:db8::/32. Everything created is recorded and removed
// by destroy() (afterAll), and on process exit or a signal if a test dies first.
import type { ChildProcess } from 'node:child_process';
import { ip, killChildren, linkExists, namespaceExists, nsRun, nsSpawn, randomId, run, stopProcess } from '../../src/lab/netns.js';

const live = new Set<Topology>();
let handlers = false;
function installHandlers(): void {
  if (handlers) return;
  handlers = true;
  process.on('exit', () => {
    for (const t of [...live]) t.destroy();
  });
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      for (const t of [...live]) t.destroy();
      process.kill(process.pid, sig);
    });
}

export class Topology {
  readonly id = randomId(4);
  private readonly namespaces: string[] = [];
  private readonly rootLinks: string[] = [];
  private destroyed = false;
  private links = 0;

  constructor(readonly prefix = 'qv-') {
    installHandlers();
    live.add(this);
  }

  /** A namespace `qv-<id>-<name>` with lo up. */
  netns(name: string): string {
    const ns = `${this.prefix}${this.id}-${name}`;
    ip(['netns', 'add', ns]);
    this.namespaces.push(ns);
    ip(['-n', ns, 'link', 'set', 'lo', 'up']);
    return ns;
  }

  /**
   * A veth pair: `a` in namespace `nsA` (or the root namespace when null: the name is prefixed
   * then, `qv<id><a>`), `b` in `nsB`. Offloads off on both ends (af_packet sees finished,
   * MTU-sized frames), both up. Returns the names as created.
   */
  veth(nsA: string | null, a: string, nsB: string, b: string, mtu = 1500): { a: string; b: string } {
    // Created under unique temporary names in the root namespace, then moved and renamed.
    const base = `${this.prefix.replace(/-$/, '')}${this.id}`;
    const nameA = nsA ? a : `${base}${a}`;
    const tmpA = nsA ? `${base}x${this.links}` : nameA;
    const tmpB = `${base}y${this.links++}`;
    ip(['link', 'add', tmpA, 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', tmpB, 'mtu', String(mtu)]);
    if (nsA) ip(['link', 'set', tmpA, 'netns', nsA, 'name', nameA]);
    else this.rootLinks.push(nameA);
    ip(['link', 'set', tmpB, 'netns', nsB, 'name', b]);
    for (const [ns, n] of [[nsA, nameA], [nsB, b]] as const) {
      this.run(ns, 'ethtool', ['-K', n, 'tx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off']);
      this.run(ns, 'ip', ['link', 'set', n, 'up']);
    }
    if (!nsA) this.run(null, 'sysctl', ['-qw', `net.ipv6.conf.${nameA}.disable_ipv6=1`]);
    return { a: nameA, b };
  }

  run(ns: string | null, cmd: string, args: string[]): string {
    return ns ? nsRun(ns, cmd, args) : run(cmd, args);
  }

  /** `ip ...` inside a namespace. */
  ip(ns: string, ...args: string[]): string {
    return ip(['-n', ns, ...args]);
  }

  spawn(ns: string, cmd: string, args: string[]): ChildProcess {
    return nsSpawn(ns, cmd, args);
  }
  stop(c: ChildProcess): Promise<void> {
    return stopProcess(c);
  }

  /** Removes everything; safe to call twice. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    killChildren(this.namespaces);
    const errors: string[] = [];
    for (const ns of this.namespaces) {
      try {
        if (namespaceExists(ns)) ip(['netns', 'del', ns]);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    // Deleting a namespace takes its veth pairs along, asynchronously: delete the root ends
    // ourselves unless that already happened meanwhile.
    for (const l of this.rootLinks) {
      try {
        if (linkExists(l)) ip(['link', 'del', l]);
      } catch (e) {
        if (linkExists(l)) errors.push((e as Error).message);
      }
    }
    if (errors.length) throw new Error(`topology ${this.id}: cleanup incomplete: ${errors.join('; ')}`);
  }
}
