{{/* The release's name, the prefix of every object it makes (36 + "-annotation-sync": a CronJob's name
has 52 characters at most). */}}
{{- define "platform.fullname" -}}
{{- .Release.Name | trunc 36 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of an object of component `component` (call with (dict "root" $ "component" "gateway")). */}}
{{- define "platform.labels" -}}
{{ include "platform.selector" . }}
app.kubernetes.io/part-of: inference-platform
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{- define "platform.selector" -}}
app.kubernetes.io/name: inference-platform
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .model }}
inference-platform/model: {{ . }}
{{- end }}
{{- end -}}

{{/* The Secret every service reads its secrets from: required, never made here. */}}
{{- define "platform.secret" -}}
{{- required "existingSecret is required: a Secret of yours with DATABASE_URL and REDIS_URL" .Values.existingSecret -}}
{{- end -}}

{{/* The shared settings, as the ConfigMap holds them and the setup hook (which runs before it exists)
reads them; an empty one is left out (unset). */}}
{{- define "platform.config" -}}
{{- $config := dict "METRICS_PORT" (toString .Values.metrics.port) -}}
{{- range $name, $value := .Values.config }}{{ if toString $value }}{{ $_ := set $config $name (toString $value) }}{{ end }}{{ end -}}
{{- toYaml $config -}}
{{- end -}}

{{/* A ServiceAccount named `name` with the IRSA role of policy `policy` when aws.roles has one (and the
hook's annotations when `hook` is its weight). */}}
{{- define "platform.serviceAccount" -}}
{{- $annotations := dict -}}
{{- with (get .root.Values.aws.roles .policy) }}{{ $_ := set $annotations "eks.amazonaws.com/role-arn" . }}{{ end -}}
{{- if .hook }}{{ $annotations = merge $annotations (include "platform.hook" . | fromYaml) }}{{ end -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  labels:
    {{- include "platform.labels" . | nindent 4 }}
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}

{{/* Annotations of the setup hook's objects, created in order by weight before the release's own. */}}
{{- define "platform.hook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ .hook | quote }}
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}

{{/* Pod and container security: a numeric non-root user, a read-only root filesystem, no capabilities.
A pod's part comes with the registry credentials every pod pulls its image with. */}}
{{- define "platform.podSecurity" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "platform.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* envFrom of a long-running service: the shared ConfigMap and the Secret. */}}
{{- define "platform.envFrom" -}}
- configMapRef:
    name: {{ include "platform.fullname" . }}-config
- secretRef:
    name: {{ include "platform.secret" . }}
{{- end -}}

{{/* `env` entries from a map of settings. */}}
{{- define "platform.env" -}}
{{- $env := list -}}
{{- range $name, $value := . }}{{ $env = append $env (dict "name" $name "value" (toString $value)) }}{{ end -}}
{{- toYaml $env -}}
{{- end -}}

{{/* Fail unless min <= max (call with (list WHERE MIN MAX)): the API server would refuse it at apply. */}}
{{- define "platform.replicaBounds" -}}
{{- if gt (int (index . 1)) (int (index . 2)) }}
{{- fail (printf "%s: minReplicas (%v) is above maxReplicas (%v)" (index . 0) (index . 1) (index . 2)) }}
{{- end }}
{{- end -}}

{{/* Whether a PodDisruptionBudget of minAvailable MIN lets a node drain with COUNT pods
(call with (list COUNT MIN)): a percentage always, a number only below the count. */}}
{{- define "platform.pdbUseful" -}}
{{- if or (kindIs "string" (index . 1)) (gt (int (index . 0)) (int (index . 1))) }}true{{ end -}}
{{- end -}}

{{/* Restart the pods when the shared settings change. */}}
{{- define "platform.configChecksum" -}}
checksum/config: {{ include "platform.config" . | sha256sum }}
{{- end -}}

{{- define "platform.image" -}}
{{ printf "%s:%s" .repository .tag | quote }}
{{- end -}}

{{/* A model's values: its folder's entry over modelDefaults (call with (dict "root" $ "name" NAME "values" VALUES)). */}}
{{- define "platform.model" -}}
{{- $model := include "platform.merge" (list .root.Values.modelDefaults (.values | default dict)) | fromYaml -}}
{{- if not $model.image.repository }}{{ $_ := set $model.image "repository" (printf "inference-platform/model-%s" .name) }}{{ end -}}
{{- toYaml $model -}}
{{- end -}}

{{/* (list BASE OVER): OVER merged into a copy of BASE, map by map, OVER's values winning, false and 0
included (sprig's mergeOverwrite skips those: a model could not turn a default off). */}}
{{- define "platform.merge" -}}
{{- $base := deepCopy (index . 0) -}}
{{- range $key, $value := index . 1 }}
{{- if and (kindIs "map" $value) (kindIs "map" (get $base $key)) }}
{{- $_ := set $base $key (include "platform.merge" (list (get $base $key) $value) | fromYaml) }}
{{- else }}
{{- $_ := set $base $key $value }}
{{- end }}
{{- end }}
{{- toYaml $base -}}
{{- end -}}

{{/* An SQS queue's URL in the platform's account (call with (dict "root" $ "queue" NAME), the name unprefixed). */}}
{{- define "platform.queueUrl" -}}
{{- $region := .root.Values.config.AWS_REGION -}}
{{- $account := required "aws.accountId is required with KEDA (it reads the queues' depth)" .root.Values.aws.accountId -}}
{{- printf "https://sqs.%s.amazonaws.com/%s/%s%s" $region $account (.root.Values.config.RESOURCE_PREFIX | default "") .queue -}}
{{- end -}}
