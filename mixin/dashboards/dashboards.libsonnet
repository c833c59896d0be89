{
  grafanaDashboards+:: {
    'overview.json': (import 'overview.libsonnet')($._config),
    'node.json': (import 'node.libsonnet')($._config),
  },
}
