// Every manifest under deploy/ against the Kubernetes API schemas, offline (kubernetes-models
// carries them; kubectl cannot validate without a server). NetworkAttachmentDefinitions have
// no published model: they are checked against the CRD in deploy/nad-crd.yaml, and the CNI
// config they carry against quiver-cni's own validation. So is the conflist the DaemonSet
// installs.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import Ajv from 'ajv';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Pod, ServiceAccount } from 'kubernetes-models/v1';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1';
import { DaemonSet } from 'kubernetes-models/apps/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { validateConflist } from '../../cni/install.js';
import { decode, parseNetConf } from '../../cni/plugin/config.js';
import { packageRoot } from '../../src/addon.js';
import { validateConfig } from '../../src/config.js';

const deployDir = join(packageRoot(), 'deploy');

interface Doc {
  file: string;
  index: number;
  obj: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } };
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? yamlFiles(p) : /\.ya?ml$/.test(f) ? [p] : [];
  });
}

function docs(): Doc[] {
  return yamlFiles(deployDir).flatMap((file) =>
    parseAllDocuments(readFileSync(file, 'utf8')).map((d, index) => {
      if (d.errors.length) throw new Error(`${relative(deployDir, file)}#${index}: ${d.errors[0]!.message}`);
      return { file: relative(deployDir, file), index, obj: d.toJS() as Doc['obj'] };
    }),
  );
}

// apiVersion/kind -> the model that validates it.
type Model = new (o: never) => { validate(): void };
const models: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'apps/v1/DaemonSet': DaemonSet,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
  'apiextensions.k8s.io/v1/CustomResourceDefinition': CustomResourceDefinition,
};

function validateModel(d: Doc): void {
  const Cls = models[`${d.obj.apiVersion}/${d.obj.kind}`];
  if (!Cls) throw new Error(`${d.file}#${d.index}: no schema for ${d.obj.apiVersion} ${d.obj.kind}`);
  new Cls(d.obj as never).validate();
}

/** The NAD CRD's schema, compiled. */
function nadValidator() {
  const crd = docs().find((d) => d.obj.kind === 'CustomResourceDefinition' && d.obj.metadata.name === 'network-attachment-definitions.k8s.cni.cncf.io');
  if (!crd) throw new Error('deploy/nad-crd.yaml: the NetworkAttachmentDefinition CRD is missing');
  const version = (crd.obj.spec as { versions: { name: string; schema: { openAPIV3Schema: object } }[] }).versions.find((v) => v.name === 'v1')!;
  return new Ajv({ strict: false, allErrors: true }).compile(version.schema.openAPIV3Schema);
}

/** A NAD's spec.config: one plugin config or a list; the quiver-cni entries must validate. */
function checkNadConfig(config: string): void {
  const c = JSON.parse(config) as Record<string, unknown>;
  if (Array.isArray(c.plugins)) validateConflist(c, 'spec.config');
  else if (c.type === 'quiver-cni') parseNetConf(decode(config));
}

describe('deploy/ manifests', () => {
  const all = docs();

  it('holds what the issue asks for', () => {
    const kinds = all.map((d) => `${d.obj.kind}/${d.obj.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'DaemonSet/quiver', 'ServiceAccount/quiver', 'ClusterRole/quiver', 'ClusterRoleBinding/quiver', 'ConfigMap/quiver-config',
        'NetworkAttachmentDefinition/quiver-tap', 'NetworkAttachmentDefinition/quiver-memif',
      ]),
    );
  });

  it('every built-in kind validates against the Kubernetes schema', () => {
    for (const d of all.filter((x) => x.obj.kind !== 'NetworkAttachmentDefinition')) expect(() => validateModel(d), `${d.file}#${d.index}`).not.toThrow();
  });

  it('the validation catches a broken manifest (it is not a no-op)', () => {
    const ds = structuredClone(all.find((d) => d.obj.kind === 'DaemonSet')!);
    delete (ds.obj.spec as Record<string, unknown>).selector;
    ((ds.obj.spec as any).template.spec.containers[0].ports = [{ containerPort: 'http' }]);
    expect(() => validateModel(ds)).toThrow(/must have required property selector.*containerPort must be integer/s);
  });

  it('NetworkAttachmentDefinitions match the CRD and carry a valid quiver-cni config', () => {
    const validate = nadValidator();
    const nads = all.filter((d) => d.obj.kind === 'NetworkAttachmentDefinition');
    expect(nads.length).toBeGreaterThanOrEqual(2);
    for (const d of nads) {
      expect(d.obj.apiVersion).toBe('k8s.cni.cncf.io/v1');
      expect(validate(d.obj), `${d.file}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(() => checkNadConfig((d.obj.spec as { config: string }).config), d.file).not.toThrow();
    }
    const types = nads.map((d) => JSON.stringify(JSON.parse((d.obj.spec as { config: string }).config)).match(/"attachment":"(\w+)"/)?.[1]);
    expect(types.sort()).toEqual(['memif', 'tap']);
    // And a broken one fails both ways.
    expect(validate({ apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: {}, spec: { config: { type: 'x' } } })).toBe(false);
    expect(() => checkNadConfig(JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'quiver-cni', attachment: 'tap' }))).toThrow(/bridgeDomain: a tap attachment needs/);
  });

  it('the conflist the DaemonSet installs is one quiver-cni accepts', () => {
    const cm = all.find((d) => d.obj.kind === 'ConfigMap' && d.obj.metadata.name === 'quiver-config')!;
    const data = cm.obj.data as Record<string, string>;
    // The daemon's config validates as `quiver start -c` would, and declares the bridge
    // domains the conflist and the examples attach to.
    const daemonConfig = validateConfig(parseAllDocuments(data['quiver.yaml']!)[0]!.toJS(), 'quiver.yaml');
    expect(daemonConfig.cni).toEqual({ stateFile: '/var/lib/quiver/cni/attachments.json' });
    const bds = (daemonConfig.bridgeDomains as { id: number }[]).map((b) => b.id);
    const list = JSON.parse(data['10-quiver.conflist']!);
    expect(bds).toContain(list.plugins[0].bridgeDomain);
    for (const d of all.filter((x) => x.obj.kind === 'NetworkAttachmentDefinition')) {
      const c = JSON.parse((d.obj.spec as { config: string }).config);
      for (const p of c.plugins ?? [c]) if (p.bridgeDomain !== undefined) expect(bds, d.file).toContain(p.bridgeDomain);
    }
    expect(() => validateConflist(list, '10-quiver.conflist')).not.toThrow();
    // The init container points install-cni at exactly that file.
    const ds = all.find((d) => d.obj.kind === 'DaemonSet')!;
    const init = (ds.obj.spec as any).template.spec.initContainers[0];
    expect(init.command).toEqual(expect.arrayContaining(['install-cni', '--conflist=/etc/quiver/10-quiver.conflist']));
  });

  it('the DaemonSet mounts what the daemon and the plugin need', () => {
    const ds = all.find((d) => d.obj.kind === 'DaemonSet')!;
    const pod = (ds.obj.spec as any).template.spec;
    expect(pod.hostNetwork).toBe(true);
    expect(pod.containers[0].securityContext.privileged).toBe(true);
    const hostPaths = pod.volumes.filter((v: any) => v.hostPath).map((v: any) => v.hostPath.path);
    expect(hostPaths).toEqual(expect.arrayContaining(['/run/quiver', '/var/lib/quiver', '/opt/cni/bin', '/etc/cni/net.d', '/dev/hugepages']));
    const mounts = pod.containers[0].volumeMounts.map((m: any) => m.name);
    for (const v of pod.volumes) expect(mounts, `volume ${v.name} mounted`).toContain(v.name);
  });
});
