// What both dashboards share: their variables, the matchers those add to every query, and
// the words each requirement state is shown as.
local g = import '../lib/grafana.libsonnet';
local q = import '../lib/queries.libsonnet';

{
  // The cluster matcher only where the cluster variable exists.
  clusterMatcher(c):: if c.showMultiCluster then '%s="$cluster"' % c.clusterLabel else '',

  // Matchers added to every query: the chosen jobs (and cluster).
  sel(c):: std.join(', ', [m for m in ['job=~"$job"', self.clusterMatcher(c)] if m != '']),

  variables(c, jobScope):: [g.datasourceVariable(c.datasourceName)] +
    (if c.showMultiCluster then [
       g.queryVariable('cluster', 'Cluster', 'label_values(gitpod_requirement_info, %s)' % c.clusterLabel, false),
     ] else []) + [
    g.queryVariable(
      'job', 'Job', 'label_values(%s, job)' % q.selector('gitpod_requirement_info', [jobScope, self.clusterMatcher(c)]), true,
    ),
  ],

  // gitpod:requirement_state's numbers (lib/queries.libsonnet) as words.
  stateWords:: {
    ['%d' % q.states.notConfigured]: ['Not configured', 'text'],
    ['%d' % q.states.met]: ['Met', 'green'],
    ['%d' % q.states.failing]: ['Check failing', 'orange'],
    ['%d' % q.states.unmet]: ['Unmet', 'red'],
  },

  // The runbook section of each requirement row: the id up to ":" (cluster_gitpod_secret:x).
  withSection(expr):: 'label_replace(%s, "section", "$1", "requirement", "([^:]+).*")' % expr,
}
