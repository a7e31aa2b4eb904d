#!/usr/bin/env node
// quiver-cni: the CNI plugin that attaches pods to the Quiver dataplane over TAP or memif.
// A runtime (or Multus) runs it with CNI_* in the environment and the network config on
// stdin; it prints a result (ADD, VERSION) or a CNI error JSON on stdout, logs on stderr.
import { run } from './run.js';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    if (process.stdin.isTTY) return resolve('');
    const chunks: Buffer[] = [];
    process.stdin.on('data', (d: Buffer) => chunks.push(d));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString()));
    process.stdin.on('error', reject);
  });
}

const started = Date.now();
const command = process.env.CNI_COMMAND ?? '?';
const tag = `quiver-cni ${command} ${process.env.CNI_CONTAINERID ?? ''}/${process.env.CNI_IFNAME ?? ''}`;
const stdin = command === 'VERSION' && process.stdin.isTTY ? '' : await readStdin();
const { out, status } = await run(process.env, stdin, (l) => process.stderr.write(`${tag}: ${l}\n`));
if (out) process.stdout.write(out + '\n');
if (process.env.QUIVER_CNI_TIMING) process.stderr.write(`${tag}: ${Date.now() - started} ms\n`);
process.exitCode = status;
