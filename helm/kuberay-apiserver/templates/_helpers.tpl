{{/* Labels on every object of a release. */}}
{{- define "kuberay-apiserver.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kuberay-apiserver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels of the chart's test pod: the release's, but not the server's selector, so that the
Service never sends requests to it (it has no readiness probe, so it is ready while it runs). */}}
{{- define "kuberay-apiserver.testLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Values.name }}-test
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: test
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The labels that select the server's pods. */}}
{{- define "kuberay-apiserver.selectorLabels" -}}
app.kubernetes.io/name: {{ .Values.name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the server runs as. */}}
{{- define "kuberay-apiserver.serviceAccountName" -}}
{{- .Values.serviceAccount.name | default .Values.name }}
{{- end }}

{{/* The container port named `http`: where the server listens. */}}
{{- define "kuberay-apiserver.httpPort" -}}
{{- $port := 8888 }}
{{- range .Values.containerPort }}
{{- if eq .name "http" }}{{ $port = .containerPort }}{{ end }}
{{- end }}
{{- $port }}
{{- end }}

{{/* The container port named `rpc`: where the server serves gRPC. */}}
{{- define "kuberay-apiserver.rpcPort" -}}
{{- $port := 8887 }}
{{- range .Values.containerPort }}
{{- if eq .name "rpc" }}{{ $port = .containerPort }}{{ end }}
{{- end }}
{{- $port }}
{{- end }}

{{/* The Service port named `http`: where clients reach the server. */}}
{{- define "kuberay-apiserver.servicePort" -}}
{{- $port := 8888 }}
{{- range .Values.service.ports }}
{{- if eq .name "http" }}{{ $port = .port }}{{ end }}
{{- end }}
{{- $port }}
{{- end }}

{{/* The server's image. */}}
{{- define "kuberay-apiserver.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/* The auth mode (auth.mode), checked: rendering fails on any other than the server's three. */}}
{{- define "kuberay-apiserver.authMode" -}}
{{- $mode := .Values.auth.mode }}
{{- if not (and (kindIs "string" $mode) (has $mode (list "none" "token" "kubernetes"))) }}
{{- fail (printf "auth.mode must be none, token or kubernetes, not %v" $mode) }}
{{- end }}
{{- $mode }}
{{- end }}

{{/* KUBERAY_API_CONSISTENT_READS from consistentReads: true or false as given; `auto` (the
default): on with more than one replica, where a write one pod answered must show in the next
read another answers; anything else fails rendering. */}}
{{- define "kuberay-apiserver.consistentReads" -}}
{{- $value := .Values.consistentReads }}
{{- if kindIs "bool" $value }}{{ $value }}
{{- else if eq (toString $value) "auto" }}{{ gt (int .Values.replicaCount) 1 }}
{{- else }}
{{- fail (printf "consistentReads must be true, false or auto, not %v" $value) }}
{{- end }}
{{- end }}

{{/* auth.token as text: `--set auth.token=12345` gives a number, kept exactly; a number from a
values file may not be (YAML reads it as a float), so anything else but text fails rendering. */}}
{{- define "kuberay-apiserver.authToken" -}}
{{- $token := .Values.auth.token }}
{{- if kindIs "invalid" $token }}
{{- else if kindIs "int64" $token }}{{ $token }}
{{- else if kindIs "string" $token }}{{ $token }}
{{- else }}
{{- fail "auth.token must be text: quote it in a values file, or pass it with --set-string" }}
{{- end }}
{{- end }}

{{/* The Secret holding the `token` mode's token under key `token`: auth.existingSecret, or the
chart's own `<name>-auth` made from auth.token. Rendering fails when there is no token, or two. */}}
{{- define "kuberay-apiserver.authSecret" -}}
{{- $token := include "kuberay-apiserver.authToken" . }}
{{- $existing := .Values.auth.existingSecret | default "" }}
{{- if and $token $existing }}
{{- fail "auth.token and auth.existingSecret are both set: set one of them" }}
{{- else if $existing }}
{{- $existing }}
{{- else if not $token }}
{{- fail (printf "auth.mode=token needs the token: set auth.existingSecret (%s) or auth.token"
          "the name of a Secret holding it under key `token`") }}
{{- else if ne $token (trim $token) }}
{{- fail "auth.token must not begin or end with white space" }}
{{- else }}
{{- printf "%s-auth" .Values.name }}
{{- end }}
{{- end }}
