{{- define "model-service.name" -}}
{{- required "model.name is required (the model folder's name)" .Values.model.name | printf "model-%s" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "model-service.labels" -}}
app.kubernetes.io/name: {{ include "model-service.name" . }}
app.kubernetes.io/part-of: inference-platform
app.kubernetes.io/component: model-worker
inference-platform/model: {{ .Values.model.name }}
{{- end -}}
