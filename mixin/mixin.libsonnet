// gitpod-requirements-exporter's monitoring mixin: prometheusAlerts, prometheusRules and
// grafanaDashboards, configured by _config (config.libsonnet). No dependencies: plain jsonnet
// objects and the small helpers under lib/, so it renders offline.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards/dashboards.libsonnet')
