// l2-xconnect configuration: frames received on `rx` leave on `tx`, untouched.
import { addon } from '../../src/addon.js';
import type { InterfaceRef } from '../../src/engine.js';
import { native } from '../../src/errors.js';

/** One direction, as VPP's `set interface l2 xconnect`; null returns rx to L3 mode. */
export function xconnect(rx: InterfaceRef, tx: InterfaceRef | null): void {
  native(() => addon().xconnect(rx, tx));
}

/** Both directions at once. */
export function xconnectPair(a: InterfaceRef, b: InterfaceRef): void {
  xconnect(a, b);
  xconnect(b, a);
}
