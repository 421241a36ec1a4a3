{{/* The TServer / TImage name: lower(app)-lower(server). */}}
{{- define "tars.name" -}}
{{- printf "%s-%s" (lower .Values.app) (lower .Values.server) -}}
{{- end -}}

{{- define "tars.apiVersion" -}}
{{- (.Values.tarsTasks | default dict).apiVersion | default "k8s.tars.io/v1beta3" -}}
{{- end -}}

{{- define "tars.subtype" -}}
{{- .Values.subtype | default "tars" -}}
{{- end -}}

{{/* A boolean that renders true/false, never null: (list dict key default) */}}
{{- define "tars.bool" -}}
{{- $m := index . 0 -}}{{- $k := index . 1 -}}
{{- if hasKey $m $k -}}{{- if index $m $k -}}true{{- else -}}false{{- end -}}{{- else -}}{{- index . 2 -}}{{- end -}}
{{- end -}}

{{- define "tars.labels" -}}
tars.io/ServerApp: {{ .Values.app | quote }}
tars.io/ServerName: {{ .Values.server | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: tars-tasks
{{- end -}}
