{{/* Names are cut at 63 characters: the limit of a DNS label, which most names must be. */}}
{{- define "plearn.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "plearn.fullname" -}}
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

{{- define "plearn.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels never change after install (a Deployment's selector is immutable). */}}
{{- define "plearn.selectorLabels" -}}
app.kubernetes.io/name: {{ include "plearn.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "plearn.labels" -}}
helm.sh/chart: {{ include "plearn.chart" . }}
{{ include "plearn.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: plearn
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "plearn.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "plearn.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret that holds the NATS URL and credentials: the user's, or the one this chart writes. */}}
{{- define "plearn.natsSecretName" -}}
{{- if .Values.nats.existingSecret }}
{{- .Values.nats.existingSecret }}
{{- else }}
{{- printf "%s-nats" (include "plearn.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "plearn.natsCredsFile" -}}
{{- if or .Values.nats.credsFile (and (not .Values.nats.existingSecret) .Values.nats.auth.creds) }}true{{ end }}
{{- end }}

{{- define "plearn.natsTlsFiles" -}}
{{- $t := .Values.nats.tls }}
{{- if or .Values.nats.tlsFiles (and (not .Values.nats.existingSecret) (or $t.ca $t.cert $t.key)) }}true{{ end }}
{{- end }}

{{/*
Image reference for one component. Call with (dict "root" $ "image" .Values.x.image).
*/}}
{{- define "plearn.image" -}}
{{- $root := .root }}
{{- $repo := .image.repository | default $root.Values.image.repository }}
{{- $tag := .image.tag | default (printf "%s-%s" ($root.Values.image.tag | default $root.Chart.AppVersion) .image.variant) }}
{{- printf "%s:%s" $repo $tag }}
{{- end }}

{{/*
Environment every plearn container gets: where NATS is, and credentials where
the Secret has them. Credentials come through secretKeyRef with optional: true,
so a Secret without a key simply leaves that variable unset.
*/}}
{{- define "plearn.natsEnv" -}}
{{- $secret := include "plearn.natsSecretName" . }}
{{- $keys := .Values.nats.secretKeys }}
{{- if and .Values.nats.existingSecret .Values.nats.url }}
- name: PLEARN_NATS_URL
  value: {{ .Values.nats.url | quote }}
{{- else }}
- name: PLEARN_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.url }}
{{- end }}
{{- range $var, $key := dict "PLEARN_NATS_USER" $keys.user "PLEARN_NATS_PASSWORD" $keys.password "PLEARN_NATS_TOKEN" $keys.token }}
- name: {{ $var }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- if include "plearn.natsCredsFile" . }}
- name: PLEARN_NATS_CREDS
  value: /etc/plearn/nats/nats.creds
{{- end }}
{{- if include "plearn.natsTlsFiles" . }}
- name: PLEARN_NATS_TLS_CA
  value: /etc/plearn/nats/ca.crt
- name: PLEARN_NATS_TLS_CERT
  value: /etc/plearn/nats/tls.crt
- name: PLEARN_NATS_TLS_KEY
  value: /etc/plearn/nats/tls.key
{{- end }}
- name: PLEARN_NATS_CONNECT_TIMEOUT_MS
  value: {{ .Values.nats.connectTimeoutMs | int | quote }}
{{- end }}

{{- define "plearn.volumes" -}}
- name: tmp
  emptyDir:
    sizeLimit: {{ .Values.tmpVolume.sizeLimit }}
{{- if or (include "plearn.natsCredsFile" .) (include "plearn.natsTlsFiles" .) }}
- name: nats-files
  secret:
    secretName: {{ include "plearn.natsSecretName" . }}
    # 0440: readable by the plearn user and group only.
    defaultMode: 288
    optional: true
    items:
    {{- if include "plearn.natsCredsFile" . }}
      - key: {{ .Values.nats.secretKeys.creds }}
        path: nats.creds
    {{- end }}
    {{- if include "plearn.natsTlsFiles" . }}
      - key: {{ .Values.nats.secretKeys.ca }}
        path: ca.crt
      - key: {{ .Values.nats.secretKeys.cert }}
        path: tls.crt
      - key: {{ .Values.nats.secretKeys.key }}
        path: tls.key
    {{- end }}
{{- end }}
{{- end }}

{{- define "plearn.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if or (include "plearn.natsCredsFile" .) (include "plearn.natsTlsFiles" .) }}
- name: nats-files
  mountPath: /etc/plearn/nats
  readOnly: true
{{- end }}
{{- end }}

{{/*
Pod annotations: the component's own, plus a checksum of the chart-made Secret
so that pods roll when the NATS settings change. Call with (dict "root" $ "extra" map).
*/}}
{{- define "plearn.podAnnotations" -}}
{{- $scrape := dict }}
{{- if and .root.Values.metrics.scrapeAnnotations .port }}
{{- $scrape = dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString .port) "prometheus.io/path" "/metrics" }}
{{- end }}
{{- /* The pool's own podAnnotations win over the scrape annotations. */}}
{{- $ann := merge (deepCopy (.extra | default dict)) $scrape }}
{{- if not .root.Values.nats.existingSecret }}
{{- $_ := set $ann "checksum/nats-secret" (include (print .root.Template.BasePath "/secret.yaml") .root | sha256sum) }}
{{- end }}
{{- with $ann }}
{{- toYaml . }}
{{- end }}
{{- end }}

{{/* Probes on the HTTP health server both services run (worker/health.ts). */}}
{{- define "plearn.probes" -}}
startupProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet:
    path: /healthz
    port: health
  periodSeconds: 10
  timeoutSeconds: 3
  failureThreshold: 3
readinessProbe:
  httpGet:
    path: /readyz
    port: health
  periodSeconds: 5
  timeoutSeconds: 3
  failureThreshold: 2
{{- end }}

{{/* Whether the worker autoscaler is a KEDA ScaledObject (true) or an HPA (empty). */}}
{{- define "plearn.useKeda" -}}
{{- $a := .Values.workers.autoscaling }}
{{- if and $a.enabled (or (eq $a.mode "keda") (and (eq $a.mode "auto") (.Capabilities.APIVersions.Has "keda.sh/v1alpha1"))) }}true{{ end }}
{{- end }}
