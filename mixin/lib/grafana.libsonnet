// Small builders for Grafana's dashboard JSON (schema 39, Grafana 10.4 and 11): every panel
// shares the data source reference, the description and the grid arithmetic. Plain objects
// rather than grafonnet, which cannot be vendored offline here and follows Grafana's schema
// with a lag.
local ds = { type: 'prometheus', uid: '${datasource}' };

{
  datasource:: ds,

  target(expr, legend='', ref='A'):: { datasource: ds, expr: expr, refId: ref } +
                                    (if legend != '' then { legendFormat: legend } else {}),
  instant(expr, ref):: self.target(expr, '', ref) + { instant: true, range: false, format: 'table' },

  thresholds(steps):: { mode: 'absolute', steps: [{ color: s[0], value: s[1] } for s in steps] },

  // Value mappings from {value: [text, color]}.
  mappings(meaning):: [{
    type: 'value',
    options: {
      [v]: { text: meaning[v][0], color: meaning[v][1], index: i }
      for i in std.range(0, std.length(std.objectFields(meaning)) - 1)
      for v in [std.objectFields(meaning)[i]]
    },
  }],

  stat(title, description, expr, steps, unit='none', legend=''):: {
    type: 'stat',
    title: title,
    description: description,
    datasource: ds,
    targets: [$.target(expr, legend)],
    fieldConfig: { defaults: { unit: unit, thresholds: steps }, overrides: [] },
    options: {
      colorMode: 'background',
      graphMode: 'none',
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
    },
  },

  // A stat that shows the label text of an info metric (value 1).
  info(title, description, expr, legend):: self.stat(title, description, expr, self.thresholds([['blue', null]]), legend=legend) + {
    options+: { textMode: 'name', colorMode: 'value' },
  },

  timeseries(title, description, targets, unit):: {
    type: 'timeseries',
    title: title,
    description: description,
    datasource: ds,
    targets: targets,
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: { legend: { displayMode: 'table', placement: 'right', showLegend: true } },
  },

  // One row per series, coloured by state over time.
  stateTimeline(title, description, target, meaning):: {
    type: 'state-timeline',
    title: title,
    description: description,
    datasource: ds,
    targets: [target],
    fieldConfig: {
      defaults: {
        color: { mode: 'thresholds' },
        mappings: $.mappings(meaning),
        thresholds: $.thresholds([['text', null]]),
      },
      overrides: [],
    },
    options: {
      showValue: 'never',
      mergeValues: true,
      rowHeight: 0.9,
      legend: { showLegend: false },
    },
  },

  // An instant table: the queries joined on their common labels, `Time` and the `hide` columns
  // hidden, the value columns renamed (Grafana calls them "Value #<refId>").
  table(title, description, targets, rename={}, hide=[]):: {
    type: 'table',
    title: title,
    description: description,
    datasource: ds,
    targets: targets,
    transformations: [
      { id: 'merge', options: {} },
      {
        id: 'organize',
        options: {
          excludeByName: { [c]: true for c in ['Time'] + hide },
          renameByName: rename,
        },
      },
    ],
    fieldConfig: { defaults: {}, overrides: [] },
    options: { showHeader: true, cellHeight: 'sm' },
  },

  // Colour a table column as words, e.g. 1 -> Met (green).
  stateColumn(column, meaning):: {
    matcher: { id: 'byName', options: column },
    properties: [
      { id: 'custom.cellOptions', value: { type: 'color-background' } },
      { id: 'mappings', value: $.mappings(meaning) },
    ],
  },

  linkColumn(column, title, url):: {
    matcher: { id: 'byName', options: column },
    properties: [{ id: 'links', value: [{ title: title, url: url, targetBlank: false }] }],
  },

  // Rows of [panel, width, height] on Grafana's 24-column grid; ids in reading order.
  layout(rows)::
    local placeRow(state, row) =
      local placed = std.foldl(
        function(acc, cell)
          acc {
            x: acc.x + cell[1],
            panels: acc.panels + [cell[0] {
              id: std.length(state.panels) + std.length(acc.panels) + 1,
              gridPos: { x: acc.x, y: state.y, w: cell[1], h: cell[2] },
            }],
          },
        row,
        { x: 0, panels: [] },
      );
      assert placed.x <= 24 : 'row too wide: %d' % placed.x;
      {
        y: state.y + std.foldl(std.max, [cell[2] for cell in row], 0),
        panels: state.panels + placed.panels,
      };
    std.foldl(placeRow, rows, { y: 0, panels: [] }).panels,

  datasourceVariable(current):: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: { selected: false, text: current, value: current },
    hide: 0,
    refresh: 1,
    regex: '',
    options: [],
  },

  queryVariable(name, label, query, includeAll):: {
    name: name,
    label: label,
    type: 'query',
    datasource: ds,
    definition: query,
    query: { query: query, refId: '%s-variable' % name, qryType: 1 },
    current: {},
    hide: 0,
    refresh: 2,
    sort: 1,
    regex: '',
    includeAll: includeAll,
    multi: includeAll,
    options: [],
  },

  dashboard(c, uid, title, description, variables, panels):: {
    uid: uid,
    title: title,
    description: description,
    tags: c.dashboardTags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    time: { from: c.dashboardPeriod, to: 'now' },
    refresh: c.dashboardRefresh,
    timezone: '',
    templating: { list: variables },
    annotations: { list: [] },
    links: [
      { title: 'Runbook', type: 'link', url: c.runbookURL, targetBlank: true },
      { title: 'Gitpod requirements', type: 'dashboards', tags: ['gitpod-requirements'], asDropdown: false },
    ],
    panels: panels,
  },
}
