{{/* The name of every object: the release name, with the chart name appended unless already in it. */}}
{{- define "slc.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "slc.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "slc.labels" -}}
{{ include "slc.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The config file as the controller reads it: .Values.config with the Lease filled in, so that the Role
below and the config always name the same Lease.
*/}}
{{- define "slc.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $election := get $config "leaderElection" | default dict -}}
{{- if not (hasKey $election "namespace") -}}{{- $_ := set $election "namespace" .Release.Namespace -}}{{- end -}}
{{- if not (hasKey $election "leaseName") -}}{{- $_ := set $election "leaseName" (include "slc.fullname" .) -}}{{- end -}}
{{- $_ := set $config "leaderElection" $election -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "slc.providerName" -}}
{{- ((.Values.config.provider | default dict).name | default "local") -}}
{{- end -}}

{{/* True (non-empty) when the pod runs in the node's network namespace with CAP_NET_ADMIN. */}}
{{- define "slc.hostNetwork" -}}
{{- if and .Values.local.hostNetwork (eq (include "slc.providerName" .) "local") -}}true{{- end -}}
{{- end -}}

{{/* The port of a "host:port" or ":port" address in config.server, or the controller's default. */}}
{{- define "slc.port" -}}
{{- $server := .root.Values.config.server | default dict -}}
{{- $address := get $server .key | default .default -}}
{{- regexReplaceAll "^.*:" (toString $address) "" -}}
{{- end -}}
