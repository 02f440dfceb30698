{{/*
Name of the chart, overridable with nameOverride. Truncated to 63 characters: some fields
(labels, Service names) are limited to a DNS label.
*/}}
{{- define "mutualis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name of the release's objects. A release named after the chart is not repeated
("mutualis", not "mutualis-mutualis").
*/}}
{{- define "mutualis.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "mutualis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels of every object.
*/}}
{{- define "mutualis.labels" -}}
helm.sh/chart: {{ include "mutualis.chart" . }}
{{ include "mutualis.selectorLabels" . }}
app.kubernetes.io/version: {{ include "mutualis.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: operator
app.kubernetes.io/part-of: mutualis
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: immutable once a Deployment exists, so they hold nothing that changes on upgrade.
*/}}
{{- define "mutualis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mutualis.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the operator's ServiceAccount.
*/}}
{{- define "mutualis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mutualis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Image tag: the chart's appVersion unless image.tag is set.
*/}}
{{- define "mutualis.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/*
Full image reference: registry/repository:tag, or @digest when a digest pins it.
*/}}
{{- define "mutualis.image" -}}
{{- $repository := .Values.image.repository }}
{{- if .Values.image.registry }}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repository (include "mutualis.imageTag" .) }}
{{- end }}
{{- end }}

{{/*
Name of the Lease the replicas elect their leader with. Fixed: the operator looks for it by name.
*/}}
{{- define "mutualis.leaseName" -}}
mutualis-leader
{{- end }}

{{/*
Labels of the shared name servers (component dns); selector labels apart, as above.
*/}}
{{- define "mutualis.dnsSelectorLabels" -}}
app.kubernetes.io/name: {{ include "mutualis.name" . }}-dns
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
{{- define "mutualis.dnsLabels" -}}
helm.sh/chart: {{ include "mutualis.chart" . }}
{{ include "mutualis.dnsSelectorLabels" . }}
app.kubernetes.io/version: {{ include "mutualis.imageTag" . | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/component: dns
app.kubernetes.io/part-of: mutualis
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}
