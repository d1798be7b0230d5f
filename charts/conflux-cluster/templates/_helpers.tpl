{{- define "conflux-cluster.name" -}}
{{- default .Release.Name .Values.name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
