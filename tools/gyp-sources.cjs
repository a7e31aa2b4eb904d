// Lists the addon's C++ sources for binding.gyp: every .cc under native/, graph/ and memif/
// (features register themselves statically, so adding a file is all it takes). Files under a
// `dpdk` folder are built only when pkg-config finds libdpdk; fuzz harnesses and tests never.
const fs = require('fs');
const path = require('path');
const root = path.resolve(__dirname, '..');
const withDpdk = process.argv.includes('--dpdk');
const out = [];
function walk(dir) {
  for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name === 'fuzz' || e.name === 'test' || e.name === 'node_modules') continue;
      if (e.name === 'dpdk' && !withDpdk) continue;
      walk(rel);
    } else if (e.name.endsWith('.cc') && !e.name.endsWith('_test.cc') && !e.name.endsWith('_fuzz.cc')) {
      out.push(rel);
    }
  }
}
for (const d of ['native', 'graph', 'memif']) if (fs.existsSync(path.join(root, d))) walk(d);
process.stdout.write(out.sort().join(' '));
