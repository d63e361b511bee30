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

{{/* stringData lines for the credentials given. Call with (dict "keys" .Values.nats.secretKeys "auth" $auth). */}}
{{- define "plearn.natsAuthData" -}}
{{- range $field := list "user" "password" "token" "creds" }}
{{- with index $.auth $field }}
{{ index $.keys $field }}: {{ . | quote }}
{{- end }}
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
Least privilege: a role (coordinator, worker) with credentials of its own in
nats.<role> — an existingSecret, or auth values this chart writes into its own
Secret — gets only those; otherwise the shared nats.auth / nats.existingSecret.
Call with (dict "root" $ "role" "worker").
*/}}
{{- define "plearn.natsRoleOwn" -}}
{{- $r := index .root.Values.nats .role | default dict }}
{{- $a := $r.auth | default dict }}
{{- if or $r.existingSecret $a.user $a.password $a.token $a.creds }}true{{ end }}
{{- end }}

{{/* The Secret a role's credentials come from. Same call as plearn.natsRoleOwn. */}}
{{- define "plearn.natsCredSecretName" -}}
{{- $r := index .root.Values.nats .role | default dict }}
{{- if not (include "plearn.natsRoleOwn" .) }}
{{- include "plearn.natsSecretName" .root }}
{{- else if $r.existingSecret }}
{{- $r.existingSecret }}
{{- else }}
{{- printf "%s-nats-%s" (include "plearn.fullname" .root) .role | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Whether the role's credentials include a .creds file to mount. Same call as plearn.natsRoleOwn. */}}
{{- define "plearn.natsRoleCredsFile" -}}
{{- $r := index .root.Values.nats .role | default dict }}
{{- if include "plearn.natsRoleOwn" . }}
{{- if or $r.credsFile (and (not $r.existingSecret) ($r.auth | default dict).creds) }}true{{ end }}
{{- else }}
{{- include "plearn.natsCredsFile" .root }}
{{- end }}
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
{{- $root := .root }}
{{- $secret := include "plearn.natsSecretName" $root }}
{{- $credSecret := include "plearn.natsCredSecretName" . }}
{{- $keys := $root.Values.nats.secretKeys }}
{{- if and $root.Values.nats.existingSecret $root.Values.nats.url }}
- name: PLEARN_NATS_URL
  value: {{ $root.Values.nats.url | quote }}
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
      name: {{ $credSecret }}
      key: {{ $key }}
      optional: true
{{- end }}
{{- if include "plearn.natsRoleCredsFile" . }}
- name: PLEARN_NATS_CREDS
  value: {{ if include "plearn.natsRoleOwn" . }}/etc/plearn/nats-creds/nats.creds{{ else }}/etc/plearn/nats/nats.creds{{ end }}
{{- end }}
{{- if include "plearn.natsTlsFiles" $root }}
- name: PLEARN_NATS_TLS_CA
  value: /etc/plearn/nats/ca.crt
- name: PLEARN_NATS_TLS_CERT
  value: /etc/plearn/nats/tls.crt
- name: PLEARN_NATS_TLS_KEY
  value: /etc/plearn/nats/tls.key
{{- end }}
- name: PLEARN_NATS_CONNECT_TIMEOUT_MS
  value: {{ $root.Values.nats.connectTimeoutMs | int | quote }}
{{- end }}

{{- define "plearn.volumes" -}}
{{- $root := .root }}
{{- $own := include "plearn.natsRoleOwn" . }}
{{- $credsShared := and (not $own) (include "plearn.natsCredsFile" $root) }}
{{- $tls := include "plearn.natsTlsFiles" $root }}
- name: tmp
  emptyDir:
    sizeLimit: {{ $root.Values.tmpVolume.sizeLimit }}
{{- if or $credsShared $tls }}
- name: nats-files
  secret:
    secretName: {{ include "plearn.natsSecretName" $root }}
    # 0440: readable by the plearn user and group only.
    defaultMode: 288
    optional: true
    items:
    {{- if $credsShared }}
      - key: {{ $root.Values.nats.secretKeys.creds }}
        path: nats.creds
    {{- end }}
    {{- if $tls }}
      - key: {{ $root.Values.nats.secretKeys.ca }}
        path: ca.crt
      - key: {{ $root.Values.nats.secretKeys.cert }}
        path: tls.crt
      - key: {{ $root.Values.nats.secretKeys.key }}
        path: tls.key
    {{- end }}
{{- end }}
{{- if and $own (include "plearn.natsRoleCredsFile" .) }}
- name: nats-creds
  secret:
    secretName: {{ include "plearn.natsCredSecretName" . }}
    defaultMode: 288
    optional: true
    items:
      - key: {{ $root.Values.nats.secretKeys.creds }}
        path: nats.creds
{{- end }}
{{- end }}

{{- define "plearn.volumeMounts" -}}
{{- $own := include "plearn.natsRoleOwn" . }}
- name: tmp
  mountPath: /tmp
{{- if or (and (not $own) (include "plearn.natsCredsFile" .root)) (include "plearn.natsTlsFiles" .root) }}
- name: nats-files
  mountPath: /etc/plearn/nats
  readOnly: true
{{- end }}
{{- if and $own (include "plearn.natsRoleCredsFile" .) }}
- name: nats-creds
  mountPath: /etc/plearn/nats-creds
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
