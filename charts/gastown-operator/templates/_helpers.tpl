{{/*
Names, labels and the pieces every template shares. The RBAC rules live here too, once each,
so the cluster-wide (ClusterRole) and the namespaced (Role per namespace) installs grant
exactly the same rules; README.md's table says which code needs each one.
*/}}

{{- define "gastown.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gastown.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "gastown.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "gastown.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gastown-operator
{{- end -}}

{{/* Selector labels of one component (worker, watcher, temporal-dev). */}}
{{- define "gastown.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gastown.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gastown.componentLabels" -}}
{{ include "gastown.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "gastown.workerServiceAccount" -}}
{{- default (printf "%s-worker" (include "gastown.fullname" .)) .Values.worker.serviceAccount.name -}}
{{- end -}}

{{- define "gastown.watcherServiceAccount" -}}
{{- default (printf "%s-watcher" (include "gastown.fullname" .)) .Values.watcher.serviceAccount.name -}}
{{- end -}}

{{/*
The install's scope, refused when unsafe by accident: an empty watchNamespaces means
ClusterRoles (pods, ConfigMaps and Secret writes in every namespace, kube-system included), so
it needs clusterWide: true said out loud.
*/}}
{{- define "gastown.validate" -}}
{{- if and (not .Values.watchNamespaces) (not .Values.clusterWide) -}}
{{- fail "watchNamespaces is empty: set watchNamespaces={team-a,...} for a namespaced install (Roles in those namespaces only), or clusterWide=true to grant the worker and the watcher their rules in EVERY namespace (pods, ConfigMaps and Secret writes cluster-wide; chart README: RBAC)" -}}
{{- end -}}
{{- if and .Values.watchNamespaces .Values.clusterWide -}}
{{- fail "clusterWide=true and watchNamespaces are both set: unset one (watchNamespaces: a namespaced install; clusterWide: every namespace)" -}}
{{- end -}}
{{- /* The worker names the polecat ServiceAccount in every pod: it must exist wherever polecats run. */ -}}
{{- if and .Values.polecat.serviceAccount.create .Values.polecatNamespaces -}}
{{- $missing := list -}}
{{- range uniq .Values.watchNamespaces -}}
{{- if not (has . $.Values.polecatNamespaces) -}}
{{- $missing = append $missing . -}}
{{- end -}}
{{- end -}}
{{- if $missing -}}
{{- fail (printf "polecatNamespaces must include every one of watchNamespaces (missing: %s): the worker runs polecats there with the ServiceAccount %s, which the chart creates only in polecatNamespaces; add them, or leave polecatNamespaces empty (default: watchNamespaces)" (join ", " $missing) .Values.polecat.serviceAccount.name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The namespaces the worker serves (--serve-namespace): watchNamespaces; cluster-wide, the
polecatNamespaces when the polecat ServiceAccount is created (only they have the account the
worker names in every pod); else none (every namespace).
*/}}
{{- define "gastown.workerServeNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- toJson (uniq .Values.watchNamespaces) -}}
{{- else if and .Values.polecat.serviceAccount.create .Values.polecatNamespaces -}}
{{- toJson (uniq .Values.polecatNamespaces) -}}
{{- else -}}
[]
{{- end -}}
{{- end -}}

{{/* The namespaces polecats run in: polecatNamespaces, else watchNamespaces. */}}
{{- define "gastown.polecatNamespaces" -}}
{{- $ns := .Values.polecatNamespaces | default .Values.watchNamespaces | default list -}}
{{- toJson (uniq $ns) -}}
{{- end -}}

{{/* Where the worker may write Secrets (the credentials gate and keeper). */}}
{{- define "gastown.secretWriteNamespaces" -}}
{{- $ns := .Values.credentials.secretWrites.namespaces | default .Values.watchNamespaces | default list -}}
{{- toJson (uniq $ns) -}}
{{- end -}}

{{- define "gastown.image" -}}
{{- $tag := .image.tag | default .root.Chart.AppVersion -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
Pod-level security context: restricted Pod Security. Under `openshift: true` no user, group
or fsGroup number is set: the restricted-v2 SCC assigns one from the namespace's range.
*/}}
{{- define "gastown.podSecurityContext" -}}
runAsNonRoot: true
{{- if not .Values.openshift }}
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
{{- end }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gastown.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* The Temporal connection flags both processes take, and the files they read. */}}
{{- define "gastown.temporalArgs" -}}
{{- $t := .Values.temporal -}}
- --temporal-address={{ include "gastown.temporalAddress" . }}
- --temporal-namespace={{ $t.namespace }}
- --task-queue={{ $t.taskQueue }}
{{- if $t.tls.secretName }}
- --temporal-tls-cert=/etc/gastown/temporal-tls/{{ $t.tls.certKey }}
- --temporal-tls-key=/etc/gastown/temporal-tls/{{ $t.tls.keyKey }}
{{- if $t.tls.caKey }}
- --temporal-tls-ca=/etc/gastown/temporal-tls/{{ $t.tls.caKey }}
{{- end }}
{{- end }}
{{- if $t.apiKey.secretName }}
- --temporal-api-key-file=/etc/gastown/temporal-api-key/{{ $t.apiKey.key }}
{{- end }}
{{- if .Values.codec.keySecret }}
- --codec-key-file=/etc/gastown/codec/{{ .Values.codec.keySecretKey }}
{{- end }}
{{- end -}}

{{- define "gastown.temporalAddress" -}}
{{- if .Values.temporal.devServer.enabled -}}
{{- printf "%s-temporal-dev.%s.svc:7233" (include "gastown.fullname" .) .Release.Namespace -}}
{{- else -}}
{{- .Values.temporal.address -}}
{{- end -}}
{{- end -}}

{{- define "gastown.temporalVolumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  mountPath: /etc/gastown/temporal-tls
  readOnly: true
{{- end }}
{{- if .Values.temporal.apiKey.secretName }}
- name: temporal-api-key
  mountPath: /etc/gastown/temporal-api-key
  readOnly: true
{{- end }}
{{- if .Values.codec.keySecret }}
- name: codec-key
  mountPath: /etc/gastown/codec
  readOnly: true
{{- end }}
{{- end -}}

{{- define "gastown.temporalVolumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- if .Values.temporal.tls.secretName }}
- name: temporal-tls
  secret:
    secretName: {{ .Values.temporal.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- if .Values.temporal.apiKey.secretName }}
- name: temporal-api-key
  secret:
    secretName: {{ .Values.temporal.apiKey.secretName }}
    defaultMode: 0440
    items:
      - key: {{ .Values.temporal.apiKey.key }}
        path: {{ .Values.temporal.apiKey.key }}
{{- end }}
{{- if .Values.codec.keySecret }}
- name: codec-key
  secret:
    secretName: {{ .Values.codec.keySecret }}
    defaultMode: 0440
    items:
      - key: {{ .Values.codec.keySecretKey }}
        path: {{ .Values.codec.keySecretKey }}
{{- end }}
{{- end -}}

{{- define "gastown.serviceArgs" -}}
- --health-port={{ .Values.healthPort }}
{{- if .Values.metrics.enabled }}
- --metrics-bind-address=0.0.0.0:{{ .Values.metrics.port }}
{{- end }}
- --log-level={{ .Values.logLevel }}
{{- end -}}

{{- define "gastown.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
startupProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 2
  failureThreshold: 60
{{- end -}}

{{/* ------------------------------------------------------------------ RBAC rules
Each rule names the code that needs it in README.md ("RBAC: each rule and the code that needs
it"). Namespaced rules go into a ClusterRole (cluster-wide install) or a Role in every watched
namespace; rigs are cluster-scoped and always need a ClusterRole. */}}

{{- define "gastown.rules.worker.namespaced" -}}
- apiGroups: ["gastown.gastown.io"]
  resources: ["polecats"]
  verbs: ["get", "create", "patch"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["polecats/status"]
  verbs: ["patch"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["polecats/finalizers"]
  verbs: ["update"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["convoys"]
  verbs: ["get"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["convoys/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{- define "gastown.rules.worker.secretWrites" -}}
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "update", "delete"]
{{- end -}}

{{- define "gastown.rules.worker.cluster" -}}
- apiGroups: ["gastown.gastown.io"]
  resources: ["rigs"]
  verbs: ["get"]
{{- end -}}

{{- define "gastown.rules.watcher.namespaced" -}}
- apiGroups: ["gastown.gastown.io"]
  resources: ["polecats"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["polecats/status"]
  verbs: ["patch"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["convoys"]
  verbs: ["list", "watch", "patch"]
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list", "watch", "delete"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
{{- end -}}

{{- define "gastown.rules.watcher.cluster" -}}
- apiGroups: ["gastown.gastown.io"]
  resources: ["rigs"]
  verbs: ["list", "watch"]
- apiGroups: ["gastown.gastown.io"]
  resources: ["rigs/status"]
  verbs: ["patch"]
{{- end -}}

{{- define "gastown.rules.watcher.lease" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["create"]
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  resourceNames: [{{ .Values.watcher.leaseName | quote }}]
  verbs: ["get", "update"]
{{- end -}}
