{{/* Names and labels, as `helm create` makes them. */}}
{{- define "llmgateway.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "llmgateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "llmgateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llmgateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "llmgateway.labels" -}}
{{ include "llmgateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Whether the gateway gets a Redis or a PostgreSQL URL. */}}
{{- define "llmgateway.redis" -}}
{{- if or .Values.redis.url .Values.redis.existingSecret }}true{{ end -}}
{{- end -}}
{{- define "llmgateway.postgres" -}}
{{- if or .Values.postgres.url .Values.postgres.existingSecret }}true{{ end -}}
{{- end -}}

{{/* Where the ledger volume is mounted: the ledger's spool and SQLite file. */}}
{{- define "llmgateway.ledgerDir" -}}/var/lib/llmgateway{{- end -}}

{{/* The gateway's config.yaml: .Values.config, plus the Redis store when a URL is given, plus the
ledger's URL (PostgreSQL when given, else a SQLite file on the ledger volume) and spool folder
unless `config.ledger` sets them. */}}
{{- define "llmgateway.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- if include "llmgateway.redis" . -}}
{{- $store := dict "backend" "redis" "redis_url" "${LLMGW_REDIS_URL}" "fail_open" .Values.redis.failOpen -}}
{{- $_ := set $config "store" (merge $store (default dict $config.store)) -}}
{{- end -}}
{{- $dir := include "llmgateway.ledgerDir" . -}}
{{- $url := printf "sqlite:///%s/llmgateway.db" $dir -}}
{{- if include "llmgateway.postgres" . -}}
{{- $url = "${LLMGW_POSTGRES_URL}" -}}
{{- end -}}
{{- $ledger := dict "url" $url "spool_dir" (printf "%s/spool" $dir) -}}
{{- $_ := set $config "ledger" (merge (default dict $config.ledger) $ledger) -}}
{{- toYaml $config -}}
{{- end -}}

{{/* Whether the pod migrates the ledger's schema in an init container: a server database (SQLite
migrates at the gateway's start). */}}
{{- define "llmgateway.ledgerSchema" -}}
{{- $ledger := (include "llmgateway.config" . | fromYaml).ledger -}}
{{- if and (ne (toString $ledger.enabled) "false") $ledger.url (not (hasPrefix "sqlite" (toString $ledger.url))) }}true{{ end -}}
{{- end -}}

{{/* preStop sleep + server.drain_s + server.grace_s (the gateway's defaults: 5 and 30) + margin. */}}
{{- define "llmgateway.terminationGracePeriodSeconds" -}}
{{- if .Values.terminationGracePeriodSeconds -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- else -}}
{{- $server := default dict .Values.config.server -}}
{{- $drain := ceil (default 5 $server.drain_s) | int -}}
{{- $grace := ceil (default 30 $server.grace_s) | int -}}
{{- add .Values.preStopSleepSeconds $drain $grace .Values.terminationMarginSeconds -}}
{{- end -}}
{{- end -}}

{{- define "llmgateway.listen" -}}
{{- printf "%s:%v" .host .port -}}
{{- end -}}

{{/* The container's envFrom: the Secrets named in secretEnv, and the chart's own when it makes one. */}}
{{- define "llmgateway.envFrom" -}}
{{- range .Values.secretEnv.existingSecrets }}
- secretRef: {name: {{ . }}}
{{- end }}
{{- if or .Values.secretEnv.values .Values.redis.url .Values.postgres.url }}
- secretRef: {name: {{ include "llmgateway.fullname" . }}-env}
{{- end }}
{{- end -}}

{{/* The container's env: the Redis and PostgreSQL URLs from existing Secrets (unless envFrom already
exports the PostgreSQL one under its name), then .Values.env. */}}
{{- define "llmgateway.env" -}}
{{- if and .Values.redis.existingSecret (not .Values.redis.url) }}
- name: LLMGW_REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.existingSecret }}, key: {{ .Values.redis.existingSecretKey }}}
{{- end }}
{{- $exported := and (has .Values.postgres.existingSecret .Values.secretEnv.existingSecrets) (eq .Values.postgres.existingSecretKey "LLMGW_POSTGRES_URL") }}
{{- if and .Values.postgres.existingSecret (not .Values.postgres.url) (not $exported) }}
- name: LLMGW_POSTGRES_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.postgres.existingSecret }}, key: {{ .Values.postgres.existingSecretKey }}}
{{- end }}
{{- with .Values.env }}
{{ toYaml . }}
{{- end }}
{{- end -}}
