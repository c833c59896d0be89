// Everything a user of the mixin may change. Override in your own jsonnet:
//   (import 'gitpod-requirements-mixin/mixin.libsonnet') + { _config+:: { clusterLabel: 'k8s_cluster' } }
{
  _config+:: {
    // Selectors of the scrape jobs of the two roles. The Services of deploy/ and the Helm
    // chart name the jobs gitpod-requirements-node and gitpod-requirements-cluster.
    nodeExporterSelector: 'job="gitpod-requirements-node"',
    clusterExporterSelector: 'job="gitpod-requirements-cluster"',
    // kube-state-metrics, read by GitpodRequirementsNodeExporterMissing only.
    kubeStateMetricsSelector: 'job="kube-state-metrics"',

    // The label that tells clusters apart in a Prometheus, Thanos or Mimir that holds several.
    // Aggregations always keep it (harmless where it is absent); the dashboards gain a
    // cluster variable when showMultiCluster is true.
    clusterLabel: 'cluster',
    showMultiCluster: false,

    // How long a state must hold before its alert fires.
    criticalFor: '5m',
    warningFor: '15m',
    checkFailingFor: '15m',
    staleFor: '5m',
    exporterDownFor: '5m',
    clusterExporterAbsentFor: '10m',
    // How long a cluster whose cluster role vanished (its agent stopped sending to a central
    // store) is still expected to have one: ClusterExporterAbsent fires for that long.
    clusterExporterSeenWithin: '1d',
    nodeExporterMissingFor: '15m',
    configReloadFailedFor: '10m',
    tlsExpiringFor: '1h',
    tlsCriticalFor: '10m',
    tlsWarningDays: 14,
    tlsCriticalDays: 3,

    // The severity label each alert class carries (Alertmanager routes on it).
    criticalSeverity: 'critical',
    warningSeverity: 'warning',

    // Where alerts and dashboards link to.
    runbookURL: 'https://github.com/gitpod-io/gitpod-requirements-exporter/blob/main/docs/runbook.md',
    // Prefix of the dashboard_url annotation, e.g. https://grafana.example.com; empty gives a
    // path Grafana resolves relative to itself.
    grafanaURL: '',

    // Grafana: the data source the dashboards preselect ('default' is Grafana's default one),
    // their uids, tags, refresh and time range.
    datasourceName: 'default',
    dashboardUIDs: {
      overview: 'gitpod-requirements-overview',
      node: 'gitpod-requirements-node',
    },
    dashboardTags: ['gitpod', 'gitpod-requirements'],
    dashboardRefresh: '1m',
    dashboardPeriod: 'now-6h',

    // How many nodes an alert's description names before "and N more".
    alertListNodes: 10,
    // Requirements left out of GitpodCriticalRequirementUnmet and GitpodWarningRequirementUnmet
    // because an alert of their own says more (which nodes, what to look at).
    dedicatedAlertRequirements: ['cluster_workspace_daemons', 'cluster_network_paths', 'node_pod_network'],
  },
}
