#!/usr/bin/env node
// `quiver`: runs the dataplane. Subcommands grow with the control plane.
import { Command } from 'commander';
import { runPgDemo } from '../demo.js';

const program = new Command();
program.name('quiver').description('Quiver userspace dataplane');
program
  .command('demo')
  .description('forward a pg stream through ethernet-input and l2-xconnect, then show runtime and interfaces')
  .option('-s, --seconds <n>', 'how long to forward', '3')
  .option('--size <bytes>', 'frame size', '64')
  .action(async (o: { seconds: string; size: string }) => {
    const r = await runPgDemo({ seconds: Number(o.seconds), size: Number(o.size) });
    if (r.leaked !== 0) process.exitCode = 1;
  });
await program.parseAsync();
