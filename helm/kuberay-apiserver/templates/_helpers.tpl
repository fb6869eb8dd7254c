{{/* Labels on every object of a release. */}}
{{- define "kuberay-apiserver.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "kuberay-apiserver.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
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
