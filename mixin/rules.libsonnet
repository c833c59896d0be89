local q = import 'lib/queries.libsonnet';

{
  prometheusRules+:: {
    local c = $._config,
    groups+: [
      {
        name: 'gitpod-requirements.rules',
        rules: [
          {
            // Unmet requirements (not series: a requirement failing on 7 nodes counts once).
            record: 'gitpod:requirements_unmet:count',
            expr: 'count by (%(cl)s, severity) (count by (%(cl)s, requirement, severity) (%(unmet)s))' % {
              cl: c.clusterLabel,
              unmet: q.unmet(c),
            },
          },
          {
            record: 'gitpod:requirement_failing_nodes:count',
            expr: 'count by (%s, requirement) (%s)' % [c.clusterLabel, q.unmet(c, filter='node!=""')],
          },
          {
            record: 'gitpod:tls_certificate_expiry:days',
            expr: '(min by (%s, host) (%s) - time()) / 86400' % [
              c.clusterLabel,
              q.selector('gitpod_tls_certificate_expiry_timestamp_seconds', [c.clusterExporterSelector]),
            ],
          },
        ],
      },
    ],
  },
}
