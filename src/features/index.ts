// Every feature that takes part in the config, apply, the management API and quiverctl is
// imported here, once: importing registers it (src/feature.ts). Add one line for yours.
import './interfaces.js';
import './commands.js';
import '../../graph/pg/pg.feature.js';
import '../../graph/l2/xconnect.feature.js';
import '../../graph/l2/bridge.feature.js';
import '../interfaces/drivers.feature.js';
import '../../graph/ip/ip.feature.js';
import '../../memif/memif.feature.js';
import '../../native/dpdk/dpdk.feature.js';
import '../../graph/acl/acl.feature.js';
import '../../graph/vxlan/vxlan.feature.js';
import '../../cni/daemon/cni.feature.js';
