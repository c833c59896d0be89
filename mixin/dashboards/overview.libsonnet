local g = import '../lib/grafana.libsonnet';
local q = import '../lib/queries.libsonnet';
local common = import 'common.libsonnet';

function(c)
  local sel = common.sel(c);
  local both(metric) = q.both(c, metric, sel);
  local cluster(metric) = q.selector(metric, [c.clusterExporterSelector, sel]);
  local unmetRequirements(severity) =
    'count(count by (requirement) (%s)) or vector(0)' % q.unmet(c, sel, 'severity="%s"' % severity);
  local nodeLink = '/d/%s?var-node=${__value.raw}&${datasource:queryparam}&${job:queryparam}%s&${__url_time_range}' % [
    c.dashboardUIDs.node,
    if c.showMultiCluster then '&${cluster:queryparam}' else '',
  ];

  local unmetCritical = g.stat(
    'Unmet critical requirements',
    'Critical requirements not met anywhere in the cluster, each counted once however many nodes fail it. Anything above 0 breaks Gitpod: find it in the matrix below and follow its runbook link.',
    unmetRequirements('critical'),
    g.thresholds([['green', null], ['red', 1]]),
  );
  local unmetWarning = g.stat(
    'Unmet warnings',
    'Recommendations not met (e.g. separate node pools, Ubuntu nodes), counted in requirements. Gitpod runs, but may degrade; plan a fix.',
    unmetRequirements('warning'),
    g.thresholds([['green', null], ['orange', 1]]),
  );
  local erroring = g.stat(
    'Checks erroring',
    "Requirements whose check reached no verdict (timeout, API or credential error) somewhere. They are unknown: see the 'Check errors' table for the reason.",
    'count(count by (requirement) (%s)) or vector(0)' % q.checkFailing(c, sel),
    g.thresholds([['green', null], ['orange', 1]]),
  );
  local stale = g.stat(
    'Stale checks',
    "Requirements whose last result is older than three intervals: the exporter is starved or stuck. Look at its pod's CPU throttling and log.",
    'count(count by (requirement) %s) or vector(0)' % q.stale(c, sel),
    g.thresholds([['green', null], ['orange', 1]]),
  );
  local targetsDown = g.stat(
    'Exporter targets down',
    'Scrape targets of the exporter Prometheus cannot reach. Their requirements are not watched: check the pods of the DaemonSet and the Deployment.',
    'count(%s == 0) or vector(0)' % both('up'),
    g.thresholds([['green', null], ['red', 1]]),
  );
  local tlsDays = g.stat(
    'TLS certificate days left',
    'Days until the certificate the Gitpod proxy serves expires, per name. Below %d warns, below %d pages: renew it (with cert-manager, read the Certificate\'s events).' % [c.tlsWarningDays, c.tlsCriticalDays],
    '(min by (host) (%s) - time()) / 86400' % cluster('gitpod_tls_certificate_expiry_timestamp_seconds'),
    g.thresholds([['red', null], ['orange', c.tlsCriticalDays], ['green', c.tlsWarningDays]]),
    unit='d',
    legend='{{host}}',
  ) + { options+: { textMode: 'value_and_name' } };

  local installation = g.info(
    'Gitpod installation',
    'The installation the exporter guards, as its installer config states it (ConfigMap gitpod, or the file given with --gitpod-config): kind, domain and where it was read. Empty: no config was found; see the cluster_gitpod_config requirement.',
    'max by (kind, domain, source) (%s)' % cluster('gitpod_installation_info'),
    '{{kind}} {{domain}} (from {{source}})',
  );

  local matrix = g.table(
    'Requirement matrix',
    "Every requirement with its severity and state: Unmet, Check failing (no verdict), Met, or Not configured (skipped). 'Failing' counts the nodes (node requirements) or exporters (cluster ones) where it is unmet. A requirement's name links to its runbook section.",
    [
      g.instant(common.withSection('max by (requirement, title, scope) (%s)' % both('gitpod_requirement_info')), 'A'),
      g.instant(q.state(c, 'requirement', sel), 'B'),
      g.instant('count by (requirement) (%s)' % q.unmet(c, sel), 'C'),
      g.instant('group by (requirement, severity) (%s)' % both('gitpod_requirement_satisfied'), 'D'),
    ],
    { 'Value #B': 'State', 'Value #C': 'Failing' },
    hide=['Value #A', 'Value #D', 'section'],
  ) + {
    fieldConfig+: {
      overrides: [
        g.stateColumn('State', common.stateWords),
        g.linkColumn('requirement', 'Runbook: ${__data.fields.section}', c.runbookURL + '#${__data.fields.section}'),
      ],
    },
  };

  local failingNodes = g.table(
    'Failing nodes',
    "Each node that fails a node requirement, with the check's reason. A node's name opens the node dashboard with that node selected.",
    [
      g.instant('max by (requirement, node) (%s)' % q.unmet(c, sel, 'node!=""'), 'A'),
      g.instant(
        'max by (requirement, node, reason) (%s and on (requirement, node) %s)' % [
          q.selector('gitpod_requirement_reason_info', [c.nodeExporterSelector, sel]),
          q.unmet(c, sel, 'node!=""'),
        ],
        'B',
      ),
    ],
    hide=['Value #A', 'Value #B'],
  ) + {
    fieldConfig+: { overrides: [g.linkColumn('node', 'Node ${__value.raw}', nodeLink)] },
  };

  local history = g.stateTimeline(
    'Requirement history',
    'Each requirement over time, its worst state on any node: when it started failing, whether it flaps, when a check stopped reaching verdicts.',
    g.target(q.state(c, 'requirement', sel), '{{requirement}}'),
    common.stateWords,
  );

  local errors = g.table(
    'Check errors',
    'Checks without a verdict and why (reason). timeout: raise the check\'s timeout or fix the slow dependency; auth/forbidden: credentials or RBAC; internal: a bug, report it.',
    [
      g.instant(
        'max by (requirement, node, reason) (%s and on (requirement, instance) (%s == 0))' % [
          both('gitpod_requirement_reason_info'),
          both('gitpod_requirement_check_up'),
        ],
        'A',
      ),
    ],
    hide=['Value'],
  );

  local latency = g.timeseries(
    'Component latency',
    "How long Gitpod's dependencies take to answer the cluster role's probes. A rising line warns before a timeout fails the requirement: look at the component's own metrics.",
    [
      g.target('max(%s)' % cluster('gitpod_database_latency_seconds'), 'database'),
      g.target('max by (operation) (%s)' % cluster('gitpod_storage_latency_seconds'), 'storage {{operation}}', 'B'),
      g.target('max(%s)' % cluster('gitpod_registry_latency_seconds'), 'registry', 'C'),
      g.target('max by (provider) (%s)' % cluster('gitpod_scm_latency_seconds'), 'scm {{provider}}', 'D'),
      g.target('max by (name) (%s)' % cluster('gitpod_dns_resolution_duration_seconds'), 'dns {{name}}', 'E'),
      g.target(
        'max by (service, port) (%s)' % cluster('gitpod_cluster_loadbalancer_connect_duration_seconds'),
        'lb {{service}}:{{port}}',
        'F',
      ),
    ],
    's',
  );
  local workspaceNodes = g.timeseries(
    'Workspace nodes ready for workspaces',
    "Workspace nodes judged by cluster_workspace_daemons (Ready, schedulable, past the grace period) and how many carry each daemon's ready label. ws-manager schedules workspaces only on nodes with both: a gap is capacity lost.",
    [
      g.target('max(%s)' % cluster('gitpod_cluster_workspace_nodes'), 'workspace nodes'),
      g.target('max by (daemon) (%s)' % cluster('gitpod_cluster_workspace_nodes_ready'), '{{daemon}} ready', 'B'),
    ],
    'short',
  );
  local workspaceNodesNotReady = g.table(
    'Workspace nodes without a ready daemon',
    "The first nodes (max_listed per daemon) where ws-daemon's or registry-facade's pod is not Ready. The report and the cluster_workspace_daemons runbook section say why and what to do.",
    [g.instant('max by (daemon, node) (%s)' % cluster('gitpod_cluster_workspace_node_not_ready'), 'A')],
    hide=['Value'],
  );
  local networkPaths = g.timeseries(
    "Gitpod's traffic under NetworkPolicies",
    "Flows Gitpod's components need (to each other and to DNS), judged by cluster_network_paths under the cluster's NetworkPolicies: allowed and blocked.",
    [g.target('max by (result) (%s)' % cluster('gitpod_cluster_network_paths'), '{{result}}')],
    'short',
  );
  local blockedPaths = g.table(
    'Blocked flows',
    'The first flows (max_listed) a NetworkPolicy blocks. The report names the pods judged and the policy refusing each; the cluster_network_paths runbook section says what to add.',
    [g.instant('max by (flow) (%s)' % cluster('gitpod_cluster_network_path_blocked'), 'A')],
    hide=['Value'],
  );
  local node(metric) = q.selector(metric, [c.nodeExporterSelector, sel]);
  local peerProbes = g.timeseries(
    'Pod network: peer probes',
    "node_pod_network's probes of the exporter on other nodes, by result, across the cluster. Anything but success between nodes is traffic the pod network drops: see which nodes in the table beside.",
    [g.target('sum by (result) (rate(%s[5m]))' % node('gitpod_node_peer_probes_total'), '{{result}}')],
    'reqps',
  );
  local peerRtt = g.timeseries(
    'Pod network: round trip (p50, p99)',
    'How long a probe of a peer takes (connect, request, answer), over all nodes. A pod network answers in milliseconds; a rising p99 is queueing, retransmits or an MTU problem.',
    [
      g.target('histogram_quantile(0.5, sum by (le) (rate(%s[5m])))' % node('gitpod_node_peer_rtt_seconds_bucket'), 'p50'),
      g.target('histogram_quantile(0.99, sum by (le) (rate(%s[5m])))' % node('gitpod_node_peer_rtt_seconds_bucket'), 'p99', 'B'),
    ],
    's',
  );
  local unreachablePeers = g.table(
    'Pod network: unreachable peers',
    'Each node (node) and the peers on other nodes it failed to reach twice in a row (peer_node). One peer named by every node is that peer; every node naming others is the network.',
    [g.instant('max by (node, peer_node) (%s)' % node('gitpod_node_peer_unreachable'), 'A')],
    hide=['Value'],
  );
  local durations = g.timeseries(
    'Check duration',
    'How long each check takes. A check near its timeout will soon error: raise the timeout or find why the dependency slowed down.',
    [g.target('max by (requirement) (%s)' % both('gitpod_requirement_check_duration_seconds'), '{{requirement}}')],
    's',
  );
  local age = g.timeseries(
    'Result age',
    "Seconds since each check last finished. It should saw-tooth below the check's interval; a line that keeps rising is a stuck check (see 'Stale checks').",
    [g.target('max by (requirement) (time() - %s)' % both('gitpod_requirement_last_check_timestamp_seconds'), '{{requirement}}')],
    's',
  );

  g.dashboard(
    c,
    c.dashboardUIDs.overview,
    'Gitpod requirements / Overview',
    'Whether the cluster meets Gitpod\'s requirements, from gitpod-requirements-exporter.',
    common.variables(c, ''),
    g.layout([
      [[unmetCritical, 4, 4], [unmetWarning, 4, 4], [erroring, 4, 4], [stale, 4, 4], [targetsDown, 4, 4], [tlsDays, 4, 4]],
      [[installation, 24, 3]],
      [[matrix, 15, 14], [failingNodes, 9, 14]],
      [[history, 24, 10]],
      [[workspaceNodes, 12, 8], [workspaceNodesNotReady, 12, 8]],
      [[networkPaths, 12, 8], [blockedPaths, 12, 8]],
      [[peerProbes, 8, 8], [peerRtt, 8, 8], [unreachablePeers, 8, 8]],
      [[errors, 12, 8], [latency, 12, 8]],
      [[durations, 12, 8], [age, 12, 8]],
    ]),
  )
