{{/* GPU passthrough: the KubeVirt CR's spec with the GPUs of gpu.devices permitted (permittedHostDevices, feature gate
HostDevices), over kubevirt.spec. */}}
{{- define "kmetal.kubevirtSpec" -}}
{{- $spec := deepCopy (.Values.kubevirt.spec | default dict) }}
{{- if .Values.gpu.devices }}
{{- $conf := default dict (get $spec "configuration") }}
{{- $dev := default dict (get $conf "developerConfiguration") }}
{{- $gates := default list (get $dev "featureGates") }}
{{- if not (has "HostDevices" $gates) }}
{{- $gates = append $gates "HostDevices" }}
{{- end }}
{{- $_ := set $dev "featureGates" $gates }}
{{- $_ := set $conf "developerConfiguration" $dev }}
{{- $pci := list }}
{{- range .Values.gpu.devices }}
{{- $pci = append $pci (dict "pciVendorSelector" (upper .selector) "resourceName" .resourceName) }}
{{- end }}
{{- $_ := set $conf "permittedHostDevices" (dict "pciHostDevices" $pci) }}
{{- $_ := set $spec "configuration" $conf }}
{{- end }}
{{- toYaml $spec }}
{{- end }}

{{/* The host devices (GPUs) of a machine size ({cores, memory, disk, gpus: [{resource, count}]}), as a list for
a KubevirtMachineTemplate's domain.devices.hostDevices; each resource must be one gpu.devices permits. Call with
(dict "size" $spec "name" $name "root" $). */}}
{{- define "kmetal.hostDevices" -}}
{{- $permitted := list }}
{{- range .root.Values.gpu.devices }}{{ $permitted = append $permitted .resourceName }}{{ end }}
{{- $out := list }}
{{- range $i, $g := (.size.gpus | default list) }}
{{- if not (has $g.resource $permitted) }}
{{- fail (printf "tenants.machineSizes.%s.gpus[%d].resource %s is not one of gpu.devices' resourceName (%s): KubeVirt would not hand it to a VM" $.name $i $g.resource (join ", " $permitted)) }}
{{- end }}
{{- range $n := until (int (default 1 $g.count)) }}
{{- $out = append $out (dict "name" (printf "gpu%d-%d" $i $n) "deviceName" $g.resource) }}
{{- end }}
{{- end }}
{{- toJson $out }}
{{- end }}
