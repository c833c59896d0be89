// PromQL shared by the rules, the alerts and the dashboards, built from _config (c). `sel` adds
// matchers to every selector (a dashboard's job and cluster variables); `filter` narrows the
// gitpod_requirement_satisfied series only (severity, requirement).
local matchers(parts) = std.join(', ', [p for p in parts if p != '']);

{
  selector(metric, parts):: '%s{%s}' % [metric, matchers(parts)],

  // One metric from both roles.
  both(c, metric, sel='', filter=''):: '(%s or %s)' % [
    $.selector(metric, [c.nodeExporterSelector, sel, filter]),
    $.selector(metric, [c.clusterExporterSelector, sel, filter]),
  ],

  // Series of the node role on nodes Gitpod does not schedule on (no gitpod.io/workload_*
  // label): their node requirements concern nobody. The node role skips those checks itself
  // (reason not_gitpod_node); this keeps older exporters and custom checks quiet too.
  notGitpodNodes(c, sel=''):: '%s == 0' % $.selector('gitpod_node_workload_labels', [c.nodeExporterSelector, sel]),

  onNode(c):: 'on (%s, node)' % c.clusterLabel,

  // A requirement-state series of the node role (condition applied), on Gitpod's nodes only.
  gatedNodes(c, metric, condition, sel='', filter='')::
    '(%s %s unless %s (%s))' % [
      $.selector(metric, [c.nodeExporterSelector, sel, filter]),
      condition,
      $.onNode(c),
      $.notGitpodNodes(c, sel),
    ],

  // The same from both roles.
  gated(c, metric, condition, sel='', filter='')::
    '(%s or %s %s)' % [
      $.gatedNodes(c, metric, condition, sel, filter),
      $.selector(metric, [c.clusterExporterSelector, sel, filter]),
      condition,
    ],

  unmet(c, sel='', filter=''):: $.gated(c, 'gitpod_requirement_satisfied', '== 0', sel, filter),
  checkFailing(c, sel=''):: $.gated(c, 'gitpod_requirement_check_up', '== 0', sel),
  stale(c, sel='')::
    '(time() - %s > 3 * (%s > 0))' % [
      $.both(c, 'gitpod_requirement_last_check_timestamp_seconds', sel),
      $.both(c, 'gitpod_requirement_check_interval_seconds', sel),
    ],

  // One number per requirement (and per node where the node label is kept) that every
  // dashboard maps to words: 0 not configured (skipped), 1 met, 2 check failing, 3 unmet.
  // Aggregated with max, the worst state of any node wins.
  states:: { notConfigured: 0, met: 1, failing: 2, unmet: 3 },
  state(c, by, sel=''):: |||
    max by (%(by)s) (
      (%(satisfied)s == bool 0) * 2 + 1
      or %(up)s + 2
      or %(configured)s == 0
    )
  ||| % {
    by: by,
    satisfied: $.both(c, 'gitpod_requirement_satisfied', sel),
    up: $.checkFailing(c, sel),
    configured: $.both(c, 'gitpod_requirement_configured', sel),
  },
}
