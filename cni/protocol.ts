// What quiver-cni and the daemon say to each other over the management API's unix socket
// (JSON over HTTP). One definition for both sides. Node builtins only (the plugin imports it).

/** Management API paths. */
export const CNI_API = {
  add: '/v1/cni/add',
  del: '/v1/cni/del',
  get: '/v1/cni/get',
  check: '/v1/cni/check',
  gc: '/v1/cni/gc',
  status: '/v1/cni/status',
} as const;

export interface PodRef {
  namespace?: string;
  name?: string;
  uid?: string;
}

/** The key of an attachment: the spec's (network name, CNI_CONTAINERID, CNI_IFNAME). */
export interface AttachmentKey {
  network: string;
  containerId: string;
  ifname: string;
}

export interface AttachRequest extends AttachmentKey {
  netns: string;
  type: 'tap' | 'memif';
  bridgeDomain?: number;
  vrf?: number;
  mtu: number;
  /** Pod-side MAC; the daemon picks one when absent. */
  mac?: string;
  ips: { address: string; gateway?: string }[];
  routes: { dst: string; gw?: string }[];
  memif?: { socketDir: string; ringSize: number; bufferSize: number; queues: number; secret?: string };
  pod?: PodRef;
}

/**
 * What the daemon keeps per attachment (and writes to its state file). `ips` and `routes` are
 * what the pod was given: a routed attach turns IPAM's a.b.c.d/24 into a.b.c.d/32 and routes
 * everything, the subnet included, through the gateway.
 */
export interface AttachmentRecord extends AttachRequest {
  /** The Quiver interface holding the other end. */
  quiverInterface: string;
  /** tap: the MAC the pod's interface got. */
  podMac?: string;
  /** tap: the MAC of Quiver's side (kept across restarts: a routed pod has it as its gateway's). */
  quiverMac?: string;
  /** memif: the control socket the pod connects to. */
  socketPath?: string;
  created: string;
}

export interface GetResponse {
  attachment: AttachmentRecord | null;
}

export interface DelResponse {
  removed: boolean;
}

export interface CheckRequest extends AttachmentKey {
  netns: string;
  /** From prevResult: what ADD reported for this attachment. */
  expect: { mac?: string; socketPath?: string; addresses: string[]; routes: { dst: string; gw?: string }[] };
}

export interface CheckResponse {
  /** Empty when the attachment is as ADD left it. */
  problems: string[];
}

export interface GcRequest {
  network: string;
  valid: { containerID: string; ifname: string }[];
}

export interface GcResponse {
  /** Attachments removed from the dataplane; their addresses are still to be released. */
  removed: AttachmentRecord[];
}

export interface StatusResponse {
  ready: boolean;
  attachments: number;
  reason?: string;
}
