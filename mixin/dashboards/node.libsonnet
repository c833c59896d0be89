local g = import '../lib/grafana.libsonnet';
local q = import '../lib/queries.libsonnet';
local common = import 'common.libsonnet';

function(c)
  local sel = std.join(', ', [c.nodeExporterSelector, common.sel(c), 'node="$node"']);
  local on(metric) = '%s{%s}' % [metric, sel];
  // node="$node" also drops the cluster role's series (they carry no node label).
  local state = q.state(c, 'requirement', common.sel(c) + ', node="$node"');

  local matrix = g.table(
    'Node requirements',
    "The node requirements on this node: Unmet, Check failing (no verdict), Met, or Not configured (skipped; 'Reason' says why, e.g. not_gitpod_node). A requirement's name links to its runbook section.",
    [
      g.instant(common.withSection('max by (requirement, title) (%s)' % on('gitpod_requirement_info')), 'A'),
      g.instant(state, 'B'),
      g.instant('max by (requirement, reason) (%s)' % on('gitpod_requirement_reason_info'), 'C'),
      g.instant('group by (requirement, severity) (%s)' % on('gitpod_requirement_satisfied'), 'D'),
    ],
    { 'Value #B': 'State', reason: 'Reason' },
    hide=['Value #A', 'Value #C', 'Value #D', 'section'],
  ) + {
    fieldConfig+: {
      overrides: [
        g.stateColumn('State', common.stateWords),
        g.linkColumn('requirement', 'Runbook: ${__data.fields.section}', c.runbookURL + '#${__data.fields.section}'),
      ],
    },
  };

  local history = g.stateTimeline(
    'Requirement history',
    'Each node requirement on this node over time: when it started failing, whether it flaps.',
    g.target(state, '{{requirement}}'),
    common.stateWords,
  );

  local kernel = g.info('Kernel', 'The running kernel release; Gitpod needs 5.4 or newer.', on('gitpod_node_kernel_info'), '{{release}}');
  local os = g.info('OS', 'The node\'s OS from /etc/os-release; Gitpod is tested on Ubuntu.', on('gitpod_node_os_info'), '{{id}} {{version_id}}');
  local containerd = g.info('containerd', "containerd's version from its Version API; Gitpod needs 1.5 or newer.", on('gitpod_node_containerd_info'), '{{version}}');
  local cni = g.info('CNI', 'The active CNI network and plugin type; Gitpod is tested with Calico.', on('gitpod_node_cni_info'), '{{type}}');
  local cpus = g.stat('CPUs', 'Online CPUs; below 4 fails node_cpu on a Gitpod node: use a larger machine type.', on('gitpod_node_cpus'), g.thresholds([['red', null], ['green', 4]]));
  local memory = g.stat('Memory', 'MemTotal; below 16 GB fails node_memory on a Gitpod node: use a machine type with more memory.', on('gitpod_node_memory_bytes'), g.thresholds([['red', null], ['green', 16e9]]), unit='bytes');
  local workload = g.stat(
    'Gitpod workload labels',
    'How many gitpod.io/workload_* labels this node carries. None: Gitpod schedules nothing here, so its node requirements are skipped (not_gitpod_node) and its alerts stay quiet.',
    on('gitpod_node_workload_labels'),
    g.thresholds([['text', null], ['green', 1]]),
  ) + { fieldConfig+: { defaults+: { mappings: g.mappings({ '0': ['None', 'text'] }) } } };

  // The workspace data plane: what ws-daemon and registry-facade need of a workspace node.
  local cri = g.info(
    'containerd CRI',
    "The snapshotter and registry config_path containerd's CRI runs with. config_path must include /etc/containerd/certs.d for a customCACert installation (node_registry_facade_trust).",
    on('gitpod_node_containerd_cri_info'),
    '{{snapshotter}}, config_path {{config_path}}',
  );
  local cgroup = g.stat(
    'cgroup version',
    "The node's cgroup version: Gitpod's 2022 releases run on v1 and v2.",
    on('gitpod_node_cgroup_version'),
    g.thresholds([['text', null]]),
  );
  local disk = g.timeseries(
    'Free disk for workspaces and images',
    "Free bytes on the filesystem of ws-daemon's /var/gitpod/workspaces and of containerd's root. The kubelet evicts workspaces below 10 % free (15 % for containerd's image filesystem); Gitpod asks for 20 GiB (node_workspace_disk).",
    [g.target(on('gitpod_node_filesystem_free_bytes'), '{{path}}')],
    'bytes',
  );

  local inodes = g.timeseries(
    'Free inodes for workspaces and images',
    'Free inodes on the same filesystems: the kubelet evicts workspaces below 5 % free (node_workspace_disk). Many small files exhaust them with bytes to spare.',
    [g.target(on('gitpod_node_filesystem_free_inodes'), '{{path}}')],
    'short',
  );

  local durations = g.timeseries(
    'Check duration',
    'How long each node check takes on this node; one close to its timeout will error soon (a slow containerd socket, a loaded node).',
    [g.target(on('gitpod_requirement_check_duration_seconds'), '{{requirement}}')],
    's',
  );
  // process_* metrics carry no node label: pick the exporter instance that reports this node.
  local onNode = 'and on (instance) group by (instance) (%s)' % on('gitpod_requirement_info');
  local process(metric) = q.selector(metric, [c.nodeExporterSelector, common.sel(c)]);
  local footprint = g.timeseries(
    'Exporter memory and CPU',
    "The exporter's own cost on this node. Memory that keeps growing is a leak: report it with the exporter's version.",
    [
      g.target('%s %s' % [process('process_resident_memory_bytes'), onNode], 'RSS'),
      g.target('rate(%s[$__rate_interval]) %s' % [process('process_cpu_seconds_total'), onNode], 'CPU (cores)', 'B'),
    ],
    'bytes',
  ) + {
    fieldConfig+: {
      overrides: [{
        matcher: { id: 'byName', options: 'CPU (cores)' },
        properties: [{ id: 'unit', value: 'none' }, { id: 'custom.axisPlacement', value: 'right' }],
      }],
    },
  };

  g.dashboard(
    c,
    c.dashboardUIDs.node,
    'Gitpod requirements / Node',
    "One node's Gitpod requirements and observed facts, from the exporter's node role.",
    common.variables(c, 'scope="node"') + [
      g.queryVariable(
        'node',
        'Node',
        'label_values(%s, node)' % q.selector('gitpod_requirement_info', ['scope="node"', common.sel(c)]),
        false,
      ),
    ],
    g.layout([
      [[kernel, 4, 4], [os, 4, 4], [containerd, 4, 4], [cni, 4, 4], [cpus, 2, 4], [memory, 3, 4], [workload, 3, 4]],
      [[matrix, 24, 10]],
      [[history, 24, 8]],
      [[cri, 9, 4], [cgroup, 3, 4], [disk, 12, 8]],
      [[inodes, 12, 8]],
      [[durations, 12, 8], [footprint, 12, 8]],
    ]),
  )
