{{/* Multi-site: the tenant control planes' pods spread across zones (each node's site, the topology.kubernetes.io/zone
label) and nodes: Kamaji's control-plane pods (label kamaji.clastix.io/name), counted per Deployment revision
(matchLabelKeys pod-template-hash: each control plane's own pods, and during a blue/green upgrade the new revision's on
their own). The API server refuses a key in both labelSelector and matchLabelKeys. The KamajiControlPlaneTemplate's
deployment. */}}
{{- define "kmetal.controlPlaneDeployment" -}}
{{- $s := .Values.multiSite.controlPlaneSpread }}
{{- if $s.enabled }}
deployment:
  topologySpreadConstraints:
    {{- range $key := list "topology.kubernetes.io/zone" "kubernetes.io/hostname" }}
    - maxSkew: {{ $s.maxSkew }}
      topologyKey: {{ $key }}
      whenUnsatisfiable: {{ if eq $key "topology.kubernetes.io/zone" }}{{ $s.whenUnsatisfiable }}{{ else }}ScheduleAnyway{{ end }}
      labelSelector:
        matchExpressions:
          - {key: kamaji.clastix.io/name, operator: Exists}
      matchLabelKeys: [pod-template-hash]
    {{- end }}
{{- end }}
{{- end }}
