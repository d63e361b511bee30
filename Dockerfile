# plearn images. Two targets from one file:
#
#   cpu  Node 20 on Debian bookworm slim (tensor backend: WASM, else plain JS)
#   gpu  CUDA 11.2 + cuDNN 8 runtime with @tensorflow/tfjs-node-gpu 4.x, whose
#        libtensorflow 2.9 build is linked against exactly those CUDA/cuDNN majors,
#        plus the Vulkan loader for the webgpu backend (Dawn, a package dependency):
#        `auto` takes tensorflow-gpu where it loads, webgpu next. webgpu is the GPU
#        path CI tests (on a software Vulkan); tfjs-node-gpu is the faster one on
#        paper but cannot be installed or tested where CI runs.
#
#   docker build --target cpu -t plearn:0.1.0-cpu .
#   docker build --target gpu -t plearn:0.1.0-gpu .
#
# Base images are build arguments so they can be pinned by digest or replaced by
# a mirror (CI builds the cpu target on a debootstrapped Debian with Node added:
# deploy/build-base-image.sh). Behind a TLS-intercepting proxy or with a private
# npm registry, pass NODE_EXTRA_CA_CERTS (a path inside the build, e.g. a bind
# mount) and NPM_CONFIG_REGISTRY. The HEALTHCHECK is a Docker-format feature:
# with podman/buildah build with --format docker or it is dropped.

ARG NODE_BASE=docker.io/library/node:20-bookworm-slim
ARG CUDA_BASE=docker.io/nvidia/cuda:11.2.2-cudnn8-runtime-ubuntu20.04

# ---- sources: only what runs (bin, the three code folders), no tests or bench ----
FROM ${NODE_BASE} AS source
WORKDIR /app
COPY package.json package-lock.json ./
COPY bin ./bin
COPY shared ./shared
COPY worker ./worker
COPY coordinator ./coordinator
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs

# ---- production dependencies (tsx is one: the package runs its TypeScript directly) ----
FROM ${NODE_BASE} AS deps
ARG NPM_CONFIG_REGISTRY
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json ./
# The package's install script builds the optional fast-CPU addon from here; without a
# compiler and OpenBLAS in the image it skips with one line and plearn uses the plain backends.
COPY shared/tensor/native ./shared/tensor/native
# Dawn ships prebuilt for five platforms (~130 MB): keep Linux x64's alone.
RUN npm ci --omit=dev --no-audit --no-fund \
 && test -x node_modules/.bin/tsx \
 && find node_modules/webgpu/dist -mindepth 1 -maxdepth 1 ! -name linux-x64 -exec rm -rf {} +

# ---- cpu ----
FROM ${NODE_BASE} AS cpu
# A fixed numeric uid so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --gid 10001 plearn \
 && useradd --uid 10001 --gid plearn --home-dir /home/plearn --create-home --shell /usr/sbin/nologin plearn
COPY --from=source /app /app
COPY --from=deps /app/node_modules /app/node_modules
# Smoke test at build time, then drop the tsx cache it wrote as root: at run time
# the cache belongs in the (writable, per-container) /tmp of the plearn user.
RUN ln -s /app/bin/plearn.js /usr/local/bin/plearn \
 && plearn --version \
 && rm -rf /tmp/tsx-*
ENV NODE_ENV=production
WORKDIR /home/plearn
USER 10001:10001
# 8080: worker /healthz and /readyz; 8081: the coordinator's. The job API itself is on NATS.
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.mjs"]
# Last (with the arguments they use), so a new revision or date only rebuilds
# this metadata.
ARG NODE_BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
LABEL org.opencontainers.image.title="plearn" \
      org.opencontainers.image.description="P-learning world-model extraction: coordinator and worker services, CPU build" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${NODE_BASE}" \
      io.plearn.image.variant="cpu"
ENTRYPOINT ["plearn"]
CMD ["--help"]

# ---- gpu: native TensorFlow with CUDA, installed where the CUDA userland lives ----
FROM ${CUDA_BASE} AS gpu-deps
ARG TFJS_NODE_GPU_VERSION=4.22.0
ARG NPM_CONFIG_REGISTRY
ARG NODE_EXTRA_CA_CERTS
# Compilers only for the case where no prebuilt binding matches and node-gyp must build one.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
COPY --from=deps /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
WORKDIR /app
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules ./node_modules
# Not a package.json dependency: its install step downloads libtensorflow (GPU),
# which only works with network access and only makes sense in this image.
# Its install script is what fetches libtensorflow; should an npm policy have
# skipped it, run it by hand, then prove the binding loads (on the CPU: no driver
# at build time, which TensorFlow tolerates).
RUN npm install --no-save --omit=dev --no-audit --no-fund "@tensorflow/tfjs-node-gpu@${TFJS_NODE_GPU_VERSION}" \
 && cd node_modules/@tensorflow/tfjs-node-gpu \
 && if ! ls deps/lib/libtensorflow.so* >/dev/null 2>&1; then node scripts/install.js gpu download; fi \
 && ls deps/lib/libtensorflow.so* lib/napi-v*/tfjs_binding.node \
 && cd /app \
 && node -e "import('@tensorflow/tfjs-node-gpu').then((tf) => console.log('tfjs-node-gpu', tf.version.tfjs, 'loads, backend', tf.getBackend()))"

FROM ${CUDA_BASE} AS gpu
# libvulkan1: the loader Dawn opens; NVIDIA's Vulkan driver itself is mounted by
# the container runtime when NVIDIA_DRIVER_CAPABILITIES includes graphics.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libvulkan1 \
 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 10001 plearn \
 && useradd --uid 10001 --gid plearn --home-dir /home/plearn --create-home --shell /usr/sbin/nologin plearn
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
COPY --from=source /app /app
COPY --from=gpu-deps /app/node_modules /app/node_modules
RUN ln -s /app/bin/plearn.js /usr/local/bin/plearn \
 && plearn --version \
 && rm -rf /tmp/tsx-*
# TensorFlow grabs all GPU memory per context by default, and each pool thread
# makes its own context: grow on demand instead. The CUDA JIT cache must live on
# the writable /tmp (the root filesystem is read-only under the chart).
ENV NODE_ENV=production \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,graphics \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    CUDA_CACHE_PATH=/tmp/cuda-cache
WORKDIR /home/plearn
USER 10001:10001
EXPOSE 8080 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "/app/deploy/healthcheck.mjs"]
ARG CUDA_BASE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=""
ARG TFJS_NODE_GPU_VERSION=4.22.0
LABEL org.opencontainers.image.title="plearn" \
      org.opencontainers.image.description="P-learning world-model extraction: coordinator and worker services, CUDA build (tfjs-node-gpu)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${CUDA_BASE}" \
      io.plearn.image.variant="gpu" \
      io.plearn.tfjs-node-gpu.version="${TFJS_NODE_GPU_VERSION}"
ENTRYPOINT ["plearn"]
CMD ["--help"]
