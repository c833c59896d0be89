{{/* Names. The components keep the names of the 0.1 manifests (gitpod-requirements-node,
gitpod-requirements-cluster) when the release is named like the chart: kubectl commands in
the README and the scrape job names stay the same. */}}
{{- define "gre.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gre.prefix" -}}
{{- include "gre.fullname" . | trimSuffix "-exporter" | trunc 50 | trimSuffix "-" -}}
{{- end -}}

{{- define "gre.node.name" -}}{{ include "gre.prefix" . }}-node{{- end -}}
{{- define "gre.cluster.name" -}}{{ include "gre.prefix" . }}-cluster{{- end -}}
{{- define "gre.installation.name" -}}{{ include "gre.prefix" . }}-installation{{- end -}}
{{- define "gre.preflight.name" -}}{{ include "gre.prefix" . }}-preflight{{- end -}}

{{/* The scrape jobs the alert rules select on (the mixin's default _config). */}}
{{- define "gre.node.job" -}}gitpod-requirements-node{{- end -}}
{{- define "gre.cluster.job" -}}gitpod-requirements-cluster{{- end -}}

{{- define "gre.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gitpod-requirements-exporter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selector labels of a component: stable across upgrades (selectors are immutable). */}}
{{- define "gre.selectorLabels" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gre.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}:{{ $tag }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ $tag }}
{{- end -}}
{{- end -}}

{{/* Whether the chart may put a Role into a namespace it does not create: "true", "false",
or "auto": it exists now (helm install and upgrade look it up; helm template sees no cluster
and leaves the Role out). Called with .Values.gitpod or .Values.certManager. */}}
{{- define "gre.namespaceExists" -}}
{{- $exists := .namespaceExists | toString -}}
{{- if eq $exists "auto" -}}
{{- if lookup "v1" "Namespace" "" .namespace -}}true{{- end -}}
{{- else if eq $exists "true" -}}true{{- end -}}
{{- end -}}

{{/* The exporter config: what the chart's own values imply (namespaces, host paths), under
what the user wrote in .Values.config (which wins). */}}
{{- define "gre.config" -}}
{{- $implied := dict
  "kubernetes" (dict "namespace" .Values.gitpod.namespace)
  "checks" (dict
    "node_containerd" (dict "sockets" (list (printf "%s/containerd.sock" .Values.node.hostPaths.containerd)))
    "node_containerd_cri" (dict "sockets" (list (printf "%s/containerd.sock" .Values.node.hostPaths.containerd)))
    "node_cni_calico" (dict "directory" .Values.node.hostPaths.cni)
    "node_workspace_host_paths" (dict
      "visible" (list .Values.node.hostPaths.containerd .Values.node.hostPaths.containerdTasks)
      "config_files" (list (printf "%s/config.toml" .Values.node.hostPaths.containerdConfig))
      "seccomp_dir" .Values.node.hostPaths.kubeletSeccomp
      "microk8s_args" .Values.node.hostPaths.microk8sArgs)
    "node_registry_facade_trust" (dict
      "sockets" (list (printf "%s/containerd.sock" .Values.node.hostPaths.containerd))
      "config_files" (list (printf "%s/config.toml" .Values.node.hostPaths.containerdConfig))
      "certs_dir" .Values.node.hostPaths.registryCerts
      "k3s_registries" .Values.node.hostPaths.k3sRegistries)
    "node_workspace_disk" (dict "containerd_root" .Values.node.hostPaths.containerdTasks)
    "cluster_cert_manager" (dict "namespace" .Values.certManager.namespace)
    "node_pod_network" (dict "service" (include "gre.node.name" .)
                             "scheme" (include "gre.web.scheme" . | lower))
  )
-}}
{{- if not .Values.gitpod.readInstallation }}
{{- $_ := set $implied "gitpod" (dict "source" "none") -}}
{{- end }}
{{- toYaml (mustMergeOverwrite $implied (deepCopy .Values.config)) -}}
{{- end -}}

{{/* Whether /metrics is served with a web config (TLS and/or basic auth). */}}
{{- define "gre.web.enabled" -}}
{{- if or .Values.web.tls.secretName .Values.web.basicAuth.users -}}true{{- end -}}
{{- end -}}

{{- define "gre.web.scheme" -}}
{{- if .Values.web.tls.secretName -}}HTTPS{{- else -}}HTTP{{- end -}}
{{- end -}}

{{/* Volumes and mounts every exporter pod has: the config, and the web config when set. */}}
{{- define "gre.commonVolumes" -}}
- name: config
  configMap:
    name: {{ include "gre.fullname" . }}
{{- if include "gre.web.enabled" . }}
- name: web-config
  secret:
    secretName: {{ include "gre.fullname" . }}-web
{{- end }}
{{- if .Values.web.tls.secretName }}
- name: web-tls
  secret:
    secretName: {{ .Values.web.tls.secretName }}
{{- end }}
{{- end -}}

{{- define "gre.commonMounts" -}}
- name: config
  mountPath: /etc/gitpod-requirements-exporter
  readOnly: true
{{- if include "gre.web.enabled" . }}
- name: web-config
  mountPath: /etc/gitpod-requirements-exporter-web
  readOnly: true
{{- end }}
{{- if .Values.web.tls.secretName }}
- name: web-tls
  mountPath: /etc/gitpod-requirements-exporter-tls
  readOnly: true
{{- end }}
{{- end -}}

{{/* serve's arguments shared by both roles. */}}
{{- define "gre.serveArgs" -}}
- --config=/etc/gitpod-requirements-exporter/config.yaml
- --listen=0.0.0.0:{{ .Values.port }}
- --log-format={{ .Values.logFormat }}
{{- if include "gre.web.enabled" . }}
- --web-config=/etc/gitpod-requirements-exporter-web/web-config.yml
{{- end }}
{{- end -}}

{{- define "gre.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
    scheme: {{ include "gre.web.scheme" . }}
  periodSeconds: 30
  timeoutSeconds: 5
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
    scheme: {{ include "gre.web.scheme" . }}
  periodSeconds: 10
  timeoutSeconds: 5
{{- end -}}

{{/* Pod annotations that roll the pods when what they read changes. */}}
{{- define "gre.checksums" -}}
checksum/config: {{ include "gre.config" . | sha256sum }}
{{- if include "gre.web.enabled" . }}
checksum/web-config: {{ include "gre.webConfig" . | sha256sum }}
{{- end }}
{{- end -}}

{{- define "gre.webConfig" -}}
{{- $web := dict -}}
{{- if .Values.web.tls.secretName -}}
{{- $_ := set $web "tls_server_config" (dict "cert_file" "/etc/gitpod-requirements-exporter-tls/tls.crt" "key_file" "/etc/gitpod-requirements-exporter-tls/tls.key") -}}
{{- end -}}
{{- if .Values.web.basicAuth.users -}}
{{- $_ := set $web "basic_auth_users" .Values.web.basicAuth.users -}}
{{- end -}}
{{- toYaml $web -}}
{{- end -}}

{{/* The scrape endpoint's scheme, TLS and basic auth for the Prometheus Operator's monitors. */}}
{{- /* The cluster label a central store tells clusters apart by, when set here. */ -}}
{{- define "gre.clusterRelabeling" -}}
{{- with .Values.monitoring.clusterLabel }}{{ if .value }}
- targetLabel: {{ .label }}
  replacement: {{ .value | quote }}
{{- end }}{{ end }}
{{- end -}}

{{- define "gre.monitorEndpoint" -}}
path: /metrics
interval: {{ .Values.monitoring.interval }}
scrapeTimeout: {{ .Values.monitoring.scrapeTimeout }}
scheme: {{ include "gre.web.scheme" . | lower }}
{{- with .Values.monitoring.tlsConfig }}
tlsConfig:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.monitoring.basicAuthSecret }}
basicAuth:
  username:
    name: {{ . }}
    key: username
  password:
    name: {{ . }}
    key: password
{{- end }}
{{- end -}}
