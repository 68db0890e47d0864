/**
 * The layer rule of README "Layers" and STYLE.md, checked by `npm run lint`: each folder of src/
 * imports only from folders below it, and no module imports itself round a cycle.
 *
 *   cli > drill > relay > apps > link > api > stack > tcp > udp > icmp > ip > wire
 *
 * (src/index.ts, the package's public surface, may import any layer.)
 */
const LAYERS = [
  'wire',
  'ip',
  'icmp',
  'udp',
  'tcp',
  'stack',
  'api',
  'link',
  'apps',
  'relay',
  'drill',
  'cli',
];

/** One rule per layer: nothing in it may import a layer above it. */
const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `no-upward-from-${layer}`,
  comment: `src/${layer} may import only ${LAYERS.slice(0, i).join(', ') || 'itself'} (README "Layers")`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'no-cycles',
      comment:
        'a module may not import itself through others at run time (a type-only import, such as ' +
        'src/stack/tcp.ts naming the Stack that owns it, erases and makes no cycle)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
    },
    {
      name: 'no-src-to-tests',
      comment: 'src/ never imports test/ or scripts/',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)node_modules/|^dist/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
