// VLAN sub-interfaces (dot1q, dot1ad/QinQ; exact match on the tags) and per-interface tag
// rewrite on entry to / exit from a bridge domain (VPP's `l2 tag-rewrite`).
import { z } from 'zod';
import { addon } from '../../src/addon.js';
import * as engine from '../../src/engine.js';
import type { InterfaceRef } from '../../src/engine.js';
import { QuiverError, native } from '../../src/errors.js';
import { parseOrThrow } from '../../src/validate.js';

const Vid = z.number().int().min(1).max(4094);
const InterfaceRefSchema = z.union([z.string().min(1), z.number().int().min(0)]);

export const SubInterfaceSchema = z
  .object({
    parent: InterfaceRefSchema,
    /** dot1q: outer TPID 0x8100; dot1ad: 0x88a8 (or 0x9100). An inner tag is always 0x8100. */
    type: z.enum(['dot1q', 'dot1ad']).default('dot1q'),
    outerVlan: Vid,
    /** Present: a QinQ sub-interface matching exactly two tags. */
    innerVlan: Vid.optional(),
    /** Only exact match exists: a frame matches when its tags are exactly these. */
    exactMatch: z.literal(true).default(true),
    /** Default `<parent>.<outer>[.<inner>]`. */
    name: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9_./:-]+$/, 'may hold letters, digits and _ . / : -')
      .optional(),
  })
  .strict();
export type SubInterfaceSpec = z.input<typeof SubInterfaceSchema>;

export const TAG_REWRITE_OPS = [
  'disable', 'pop-1', 'pop-2', 'push-1', 'push-2', 'translate-1-1', 'translate-1-2', 'translate-2-1', 'translate-2-2',
] as const;
export type TagRewriteOp = (typeof TAG_REWRITE_OPS)[number];

/** How many VLAN ids an op pushes. */
export function pushedTags(op: TagRewriteOp): number {
  if (op === 'disable' || op.startsWith('pop')) return 0;
  return Number(op[op.length - 1]);
}

export const TagRewriteSchema = z
  .object({
    op: z.enum(TAG_REWRITE_OPS),
    /** The tags pushed (push-N, translate-x-N), outermost first. */
    vlans: z.array(Vid).max(2).optional(),
    /** TPID of the outermost pushed tag; inner tags are dot1q. Default dot1q. */
    type: z.enum(['dot1q', 'dot1ad']).optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    const want = pushedTags(v.op);
    const got = v.vlans?.length ?? 0;
    if (got !== want) ctx.addIssue({ code: 'custom', path: ['vlans'], message: `${v.op} takes ${want} VLAN id(s), got ${got}` });
    if (v.type !== undefined && want === 0) ctx.addIssue({ code: 'custom', path: ['type'], message: `${v.op} pushes no tag` });
  });
export type TagRewriteSpec = z.input<typeof TagRewriteSchema>;

export interface TagRewriteInfo {
  op: Exclude<TagRewriteOp, 'disable'>;
  /** Tags pushed on entry to the bridge domain. */
  push: { type: 'dot1q' | 'dot1ad'; vlan: number }[];
  /** Tags pushed back on exit (the inverse of a pop or translation). */
  egressPush: { type: 'dot1q' | 'dot1ad'; vlan: number }[];
}

export interface SubInterfaceInfo {
  name: string;
  index: number;
  parent: string;
  type: 'dot1q' | 'dot1ad';
  outerVlan: number;
  innerVlan: number | null;
  exactMatch: true;
}

interface VlanRaw {
  vlanSubifCreate(o: Record<string, unknown>): number;
  vlanTagRewrite(intf: InterfaceRef, o: Record<string, unknown>): void;
}
const raw = () => addon() as unknown as VlanRaw;

/** Creates a sub-interface (admin down, like every new interface); returns its index. */
export function createSubInterface(spec: SubInterfaceSpec): number {
  const s = parseOrThrow(SubInterfaceSchema, spec, '');
  return native(() => raw().vlanSubifCreate(s));
}

/** Deletes a sub-interface (deleting a parent deletes its sub-interfaces too). */
export function deleteSubInterface(ref: InterfaceRef): void {
  const i = engine.findInterface(ref);
  if (i.driver !== 'sub') throw new QuiverError('interface', `'${i.name}' is not a sub-interface`);
  engine.deleteInterface(i.index);
}

export function subInterfaces(): SubInterfaceInfo[] {
  return engine
    .interfaces()
    .filter((i) => i.driver === 'sub')
    .map((i) => ({ name: i.name, index: i.index, ...(i.details as Omit<SubInterfaceInfo, 'name' | 'index'>) }));
}

/**
 * Tag rewrite of an interface: `op` applies on entry to the bridge domain, its inverse on
 * exit. pop and translate need a sub-interface with at least as many tags as they remove.
 */
export function setTagRewrite(intf: InterfaceRef, spec: TagRewriteSpec): void {
  const s = parseOrThrow(TagRewriteSchema, spec, '');
  native(() => raw().vlanTagRewrite(parseOrThrow(InterfaceRefSchema, intf, 'interface'), s));
}
