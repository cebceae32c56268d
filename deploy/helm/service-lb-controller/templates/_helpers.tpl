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
{{- if include "slc.external" . -}}
{{- $provider := get $config "provider" | default dict -}}
{{- $local := get $provider "local" | default dict -}}
{{- $_ := set $local "dataPath" "external" -}}
{{- $proxyServer := get $local "proxyServer" | default dict -}}
{{- if not (hasKey $proxyServer "metricsAddress") -}}{{- $_ := set $proxyServer "metricsAddress" ":8081" -}}{{- end -}}
{{- if not (hasKey $proxyServer "healthAddress") -}}{{- $_ := set $proxyServer "healthAddress" ":10268" -}}{{- end -}}
{{- $_ := set $local "proxyServer" $proxyServer -}}
{{- $_ := set $provider "local" $local -}}
{{- $_ := set $config "provider" $provider -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "slc.providerName" -}}
{{- ((.Values.config.provider | default dict).name | default "local") -}}
{{- end -}}

{{/*
True (non-empty) when the data path runs as its own container, `service-lb-controller proxy`, beside the
controller (local.dataPath, or config.provider.local.dataPath, external; provider local only).
*/}}
{{- define "slc.external" -}}
{{- $local := (.Values.config.provider | default dict).local | default dict -}}
{{- if and (eq (include "slc.providerName" .) "local") (or (eq (toString .Values.local.dataPath) "external") (eq (toString $local.dataPath) "external")) -}}true{{- end -}}
{{- end -}}

{{/* True (non-empty) when the pod runs in the node's network namespace: local.hostNetwork, or the external data path. */}}
{{- define "slc.hostNetwork" -}}
{{- if and (or .Values.local.hostNetwork (include "slc.external" .)) (eq (include "slc.providerName" .) "local") -}}true{{- end -}}
{{- end -}}

{{/* The port of a "host:port" or ":port" address: .section ("server" or "proxyServer") of the rendered config, .key in it. */}}
{{- define "slc.port" -}}
{{- $config := include "slc.config" .root | fromYaml -}}
{{- $server := dict -}}
{{- if eq (.section | default "server") "proxyServer" -}}
{{- $server = $config.provider.local.proxyServer -}}
{{- else -}}
{{- $server = $config.server | default dict -}}
{{- end -}}
{{- $address := get $server .key | default .default -}}
{{- regexReplaceAll "^.*:" (toString $address) "" -}}
{{- end -}}

{{/* The directory of the proxy's socket (config.provider.local.proxySocket), which both containers mount. */}}
{{- define "slc.socketDir" -}}
{{- $local := (include "slc.config" . | fromYaml).provider.local -}}
{{- dir ($local.proxySocket | default "/run/service-lb-controller/proxy.sock") -}}
{{- end -}}
