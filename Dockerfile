# Gantry's image: `gantry` as the entrypoint (k8s scheduler, webhook, device plugin, gantry up).
#   docker build -t gantry:0.1.0 .                      # published: the usual node images
#   scripts/docker/build-gantry-image.sh --local-base   # tests: bases made locally, no registry
# Stages: deps (production node_modules, native addons compiled), build (TypeScript and the
# dashboard's bundle), and the runtime image, which gets only those two results. The
# lockfile-only layers come first so that a source change rebuilds neither node_modules.
ARG BUILD_IMAGE=node:20-bookworm
ARG RUNTIME_IMAGE=node:20-bookworm-slim

FROM ${BUILD_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts skips the package's own `prepare` (tsc); rebuild then runs the dependencies'
# install scripts (better-sqlite3 compiles its addon when no prebuilt binary is reachable).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm rebuild && npm cache clean --force

FROM ${BUILD_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.src.json ./
COPY src ./src
RUN npx tsc -p tsconfig.src.json
# The dashboard's bundle (docs/dashboard.md): type-checked against src/, bundled by esbuild.
COPY web ./web
COPY scripts/build-web.js ./scripts/
RUN node scripts/build-web.js

FROM ${RUNTIME_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY package.json ./
COPY bin ./bin
COPY examples ./examples
COPY src/adapters/k8s/proto ./src/adapters/k8s/proto
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/ui ./dist/ui
# Numeric, so that runAsNonRoot can check it (the chart's Deployments set it).
LABEL org.opencontainers.image.title=gantry
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/gantry.js"]
CMD ["--help"]
