{{/* Names and labels shared by every template of the chart. */}}

{{- define "conflux-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: "<release>-conflux-operator", or the release name when it already says so. */}}
{{- define "conflux-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "conflux-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "conflux-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "conflux-operator.labels" -}}
{{ include "conflux-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: conflux
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "conflux-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "conflux-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "conflux-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The RBAC rules of the operator: only the verbs it uses (operator/src/kube-client.ts calls and the
informers of operator/src/main.ts). test/charts/charts.test.ts checks them against that list and
that they never exceed operator/examples/rbac.yaml. The Lease rules are separate, in the release
namespace, and only with leader election.
*/}}
{{- define "conflux-operator.rules" -}}
- apiGroups: [conflux.io]
  resources: [confluxclusters]
  verbs: [get, list, watch]
- apiGroups: [conflux.io]
  resources: [confluxclusters/status]
  verbs: [patch]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch]
- apiGroups: [""]
  resources: [services, secrets]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, create, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
# spec.backup: the CronJob; spec.restore: the copy Job (watched, with the backup Jobs, for their outcome).
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, create, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, patch]
# The backup volume and pod 0's volume of a restore.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, create]
{{- end -}}

{{/* create cannot be limited to a name (the object does not exist yet); get and update can. */}}
{{- define "conflux-operator.leaseRules" -}}
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [create]
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  resourceNames: [{{ .Values.leaderElection.leaseName | quote }}]
  verbs: [get, update]
{{- end -}}
