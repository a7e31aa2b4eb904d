// Option pieces every Linux-facing driver shares (af_xdp, af_packet, tap).
import { z } from 'zod';

export const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Quiver's own interface name (what show interface prints). */
export const QuiverName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -');

/** A Linux interface name: 1..15 characters, no '/', ':' or whitespace. */
export const LinuxIfName = z
  .string()
  .min(1, 'is not a Linux interface name (1..15 characters)')
  .max(15, 'is not a Linux interface name (1..15 characters)')
  .regex(/^[^/:\s]+$/, "is not a Linux interface name (no '/', ':' or spaces)")
  .refine((s) => s !== '.' && s !== '..', 'is not a Linux interface name');

export const MacAddress = z
  .string()
  .regex(MAC, 'is not a MAC address (aa:bb:cc:dd:ee:ff)')
  .refine((m) => (parseInt(m.slice(0, 2), 16) & 1) === 0, 'is a multicast address');

export const RxModeOption = z.enum(['polling', 'interrupt', 'adaptive']);
export const WorkerOption = z.number().int().min(0).max(63);
export const Mtu = z.number().int().min(68).max(9216);
