{{/* Labels of every glue object. */}}
{{- define "kmetal.labels" -}}
app.kubernetes.io/part-of: kmetal
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Namespace of the MetalLB pools: metallb.namespace, or the release namespace. */}}
{{- define "kmetal.metallbNamespace" -}}
{{- default .Release.Namespace .Values.metallb.namespace }}
{{- end }}

{{/* Name of the ClusterClass (and the prefix of its templates). */}}
{{- define "kmetal.clusterClass" -}}
{{- .Values.glue.clusterClass.name }}
{{- end }}

{{/* The machine size the default-worker class gets: tenants.defaults.workerSize, which must be a known size. */}}
{{- define "kmetal.defaultSize" -}}
{{- $size := .Values.tenants.defaults.workerSize }}
{{- if not (hasKey .Values.tenants.machineSizes $size) }}
{{- fail (printf "tenants.defaults.workerSize %q is not one of tenants.machineSizes (%s)" $size (keys .Values.tenants.machineSizes | sortAlpha | join ", ")) }}
{{- end }}
{{- $size }}
{{- end }}
