// The real-traffic demo (runNetnsDemo, wired to `quiver demo`): it must move traffic, print
// the show output, leak nothing and leave nothing behind.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { runNetnsDemo } from '../../src/lab/demo.js';

describe('netns demo', () => {
  it('pings and runs iperf3 through Quiver over AF_XDP, shows runtime and interfaces, cleans up', async () => {
    const lines: string[] = [];
    const r = await runNetnsDemo({ seconds: 1, out: (l) => lines.push(l) });
    const text = lines.join('\n');
    expect(r.driver).toBe('af_xdp');
    expect(r.pingOk).toBe(true);
    expect(r.iperfBitsPerSecond).toBeGreaterThan(1e6);
    expect(r.leaked).toBe(0);
    expect(text).toMatch(/ping -4 198\.18\.0\.2: 3 packets transmitted, 3 received/);
    expect(text).toMatch(/ping -6 2001:db8::2: 3 packets transmitted, 3 received/);
    expect(text).toMatch(/quiverctl show runtime\n.*\n.*\n.*Name/);
    expect(text).toMatch(/af-xdp-input +polling/);
    expect(text).toMatch(/host-a +\d+ +up +1500 +rx packets/);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain('qdemo-');
  });

  it('runs over AF_PACKET when asked to (the fallback path)', async () => {
    const lines: string[] = [];
    const r = await runNetnsDemo({ seconds: 1, driver: 'af_packet', out: (l) => lines.push(l) });
    expect(r.driver).toBe('af_packet');
    expect(r.pingOk).toBe(true);
    expect(r.leaked).toBe(0);
    expect(lines.join('\n')).toMatch(/af-packet-input +polling/);
  });
});
