local q = import 'lib/queries.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local cl = c.clusterLabel,
    local clusterValue = '(index $labels "%s")' % cl,
    local section(fragment) = c.runbookURL + '#' + fragment,
    // The family's section: the part of the requirement id before ":" (cluster_gitpod_secret:x).
    local requirementSection = section('{{ $labels.requirement | reReplaceAll ":.*" "" }}'),
    local dashboard(uid) = c.grafanaURL + '/d/' + uid + (
      if c.showMultiCluster then '?var-cluster={{ %s }}' % clusterValue else ''
    ),
    local overview = dashboard(c.dashboardUIDs.overview),
    local tlsExpiry = q.selector('gitpod_tls_certificate_expiry_timestamp_seconds', [c.clusterExporterSelector]),
    local inCluster = if c.showMultiCluster then ' in cluster {{ %s }}' % clusterValue else '',

    // "Nodes: a, b, c and more." from a query run when the alert fires: a grouped alert names
    // where it fails without one alert per node. `expr` is a Go printf format (its %q filled
    // from `args`) inside a raw string (backticks), so the selectors' quotes need no escaping.
    local nodeList(expr, args, prefix, suffix='', label='node') =
      '{{ with query (printf `%s` %s) | sortByLabel "%s" }}%s' % [expr, args, label, prefix] +
      '{{ range $i, $s := . }}{{ if lt $i %(n)d }}{{ if $i }}, {{ end }}{{ $s.Labels.%(label)s }}{{ end }}{{ end }}' % { n: c.alertListNodes, label: label } +
      '{{ if gt (len .) %(n)d }} and more{{ end }}%(suffix)s{{ end }}' % { n: c.alertListNodes, suffix: suffix },
    // The nodes behind a grouped requirement alert: same requirement, same cluster.
    local requirementNodes(metric, condition, filter='') = nodeList(
      'count by (node) %s' % q.gatedNodes(c, metric, condition, filter=std.join(', ', ['requirement=%q', cl + '=%q'] + (if filter == '' then [] else [filter]))),
      '$labels.requirement ' + clusterValue,
      ' on {{ len . }} node(s): ',
    ),

    // Requirements with an alert of their own, which says more than the generic one can.
    local dedicated = 'requirement!~"%s"' % std.join('|', c.dedicatedAlertRequirements),
    local requirementUnmet(name, severity, labelSeverity, forDuration, summary, consequence) = {
      alert: name,
      expr: 'count by (%s, requirement, severity) (%s)' % [cl, q.unmet(c, filter='severity="%s", %s' % [severity, dedicated])],
      'for': forDuration,
      labels: { severity: labelSeverity },
      annotations: {
        summary: summary,
        description: 'The %s requirement {{ $labels.requirement }} has not been met for %s%s%s. %s The exporter\'s report page and gitpod_requirement_reason_info{requirement="{{ $labels.requirement }}"} say why.' % [
          severity,
          forDuration,
          inCluster,
          requirementNodes('gitpod_requirement_satisfied', '== 0', 'severity="%s"' % severity),
          consequence,
        ],
        runbook_url: requirementSection,
        dashboard_url: overview,
      },
    },

    groups+: [
      {
        name: 'gitpod-requirements.alerts',
        rules: [
          requirementUnmet(
            'GitpodCriticalRequirementUnmet', 'critical', c.criticalSeverity, c.criticalFor,
            'A critical Gitpod requirement is not met.',
            'Gitpod will not work correctly until it is.',
          ),
          requirementUnmet(
            'GitpodWarningRequirementUnmet', 'warning', c.warningSeverity, c.warningFor,
            'A recommended Gitpod requirement is not met.',
            'Gitpod may degrade.',
          ),
          {
            alert: 'GitpodWorkspaceNodesNotReady',
            expr: 'count by (%s, requirement) (%s == 0)' % [cl, q.selector('gitpod_requirement_satisfied', [c.clusterExporterSelector, 'requirement="cluster_workspace_daemons"'])],
            'for': c.criticalFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: 'Workspaces cannot be scheduled on some workspace nodes.',
              description: 'ws-daemon or registry-facade has not been ready on every workspace node for %s%s%s. ws-manager schedules a workspace only on nodes that carry both their ready labels, so workspaces stay Pending or crowd onto the other nodes. The report of {{ $labels.requirement }} says why each pod is not Ready.' % [
                c.criticalFor,
                inCluster,
                nodeList(
                  'max by (node) (%s)' % q.selector('gitpod_cluster_workspace_node_not_ready', [c.clusterExporterSelector, cl + '=%q']),
                  clusterValue,
                  ', among them: ',
                ),
              ],
              runbook_url: section('cluster_workspace_daemons'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodNetworkPathsBlocked',
            expr: 'count by (%s, requirement) (%s == 0)' % [cl, q.selector('gitpod_requirement_satisfied', [c.clusterExporterSelector, 'requirement="cluster_network_paths"'])],
            'for': c.criticalFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: "NetworkPolicies block traffic Gitpod's components need.",
              description: 'NetworkPolicies have blocked flows between Gitpod components, or to DNS, for %s%s%s. Workspaces fail to start or to open, and nothing says it is a policy. The report of {{ $labels.requirement }} names each flow, its pods and the policy refusing it.' % [
                c.criticalFor,
                inCluster,
                nodeList(
                  'max by (flow) (%s)' % q.selector('gitpod_cluster_network_path_blocked', [c.clusterExporterSelector, cl + '=%q']),
                  clusterValue,
                  ': ',
                  label='flow',
                ),
              ],
              runbook_url: section('cluster_network_paths'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodPodNetworkBroken',
            expr: 'count by (%s, requirement) (%s)' % [cl, q.unmet(c, filter='requirement="node_pod_network"')],
            'for': c.criticalFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: 'Nodes cannot reach the pods on other nodes.',
              description: 'The pod network has dropped traffic between nodes for %s%s: {{ $labels.requirement }} fails%s, each unable to reach the exporter on other nodes twice in a row. %s One node that all the others name is that node (its CNI agent, security group or MTU); many nodes naming each other is the network between them (VXLAN UDP 4789, BGP TCP 179). Workspaces on unreachable nodes start, then time out.' % [
                c.criticalFor,
                inCluster,
                requirementNodes('gitpod_requirement_satisfied', '== 0'),
                '{{ with query (printf `sort_desc(count by (peer_node) (%s))` %s) }}The peers they name most: {{ range $i, $s := . }}{{ if lt $i %d }}{{ if $i }}, {{ end }}{{ $s.Labels.peer_node }} (by {{ $s.Value }}){{ end }}{{ end }}.{{ end }}' % [
                  q.selector('gitpod_node_peer_unreachable', [c.nodeExporterSelector, cl + '=%q']),
                  clusterValue,
                  c.alertListNodes,
                ],
              ],
              runbook_url: section('node_pod_network'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodRequirementCheckFailing',
            expr: 'count by (%s, requirement) (%s)' % [cl, q.checkFailing(c)],
            'for': c.checkFailingFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'A Gitpod requirement check reaches no verdict.',
              description: 'The check of {{ $labels.requirement }} has reached no verdict for %s%s%s (timeout, API error or unreadable input), so nobody knows whether the requirement is met.' % [
                c.checkFailingFor,
                inCluster,
                requirementNodes('gitpod_requirement_check_up', '== 0'),
              ],
              runbook_url: section('check-errors'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodRequirementResultsStale',
            // A disabled check runs once and reports interval 0: never stale.
            expr: 'count by (%s, requirement) %s' % [cl, q.stale(c)],
            'for': c.staleFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'Results of a Gitpod requirement check are stale.',
              description: 'The last run of the check of {{ $labels.requirement }} ended more than three intervals ago on {{ $value }} exporter(s)%s: its scheduler is stuck or its thread pool is exhausted by hung clients.' % inCluster,
              runbook_url: section('stale-results'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodRequirementsExporterDown',
            expr: 'count by (%s, job) (%s == 0 or %s == 0)' % [
              cl,
              q.selector('up', [c.nodeExporterSelector]),
              q.selector('up', [c.clusterExporterSelector]),
            ],
            'for': c.exporterDownFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'gitpod-requirements-exporter targets are down.',
              description: 'Prometheus cannot scrape {{ $value }} target(s) of job {{ $labels.job }}%s: their requirements are not watched.' % inCluster,
              runbook_url: section('exporter-down'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodRequirementsClusterExporterAbsent',
            // Per cluster where node roles are scraped, or a cluster role was within
            // clusterExporterSeenWithin, but no cluster role is up: in a central store fed by
            // remote write, a cluster whose agent stopped sending has no `up` at all any more,
            // only its past. The range covers the cluster role's one `up` series per cluster,
            // never the nodes'. absent() covers a Prometheus that scrapes neither.
            expr: '((group by (%(cl)s) (%(node)s) or group by (%(cl)s) (max_over_time(%(cluster)s[%(seen)s]))) unless on (%(cl)s) group by (%(cl)s) (%(cluster)s == 1)) or absent(%(cluster)s == 1)' % {
              cl: cl,
              node: q.selector('up', [c.nodeExporterSelector]),
              cluster: q.selector('up', [c.clusterExporterSelector]),
              seen: c.clusterExporterSeenWithin,
            },
            'for': c.clusterExporterAbsentFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'No gitpod-requirements-exporter cluster role is scraped.',
              description: 'No cluster-role target (%s) has been up for %s%s: the cluster requirements are not watched.' % [
                c.clusterExporterSelector, c.clusterExporterAbsentFor, inCluster,
              ],
              runbook_url: section('exporter-down'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodRequirementsNodeExporterMissing',
            // Needs kube-state-metrics (kube_node_info); without it this stays silent. Virtual
            // nodes (EKS Fargate, virtual-kubelet) run no DaemonSet pods: not missing.
            local missing(sel='') = '(group by (%(cl)s, node) (%(info)s) unless on (%(cl)s, node) %(virtual)s unless on (%(cl)s, node) group by (%(cl)s, node) (%(ours)s))' % {
              cl: cl,
              info: q.selector('kube_node_info', [c.kubeStateMetricsSelector, sel]),
              virtual: q.selector('kube_node_spec_taint', [c.kubeStateMetricsSelector, 'key=~"eks.amazonaws.com/compute-type|virtual-kubelet.io/provider"']),
              ours: q.selector('gitpod_requirement_info', [c.nodeExporterSelector]),
            },
            expr: 'count by (%s) %s' % [cl, missing()],
            'for': c.nodeExporterMissingFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'Nodes run no gitpod-requirements-exporter.',
              description: '{{ $value }} node(s)%s report no node requirements: the DaemonSet pod is missing there (taint not tolerated, admission denied the privileged pod, or it is crash-looping).%s' % [
                inCluster,
                nodeList(missing(cl + '=%q'), clusterValue, ' Nodes: ', '.'),
              ],
              runbook_url: section('exporter-down'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodRequirementsConfigReloadFailed',
            expr: 'count by (%s, job) (%s == 0)' % [cl, q.both(c, 'gitpod_exporter_config_last_reload_successful')],
            'for': c.configReloadFailedFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'gitpod-requirements-exporter could not reload its config.',
              description: '{{ $value }} exporter(s) of job {{ $labels.job }}%s failed to load their changed config for %s and still check with the previous one: the change you made is not in effect. Their log names the field.' % [inCluster, c.configReloadFailedFor],
              runbook_url: section('config-reload-failed'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodTLSCertificateExpiringSoon',
            expr: 'min by (%s, host) (%s) - time() < %d * 86400' % [cl, tlsExpiry, c.tlsWarningDays],
            'for': c.tlsExpiringFor,
            labels: { severity: c.warningSeverity },
            annotations: {
              summary: 'The Gitpod certificate expires within %d days.' % c.tlsWarningDays,
              description: 'The certificate the Gitpod proxy serves for {{ $labels.host }}%s expires in {{ $value | humanizeDuration }}.' % inCluster,
              runbook_url: section('cluster_tls_expiry'),
              dashboard_url: overview,
            },
          },
          {
            alert: 'GitpodTLSCertificateExpiryCritical',
            expr: 'min by (%s, host) (%s) - time() < %d * 86400' % [cl, tlsExpiry, c.tlsCriticalDays],
            'for': c.tlsCriticalFor,
            labels: { severity: c.criticalSeverity },
            annotations: {
              summary: 'The Gitpod certificate expires within %d days.' % c.tlsCriticalDays,
              description: 'The certificate the Gitpod proxy serves for {{ $labels.host }}%s expires in {{ $value | humanizeDuration }}: renew it now, or users lose access when it expires.' % inCluster,
              runbook_url: section('cluster_tls_expiry'),
              dashboard_url: overview,
            },
          },
        ],
      },
    ],
  },
}
