// `quiver install-cni` as an operator (or the DaemonSet's init container) runs it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../src/addon.js';

const QUIVER = join(packageRoot(), 'dist/src/cli/quiver.js');
const dir = mkdtempSync(join(tmpdir(), 'quiver-install-cni-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function quiver(args: string[]) {
  return spawnSync('node', [QUIVER, ...args], { encoding: 'utf8' });
}
function version(plugin: string): unknown {
  return JSON.parse(execFileSync(plugin, [], { env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.1.0"}', encoding: 'utf8' }));
}

describe('quiver install-cni', () => {
  it('installs a runnable plugin and the default config list', () => {
    const bin = join(dir, 'a/bin');
    const conf = join(dir, 'a/net.d');
    const r = quiver(['install-cni', '--bin-dir', bin, '--conf-dir', conf]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`installed ${bin}/quiver-cni\nwrote ${conf}/10-quiver.conflist\n`);
    expect(version(join(bin, 'quiver-cni'))).toEqual({ cniVersion: '1.1.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
    const list = JSON.parse(readFileSync(join(conf, '10-quiver.conflist'), 'utf8'));
    expect(list).toMatchObject({ cniVersion: '1.1.0', name: 'quiver', plugins: [{ type: 'quiver-cni', attachment: 'tap', bridgeDomain: 1 }] });
    // Reinstalling swaps the plugin whole and leaves no staging directories behind.
    expect(quiver(['install-cni', '--bin-dir', bin]).status).toBe(0);
    expect(readdirSync(bin).sort()).toEqual(['quiver-cni', 'quiver-cni.d']);
    expect(version(join(bin, 'quiver-cni'))).toMatchObject({ cniVersion: '1.1.0' });
  });

  it('from a container: --host-bin-dir in the wrapper, --copy-node beside the plugin', () => {
    const bin = join(dir, 'b/host/opt/cni/bin');
    const r = quiver(['install-cni', '--bin-dir', bin, '--host-bin-dir', '/opt/cni/bin', '--copy-node']);
    expect(r.status, r.stderr).toBe(0);
    const wrapper = readFileSync(join(bin, 'quiver-cni'), 'utf8');
    expect(wrapper).toContain("exec '/opt/cni/bin/quiver-cni.d/node' '/opt/cni/bin/quiver-cni.d/plugin/main.js' \"$@\"");
    expect(existsSync(join(bin, 'quiver-cni.d/node'))).toBe(true);
    // The copied node runs the copied plugin without the package around it.
    const out = execFileSync(join(bin, 'quiver-cni.d/node'), [join(bin, 'quiver-cni.d/plugin/main.js')], {
      env: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"0.4.0"}', encoding: 'utf8', cwd: '/',
    });
    expect(JSON.parse(out)).toEqual({ cniVersion: '0.4.0', supportedVersions: ['0.4.0', '1.0.0', '1.1.0'] });
  });

  it('refuses an invalid config list and writes nothing', () => {
    const bad = join(dir, 'bad.conflist');
    writeFileSync(bad, JSON.stringify({ cniVersion: '1.1.0', name: 'x', plugins: [{ type: 'quiver-cni', attachment: 'tap', bridgeDomain: 1, mtu: 20 }] }));
    const conf = join(dir, 'c/net.d');
    const r = quiver(['install-cni', '--bin-dir', join(dir, 'c/bin'), '--conf-dir', conf, '--conflist', bad]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`${bad}: plugins[0]: mtu: 20 is not an integer in 576..9216\n`);
    expect(existsSync(join(conf, '10-quiver.conflist'))).toBe(false);
  });
});
