{{/* Labels of every object: the component's name, plus Helm's own unless rendering plain manifests. */}}
{{- define "gantry.labels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/part-of: gantry
{{- if not .root.Values.plainManifests }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end }}
{{- end -}}

{{- define "gantry.image" -}}
{{ printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) | quote }}
{{- end -}}

{{/* The data wait's init container image (unquoted): webhook.dataWait.image, else the chart's own. */}}
{{- define "gantry.dataWaitImage" -}}
{{ default (printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag)) .Values.webhook.dataWait.image }}
{{- end -}}

{{/* The webhook Service's DNS name, the name its serving certificate is for. */}}
{{- define "gantry.webhookHost" -}}
gantry-webhook.{{ .Release.Namespace }}.svc
{{- end -}}
